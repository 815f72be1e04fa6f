#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// MaxPool on quantized (uint8 / int8) NCHW tensors: the maximum of the valid window elements. Exact: quantization is
    /// monotonic, so max commutes with it and the tensor keeps its scale and zero point. Padding is ignored (never the max).
    /// </summary>
    internal static class MaxPoolQ
    {
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y, int planes, int h, int w, int oh, int ow, int kh, int kw,
            int strideH, int strideW, int dilationH, int dilationW, int padTop, int padLeft) where T : unmanaged, INumber<T>, IMinMaxValue<T>
        {
            if (x.Length < planes * h * w || y.Length < planes * oh * ow) throw new ArgumentException("MaxPool operand sizes do not match");
            for (int p = 0; p < planes; p++)
            {
                var xp = x.Slice(p * h * w, h * w);
                var yp = y.Slice(p * oh * ow, oh * ow);
                for (int oy = 0; oy < oh; oy++)
                {
                    int y0 = oy * strideH - padTop;
                    for (int ox = 0; ox < ow; ox++)
                    {
                        int x0 = ox * strideW - padLeft;
                        T m = T.MinValue;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = y0 + ky * dilationH;
                            if ((uint)iy >= (uint)h) continue;
                            var row = xp.Slice(iy * w, w);
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = x0 + kx * dilationW;
                                if ((uint)ix < (uint)w && row[ix] > m) m = row[ix];
                            }
                        }
                        yp[oy * ow + ox] = m;
                    }
                }
            }
        }
    }
}
