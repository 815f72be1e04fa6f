#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    // Requires: Simd, PaddedPlane
    /// <summary>
    /// Max and average pooling over NCHW planes. <see cref="MaxPadded"/> and <see cref="AveragePadded"/> are the fast
    /// path: each plane is written into a padded, column-phase-split copy (<see cref="PaddedPlane"/>; −∞ or 0 in the
    /// padding), after which every output row is an elementwise max or sum of KH·KW contiguous runs, vectorized along the
    /// row. Averages divide by the window's count, which is separable: (rows of the window inside the counted area) ·
    /// (columns inside it). <see cref="Max"/> and <see cref="Average"/> are the direct scalar method (no scratch).
    /// </summary>
    internal static partial class Pool2D
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

        /// <summary>
        /// Floats of scratch <see cref="MaxPadded"/> and <see cref="AveragePadded"/> need: the padded plane (tall and wide
        /// enough for the last window, which ceil_mode may push past the explicit padding) plus OW column factors.
        /// </summary>
        public static int ScratchLength(int h, int w, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft)
        {
            var (ph, pws) = PaddedSize(h, w, oh, ow, kh, kw, strideH, strideW, dilH, dilW, padTop, padLeft);
            return ph * strideW * pws + ow;
        }

        private static (int Ph, int Pws) PaddedSize(int h, int w, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft)
        {
            int ph = Math.Max(padTop + h, (oh - 1) * strideH + (kh - 1) * dilH + 1);
            int pw = Math.Max(padLeft + w, (ow - 1) * strideW + (kw - 1) * dilW + 1);
            return (ph, (pw + strideW - 1) / strideW);
        }

        /// <summary>MaxPool through a −∞-padded plane (NaN inputs are not propagated: max follows maxps).</summary>
        public static void MaxPadded(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch, int planes, int h, int w, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft)
        {
            var g = new PoolGeometry { H = h, W = w, OH = oh, OW = ow, KH = kh, KW = kw, StrideH = strideH, StrideW = strideW, DilH = dilH, DilW = dilW, PadTop = padTop, PadLeft = padLeft };
            if (Vector512.IsHardwareAccelerated && ow >= 16) PaddedWith<Simd512, Vector512<float>>(x, y, scratch, planes, g, true, 0, 0, false);
            else if (Vector256.IsHardwareAccelerated && ow >= 8) PaddedWith<Simd256, Vector256<float>>(x, y, scratch, planes, g, true, 0, 0, false);
            else if (Vector128.IsHardwareAccelerated && ow >= 4) PaddedWith<Simd128, Vector128<float>>(x, y, scratch, planes, g, true, 0, 0, false);
            else PaddedWith<Simd1, float>(x, y, scratch, planes, g, true, 0, 0, false);
        }

        /// <summary>AveragePool through a zero-padded plane; the divisor counts the explicit padding when countIncludePad.</summary>
        public static void AveragePadded(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch, int planes, int h, int w, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight, bool countIncludePad)
        {
            var g = new PoolGeometry { H = h, W = w, OH = oh, OW = ow, KH = kh, KW = kw, StrideH = strideH, StrideW = strideW, DilH = 1, DilW = 1, PadTop = padTop, PadLeft = padLeft };
            if (Vector512.IsHardwareAccelerated && ow >= 16) PaddedWith<Simd512, Vector512<float>>(x, y, scratch, planes, g, false, padBottom, padRight, countIncludePad);
            else if (Vector256.IsHardwareAccelerated && ow >= 8) PaddedWith<Simd256, Vector256<float>>(x, y, scratch, planes, g, false, padBottom, padRight, countIncludePad);
            else if (Vector128.IsHardwareAccelerated && ow >= 4) PaddedWith<Simd128, Vector128<float>>(x, y, scratch, planes, g, false, padBottom, padRight, countIncludePad);
            else PaddedWith<Simd1, float>(x, y, scratch, planes, g, false, padBottom, padRight, countIncludePad);
        }

        internal struct PoolGeometry
        {
            public int H, W, OH, OW, KH, KW, StrideH, StrideW, DilH, DilW, PadTop, PadLeft;
        }

        /// <summary>Max (or average) pooling at one vector width (tests call each width directly).</summary>
        internal static void PaddedWith<TS, TV>(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch, int planes, in PoolGeometry g,
            bool max, int padBottom, int padRight, bool countIncludePad)
            where TS : struct, ISimd<TV> where TV : struct
        {
            var (ph, pws) = PaddedSize(g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.StrideH, g.StrideW, g.DilH, g.DilW, g.PadTop, g.PadLeft);
            int s = g.StrideW, rowLen = s * pws, taps = g.KH * g.KW, plane = g.OH * g.OW, inPlane = g.H * g.W;
            if (scratch.Length < ph * rowLen + g.OW || x.Length < planes * inPlane || y.Length < planes * plane)
                throw new ArgumentException("pooling operands are smaller than their shapes");
            Span<float> padded = scratch.Slice(0, ph * rowLen);
            Span<float> colFactor = scratch.Slice(ph * rowLen, g.OW);
            Span<nint> offsets = stackalloc nint[taps];
            for (int ky = 0; ky < g.KH; ky++)
                for (int kx = 0; kx < g.KW; kx++)
                {
                    int t = kx * g.DilW;
                    offsets[ky * g.KW + kx] = (nint)ky * g.DilH * rowLen + (t % s) * pws + t / s;
                }
            if (!max)
                for (int ox = 0; ox < g.OW; ox++)
                    colFactor[ox] = 1f / Count(ox * s - g.PadLeft, g.KW, g.W, g.PadLeft, padRight, countIncludePad);
            ref float t0 = ref MemoryMarshal.GetReference(padded);
            ref float f0 = ref MemoryMarshal.GetReference(colFactor);
            bool narrow = g.OW < TS.Count;
            for (int p = 0; p < planes; p++)
            {
                PaddedPlane.Write(x.Slice(p * inPlane, inPlane), g.H, g.W, g.PadTop, g.PadLeft, ph, s, pws, max ? float.NegativeInfinity : 0f, padded, padsWritten: p > 0);
                ref float y0 = ref MemoryMarshal.GetReference(y.Slice(p * plane, plane));
                for (int oy = 0; oy < g.OH; oy++)
                {
                    ref float rowBase = ref Unsafe.Add(ref t0, (nint)oy * g.StrideH * rowLen);
                    ref float yRow = ref Unsafe.Add(ref y0, (nint)oy * g.OW);
                    float rowFactor = max ? 1f : 1f / Count(oy * g.StrideH - g.PadTop, g.KH, g.H, g.PadTop, padBottom, countIncludePad);
                    if (narrow) Row<Simd1, float>(ref rowBase, offsets, ref yRow, g.OW, max, rowFactor, ref f0);
                    else Row<TS, TV>(ref rowBase, offsets, ref yRow, g.OW, max, rowFactor, ref f0);
                }
            }
        }

        /// <summary>Elements of the window [start, start + k) counted: those inside [0, n), or inside [−padLo, n + padHi) with the padding.</summary>
        private static int Count(int start, int k, int n, int padLo, int padHi, bool includePad)
        {
            int lo = includePad ? -padLo : 0, hi = includePad ? n + padHi : n;
            return Math.Max(1, Math.Min(start + k, hi) - Math.Max(start, lo));
        }

        private static void Row<TS, TV>(ref float rowBase, ReadOnlySpan<nint> off, ref float y, int ow, bool max, float rowFactor, ref float colFactor)
            where TS : struct, ISimd<TV> where TV : struct
        {
            int v = TS.Count, taps = off.Length;
            TV rf = TS.Splat(rowFactor);
            for (int ox = 0; ox < ow;)
            {
                if (ox > ow - v) ox = ow - v;   // the last vector overlaps the previous one
                ref float p = ref Unsafe.Add(ref rowBase, ox);
                TV acc = TS.Load(ref p, off[0]);
                if (max)
                    for (int t = 1; t < taps; t++) acc = TS.Max(acc, TS.Load(ref p, off[t]));
                else
                {
                    for (int t = 1; t < taps; t++) acc = TS.Add(acc, TS.Load(ref p, off[t]));
                    acc = TS.Mul(TS.Mul(acc, rf), TS.Load(ref colFactor, ox));
                }
                TS.Store(acc, ref y, ox);
                ox += v;
            }
        }
    }
}
