#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>Max and average pooling over NCHW planes.</summary>
    internal static class Pool2D
    {
        public static void Max(ReadOnlySpan<float> x, Span<float> y, int planes, int h, int w, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight, bool countIncludePad)
        {
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> xp = x.Slice(p * h * w, h * w);
                Span<float> yp = y.Slice(p * oh * ow, oh * ow);
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        float acc = float.NegativeInfinity;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = oy * strideH + ky * dilH - padTop;
                            if ((uint)iy >= (uint)h) continue;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = ox * strideW + kx * dilW - padLeft;
                                if ((uint)ix >= (uint)w) continue;
                                float v = xp[iy * w + ix];
                                if (v > acc || float.IsNaN(v)) acc = v;
                            }
                        }
                        yp[oy * ow + ox] = acc;
                    }
            }
        }

        public static void Average(ReadOnlySpan<float> x, Span<float> y, int planes, int h, int w, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight, bool countIncludePad)
        {
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> xp = x.Slice(p * h * w, h * w);
                Span<float> yp = y.Slice(p * oh * ow, oh * ow);
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        float acc = 0;
                        int count = 0, padded = 0;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = oy * strideH + ky * dilH - padTop;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = ox * strideW + kx * dilW - padLeft;
                                if ((uint)iy >= (uint)h || (uint)ix >= (uint)w)
                                {
                                    if (iy < h + padBottom && ix < w + padRight) padded++;
                                    continue;
                                }
                                acc += xp[iy * w + ix];
                                count++;
                            }
                        }
                        yp[oy * ow + ox] = acc / (countIncludePad ? count + padded : count);
                    }
            }
        }
    }
}
