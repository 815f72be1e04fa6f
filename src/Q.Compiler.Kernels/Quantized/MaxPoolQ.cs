#nullable enable
using System;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
            if (kh == 2 && kw == 2 && strideH == 2 && strideW == 2 && dilationH == 1 && dilationW == 1 && padTop == 0 && padLeft == 0
                && 2 * oh <= h && 2 * ow <= w && (typeof(T) == typeof(byte) || typeof(T) == typeof(sbyte)))
            {
                Max2x2(x, y, planes, h, w, oh, ow);
                return;
            }
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

        /// <summary>
        /// 2×2, stride 2, every window inside the plane (the common downsampling pool), for byte-sized T: the row pair's
        /// vertical max, then each even byte's max with its odd neighbour (a 16-bit shift), narrowed to the even bytes.
        /// </summary>
        public static void Max2x2<T>(ReadOnlySpan<T> x, Span<T> y, int planes, int h, int w, int oh, int ow) where T : unmanaged, INumber<T>
        {
            for (int p = 0; p < planes; p++)
                for (int oy = 0; oy < oh; oy++)
                {
                    var r0 = x.Slice(p * h * w + 2 * oy * w, w);
                    var r1 = x.Slice(p * h * w + (2 * oy + 1) * w, w);
                    var yr = y.Slice(p * oh * ow + oy * ow, ow);
                    int ox = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ox + Vector256<T>.Count <= ow; ox += Vector256<T>.Count)
                        {
                            int c = 2 * ox, n = Vector256<T>.Count;
                            var v0 = Vector256.Max(Vector256.Create<T>(r0.Slice(c, n)), Vector256.Create<T>(r1.Slice(c, n)));
                            var v1 = Vector256.Max(Vector256.Create<T>(r0.Slice(c + n, n)), Vector256.Create<T>(r1.Slice(c + n, n)));
                            v0 = Vector256.Max(v0, Vector256.ShiftRightLogical(v0.AsUInt16(), 8).As<ushort, T>());
                            v1 = Vector256.Max(v1, Vector256.ShiftRightLogical(v1.AsUInt16(), 8).As<ushort, T>());
                            Vector256.Narrow(v0.AsUInt16(), v1.AsUInt16()).As<byte, T>().CopyTo(yr.Slice(ox));
                        }
                    if (Vector128.IsHardwareAccelerated)
                        for (; ox + Vector128<T>.Count <= ow; ox += Vector128<T>.Count)
                        {
                            int c = 2 * ox, n = Vector128<T>.Count;
                            var v0 = Vector128.Max(Vector128.Create<T>(r0.Slice(c, n)), Vector128.Create<T>(r1.Slice(c, n)));
                            var v1 = Vector128.Max(Vector128.Create<T>(r0.Slice(c + n, n)), Vector128.Create<T>(r1.Slice(c + n, n)));
                            v0 = Vector128.Max(v0, Vector128.ShiftRightLogical(v0.AsUInt16(), 8).As<ushort, T>());
                            v1 = Vector128.Max(v1, Vector128.ShiftRightLogical(v1.AsUInt16(), 8).As<ushort, T>());
                            Vector128.Narrow(v0.AsUInt16(), v1.AsUInt16()).As<byte, T>().CopyTo(yr.Slice(ox));
                        }
                    for (; ox < ow; ox++)
                    {
                        T a = T.Max(r0[2 * ox], r0[2 * ox + 1]), b = T.Max(r1[2 * ox], r1[2 * ox + 1]);
                        yr[ox] = T.Max(a, b);
                    }
                }
        }
    }
}
