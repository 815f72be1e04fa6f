#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    internal static partial class Conv2D
    {
        /// <summary>
        /// Depthwise convolution (group = C = M: one KH×KW filter per channel), any stride, dilation and padding.
        /// <para>
        /// Each channel is first written into <paramref name="scratch"/> as a zero-padded plane of PH = H + padTop + padBottom
        /// rows, each row split into strideW column phases (<see cref="PaddedPlane"/>): phase q holds padded columns q,
        /// q + s, q + 2s, ... in PWs = ceil(PW / s) slots (PW = W + padLeft + padRight). Tap (ky, kx) of output row oy is then the contiguous
        /// run starting at row oy·sh + ky·dh, phase (kx·dw) mod s, slot (kx·dw) div s, so every output row is a sum of
        /// KH·KW shifted rows: y[oy, ox] = act(b + Σ w[ky, kx] · T[row, phase, slot + ox]), vectorized along ox with no
        /// bounds checks (the last vector overlaps the previous one instead of running a scalar tail). 3x3 keeps its
        /// nine weights in registers. Scratch: at least PH · s · PWs floats (<see cref="DepthwiseScratchLength"/>).
        /// </para>
        /// </summary>
        public static void Depthwise(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch,
            int n, int c, int h, int wd, int oh, int ow, int kh, int kw, int strideH, int strideW,
            int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight, int act, float alpha, float beta)
        {
            var d = new DepthwiseGeometry
            {
                H = h, W = wd, OH = oh, OW = ow, KH = kh, KW = kw, StrideH = strideH, StrideW = strideW, DilH = dilH, DilW = dilW,
                PadTop = padTop, PadLeft = padLeft, PadBottom = padBottom, PadRight = padRight,
            };
            // The widest vector that fits an output row (planes shrink to 8x8 and 4x4 late in mobile networks).
            if (Vector512.IsHardwareAccelerated && ow >= 16) DepthwiseWith<Simd512, Vector512<float>>(x, w, b, y, scratch, n, c, d, act, alpha, beta);
            else if (Vector256.IsHardwareAccelerated && ow >= 8) DepthwiseWith<Simd256, Vector256<float>>(x, w, b, y, scratch, n, c, d, act, alpha, beta);
            else if (Vector128.IsHardwareAccelerated && ow >= 4) DepthwiseWith<Simd128, Vector128<float>>(x, w, b, y, scratch, n, c, d, act, alpha, beta);
            else DepthwiseWith<Simd1, float>(x, w, b, y, scratch, n, c, d, act, alpha, beta);
        }

        /// <summary>Floats of scratch <see cref="Depthwise"/> needs.</summary>
        public static int DepthwiseScratchLength(int h, int wd, int strideW, int padTop, int padLeft, int padBottom, int padRight)
        {
            int pw = wd + padLeft + padRight;
            return (h + padTop + padBottom) * strideW * ((pw + strideW - 1) / strideW);
        }

        internal struct DepthwiseGeometry
        {
            public int H, W, OH, OW, KH, KW, StrideH, StrideW, DilH, DilW, PadTop, PadLeft, PadBottom, PadRight;
        }

        /// <summary>The depthwise kernel at one vector width (tests call each width directly).</summary>
        internal static void DepthwiseWith<TS, TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch,
            int n, int c, in DepthwiseGeometry d, int act, float alpha, float beta)
            where TS : struct, ISimd<TV> where TV : struct
        {
            int s = d.StrideW, pw = d.W + d.PadLeft + d.PadRight, pws = (pw + s - 1) / s, rowLen = s * pws;
            int ph = d.H + d.PadTop + d.PadBottom, taps = d.KH * d.KW, plane = d.OH * d.OW, inPlane = d.H * d.W;
            if (scratch.Length < ph * rowLen) throw new ArgumentException($"depthwise scratch of {scratch.Length} floats is smaller than {ph * rowLen}", nameof(scratch));
            if (w.Length < c * taps || b.Length < c || x.Length < n * c * inPlane || y.Length < n * c * plane)
                throw new ArgumentException("depthwise operands are smaller than their shapes");
            // The last window must lie inside the padded plane.
            if ((d.OH - 1) * d.StrideH + (d.KH - 1) * d.DilH >= ph || (d.OW - 1) * s + (d.KW - 1) * d.DilW >= pw)
                throw new ArgumentException("depthwise output is larger than the padded input allows");

            Span<nint> offsets = stackalloc nint[taps];
            for (int ky = 0; ky < d.KH; ky++)
                for (int kx = 0; kx < d.KW; kx++)
                {
                    int t = kx * d.DilW;
                    offsets[ky * d.KW + kx] = (nint)ky * d.DilH * rowLen + (t % s) * pws + t / s;
                }
            bool clamp = act == Activation.Relu || act == Activation.Clip;
            float lo = act == Activation.Clip ? alpha : clamp ? 0f : float.NegativeInfinity;
            float hi = act == Activation.Clip ? beta : float.PositiveInfinity;
            ref float t0 = ref MemoryMarshal.GetReference(scratch);
            nint rowStep = (nint)d.StrideH * rowLen;
            for (int ni = 0; ni < n; ni++)
                for (int ch = 0; ch < c; ch++)
                {
                    PaddedPlane.Write(x.Slice((ni * c + ch) * inPlane, inPlane), d.H, d.W, d.PadTop, d.PadLeft, ph, s, pws, 0f, scratch,
                        padsWritten: ni > 0 || ch > 0);
                    Span<float> yp = y.Slice((ni * c + ch) * plane, plane);
                    ReadOnlySpan<float> wc = w.Slice(ch * taps, taps);
                    ref float y0 = ref MemoryMarshal.GetReference(yp);
                    if (d.OW < TS.Count)
                    {
                        if (taps == 9) Plane3x3<Simd1, float>(ref t0, rowStep, offsets, wc, b[ch], ref y0, d.OH, d.OW, clamp, lo, hi);
                        else PlaneGeneral<Simd1, float>(ref t0, rowStep, offsets, wc, b[ch], ref y0, d.OH, d.OW, clamp, lo, hi);
                    }
                    else if (taps == 9) Plane3x3<TS, TV>(ref t0, rowStep, offsets, wc, b[ch], ref y0, d.OH, d.OW, clamp, lo, hi);
                    else PlaneGeneral<TS, TV>(ref t0, rowStep, offsets, wc, b[ch], ref y0, d.OH, d.OW, clamp, lo, hi);
                    if (!clamp && act != Activation.None) Activation.Apply(yp, act, alpha, beta);
                }
        }

        /// <summary>All output rows of one channel for nine taps (3x3, or any 9-tap window), weights held in registers.</summary>
        private static void Plane3x3<TS, TV>(ref float t0, nint rowStep, ReadOnlySpan<nint> off, ReadOnlySpan<float> w, float bias,
            ref float y, int oh, int ow, bool clamp, float lo, float hi)
            where TS : struct, ISimd<TV> where TV : struct
        {
            int v = TS.Count;
            TV w0 = TS.Splat(w[0]), w1 = TS.Splat(w[1]), w2 = TS.Splat(w[2]), w3 = TS.Splat(w[3]), w4 = TS.Splat(w[4]),
               w5 = TS.Splat(w[5]), w6 = TS.Splat(w[6]), w7 = TS.Splat(w[7]), w8 = TS.Splat(w[8]);
            nint o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5], o6 = off[6], o7 = off[7], o8 = off[8];
            TV vb = TS.Splat(bias), vlo = TS.Splat(lo), vhi = TS.Splat(hi);
            for (int oy = 0; oy < oh; oy++)
            {
                ref float rowBase = ref Unsafe.Add(ref t0, oy * rowStep);
                ref float yRow = ref Unsafe.Add(ref y, (nint)oy * ow);
                for (int ox = 0; ox < ow;)
                {
                    if (ox > ow - v) ox = ow - v;   // the last vector overlaps the previous one
                    ref float p = ref Unsafe.Add(ref rowBase, ox);
                    TV acc = TS.MulAdd(w0, TS.Load(ref p, o0), vb);
                    TV acc2 = TS.Mul(w1, TS.Load(ref p, o1));
                    acc = TS.MulAdd(w2, TS.Load(ref p, o2), acc);
                    acc2 = TS.MulAdd(w3, TS.Load(ref p, o3), acc2);
                    acc = TS.MulAdd(w4, TS.Load(ref p, o4), acc);
                    acc2 = TS.MulAdd(w5, TS.Load(ref p, o5), acc2);
                    acc = TS.MulAdd(w6, TS.Load(ref p, o6), acc);
                    acc2 = TS.MulAdd(w7, TS.Load(ref p, o7), acc2);
                    acc = TS.MulAdd(w8, TS.Load(ref p, o8), acc);
                    acc = TS.Add(acc, acc2);
                    if (clamp) acc = TS.Min(TS.Max(acc, vlo), vhi);
                    TS.Store(acc, ref yRow, ox);
                    ox += v;
                }
            }
        }

        private static void PlaneGeneral<TS, TV>(ref float t0, nint rowStep, ReadOnlySpan<nint> off, ReadOnlySpan<float> w, float bias,
            ref float y, int oh, int ow, bool clamp, float lo, float hi)
            where TS : struct, ISimd<TV> where TV : struct
        {
            int v = TS.Count, taps = w.Length;
            TV vb = TS.Splat(bias), vlo = TS.Splat(lo), vhi = TS.Splat(hi);
            for (int oy = 0; oy < oh; oy++)
            {
                ref float rowBase = ref Unsafe.Add(ref t0, oy * rowStep);
                ref float yRow = ref Unsafe.Add(ref y, (nint)oy * ow);
                for (int ox = 0; ox < ow;)
                {
                    if (ox > ow - v) ox = ow - v;
                    ref float p = ref Unsafe.Add(ref rowBase, ox);
                    TV acc = vb;
                    for (int t = 0; t < taps; t++) acc = TS.MulAdd(TS.Splat(w[t]), TS.Load(ref p, off[t]), acc);
                    if (clamp) acc = TS.Min(TS.Max(acc, vlo), vhi);
                    TS.Store(acc, ref yRow, ox);
                    ox += v;
                }
            }
        }
    }
}
