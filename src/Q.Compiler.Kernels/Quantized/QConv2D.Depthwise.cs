#nullable enable
using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QConv2D
    {
        /// <summary>Implementations of <see cref="Depthwise"/> (tests call each directly).</summary>
        public enum DepthwisePath { Scalar, Vector128, Avx2 }

        public static DepthwisePath DepthwiseBest =>
            Avx2.IsSupported ? DepthwisePath.Avx2 : Vector128.IsHardwareAccelerated ? DepthwisePath.Vector128 : DepthwisePath.Scalar;

        public static bool IsSupported(DepthwisePath p) => p switch
        {
            DepthwisePath.Avx2 => Avx2.IsSupported,
            DepthwisePath.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        /// <summary>
        /// Scratch bytes <see cref="Depthwise"/> needs: one padded, phase-split plane plus 32 bytes of slack, then (from a
        /// 32-byte boundary) the AVX2 pair plane, 4 bytes a padded column, plus 64 bytes of slack.
        /// </summary>
        public static int DepthwiseScratchLength(int h, int wd, int strideW, int padTop, int padLeft, int padBottom, int padRight)
        {
            int plane = (h + padTop + padBottom) * strideW * ((wd + padLeft + padRight + strideW - 1) / strideW);
            return PairPlaneOffset(plane) + 4 * plane + 64;
        }

        /// <summary>Where the pair plane starts: after the padded plane and its slack, rounded up to 32 bytes.</summary>
        private static int PairPlaneOffset(int paddedPlane) => (paddedPlane + 32 + 31) & ~31;

        /// <summary>
        /// Depthwise QLinearConv (group = C = M): y[c] = clamp(zy + round((b'[c] + Σ_t x_t·w'[c, t])·scale[c]), lo, hi) (float32
        /// scale, see Requantize), w' = w − zw[c] in [−255, 255], b' = bias[c] − zx·Σ_t w'[c, t] (the input zero point folded
        /// into the bias at build time, so the taps multiply raw bytes and the padding is zx). <paramref name="w"/> holds the
        /// int8 weights as the model does, KH·KW a channel; <paramref name="wZeroPoints"/> is empty for symmetric weights
        /// (zw = 0) or holds one zero point a channel.
        /// </summary>
        /// <remarks>
        /// The weight pairs the AVX2 paths multiply (vpmaddwd operands: two taps as int16) are formed per channel in
        /// registers. 3x3 with dilation 1 and output rows of 16 or more takes <see cref="Depthwise3x3S1"/> (stride 1: two
        /// output rows from two pair rows) or <see cref="Depthwise3x3S2"/> (stride 2: horizontal tap pairs of int16 rows).
        /// Otherwise each channel is copied into scratch as a plane padded with the zero point (the padding written once per
        /// call) and split into strideW column phases (as the float <c>Conv2D.Depthwise</c>), so tap (ky, kx) of consecutive
        /// outputs is a run of consecutive bytes. AVX2 then widens the plane into a pair plane (padded rows r and r + dilH side
        /// by side as int16, 4 bytes a column): a vertical tap pair of 8 outputs is one 32-byte load, multiplied by the
        /// weight pair and summed into int32 by one vpmaddwd (exact: |x·w'| ≤ 255·255), 6 of them for 3x3. The last vector
        /// of a row overlaps the previous one.
        /// </remarks>
        public static void Depthwise(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> wZeroPoints, ReadOnlySpan<int> bias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch, int n, int c, int h, int wd, int oh, int ow, int kh, int kw,
            int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight,
            int xZeroPoint, int yZeroPoint, int clampMin, int clampMax)
            => RunDepthwise(DepthwiseBest, x, w, wZeroPoints, bias, scale, y, scratch, n, c, h, wd, oh, ow, kh, kw, strideH, strideW,
                dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax);

        public static void RunDepthwise(DepthwisePath path, ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> wZeroPoints,
            ReadOnlySpan<int> bias, ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch, int n, int c, int h, int wd, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight,
            int xZeroPoint, int yZeroPoint, int clampMin, int clampMax)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QConv2D depthwise path " + path);
            int taps = kh * kw, plane = oh * ow, inPlane = h * wd, pairTaps = (kh + 1) / 2 * kw;
            int ph = h + padTop + padBottom, pw = wd + padLeft + padRight, qw = (pw + strideW - 1) / strideW, rowLen = strideW * qw;
            if (scratch.Length < DepthwiseScratchLength(h, wd, strideW, padTop, padLeft, padBottom, padRight) || x.Length < n * c * inPlane
                || y.Length < n * c * plane || w.Length < c * taps || (!wZeroPoints.IsEmpty && wZeroPoints.Length < c)
                || bias.Length < c || scale.Length < c)
                throw new ArgumentException("QConv2D.Depthwise operand or scratch sizes do not match");
            if ((oh - 1) * strideH + (kh - 1) * dilH >= ph || (ow - 1) * strideW + (kw - 1) * dilW >= pw)
                throw new ArgumentException("QConv2D.Depthwise output is larger than the padded input allows");
            int lo = clampMin - yZeroPoint, hi = clampMax - yZeroPoint;
            var weights = new ChannelWeights(w, wZeroPoints, taps);

            // Rows of 5 to 7 outputs: stride 2 only (from rows of 8 or more inputs); stride 1 takes them on the general path.
            bool s2 = strideH == 2 && strideW == 2;
            if (path == DepthwisePath.Avx2 && kh == 3 && kw == 3 && dilH == 1 && dilW == 1
                && (wd >= 8 && ow >= 8 || wd >= 4 * strideW && ow == 4 || s2 && wd >= 8 && ow is > 4 and < 8))
            {
                var g = new Fast3x3 { H = h, W = wd, Oh = oh, Ow = ow, Ph = ph, Pw = pw, PadTop = padTop, PadLeft = padLeft, Planes = n * c, C = c };
                var q = new Requant32(hi, yZeroPoint, clampMin);
                bool clamp = clampMin > 0 || clampMax < 255 || !ProductsFitInt32(bias, scale, c, !wZeroPoints.IsEmpty);
                if (strideH == 1 && strideW == 1)
                {
                    if (clamp) Depthwise3x3S1<ClampAndShift>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    else if (yZeroPoint != 0) Depthwise3x3S1<ShiftOnly>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    else Depthwise3x3S1<PacksOnly>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    return;
                }
                if (strideH == 2 && strideW == 2)
                {
                    if (clamp) Depthwise3x3S2<ClampAndShift>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    else if (yZeroPoint != 0) Depthwise3x3S2<ShiftOnly>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    else Depthwise3x3S2<PacksOnly>(x, weights, bias, scale, y, scratch, g, xZeroPoint, q);
                    return;
                }
            }

            Span<byte> pad = scratch.Slice(0, ph * rowLen + 32);
            // Every channel writes the same interior positions: the padding is filled once.
            pad.Fill((byte)xZeroPoint);
            var geometry = new PaddedPlane.Geometry(h, wd, padTop, padLeft, strideW, qw);

            if (path == DepthwisePath.Avx2 && pairTaps <= MaxPairTaps)
            {
                // Pair rows k·rs: with an even vertical stride only even padded rows start a pair.
                int rs = strideH % 2 == 0 ? 2 : 1;
                var d = new PairGeometry
                {
                    Padded = geometry, Ph = ph, RowLen = rowLen, Rs = rs, DilH = dilH, Oh = oh, Ow = ow, Kh = kh, Kw = kw,
                    Rows = ((oh - 1) * strideH + 2 * ((kh + 1) / 2 - 1) * dilH) / rs + 1,
                    RowStep = (nint)4 * (strideH / rs) * rowLen,
                };
                var tapsN = default(TapsN);
                tapsN.Count = pairTaps;
                for (int j = 0; j < (kh + 1) / 2; j++)
                    for (int kx = 0; kx < kw; kx++)
                        tapsN.O[j * kw + kx] = (nint)4 * (2 * j * dilH / rs * rowLen + kx * dilW % strideW * qw + kx * dilW / strideW);
                if (pairTaps == 6)
                {
                    var taps6 = new Taps6 { O0 = tapsN.O[0], O1 = tapsN.O[1], O2 = tapsN.O[2], O3 = tapsN.O[3], O4 = tapsN.O[4], O5 = tapsN.O[5] };
                    PairChannels(taps6, x, weights, bias, scale, y, scratch, n, c, d, lo, hi, yZeroPoint);
                }
                else PairChannels(tapsN, x, weights, bias, scale, y, scratch, n, c, d, lo, hi, yZeroPoint);
                return;
            }

            Span<int> tapOffset = stackalloc int[taps];
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    tapOffset[ky * kw + kx] = (ky * dilH * strideW + kx * dilW % strideW) * qw + kx * dilW / strideW;
            int rowStep = strideH * rowLen;
            Span<int> acc = stackalloc int[16];
            Span<int> wc = stackalloc int[taps];
            Span<byte> partial = stackalloc byte[16];
            Span<float> s16 = stackalloc float[16];
            Requantize.Path rq = path == DepthwisePath.Scalar ? Requantize.Path.Scalar : Requantize.Best;
            ref byte p0 = ref MemoryMarshal.GetReference(pad);
            for (int i = 0; i < n * c; i++)
            {
                int ch = i % c;
                PaddedPlane.CopyInterior(x.Slice(i * inPlane, inPlane), pad, geometry);
                for (int t = 0; t < taps; t++) wc[t] = weights.At(ch, t);
                int b = bias[ch];
                float sc = scale[ch];
                Span<byte> yc = y.Slice(i * plane, plane);
                if (path == DepthwisePath.Scalar)
                {
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int s = b, at = oy * rowStep + ox;
                            for (int t = 0; t < taps; t++) s += Unsafe.Add(ref p0, at + tapOffset[t]) * wc[t];
                            yc[oy * ow + ox] = (byte)(Requantize.Apply(s, sc, lo, hi) + yZeroPoint);
                        }
                    continue;
                }
                s16.Fill(sc);
                for (int oy = 0; oy < oh; oy++)
                {
                    int ox = 0;
                    while (ox < ow)
                    {
                        // The last vector overlaps the previous one (same values rewritten) when the row has 16 or more.
                        int start = ox + 16 <= ow || ow < 16 ? ox : ow - 16;
                        DepthwiseVector128(ref p0, oy * rowStep + start, tapOffset, wc, b, acc);
                        Requantize.Tile16(rq, acc, s16, partial, yZeroPoint, clampMin, clampMax, signed: false);
                        int count = Math.Min(16, ow);
                        partial.Slice(0, count).CopyTo(yc.Slice(oy * ow + start, count));
                        ox = start + 16;
                    }
                }
            }
        }

        /// <summary>One channel's weight differences w[c, t] − zw[c] (int8 weights, zero points per channel or none).</summary>
        private readonly ref struct ChannelWeights
        {
            private readonly ReadOnlySpan<sbyte> _w;
            private readonly ReadOnlySpan<int> _zw;
            private readonly int _taps;

            public ChannelWeights(ReadOnlySpan<sbyte> w, ReadOnlySpan<int> zw, int taps) { _w = w; _zw = zw; _taps = taps; }

            /// <summary>w[c, t] − zw[c], in [−255, 255].</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public int At(int c, int t) => _w[c * _taps + t] - (_zw.IsEmpty ? 0 : _zw[c]);

            /// <summary>
            /// The nine taps of 3x3 channel <paramref name="c"/> minus its zero point: taps 0–7 as int16 lanes (one 8-byte
            /// load, pmovsxbw, psubw) and tap 8 in <paramref name="a8"/>. The caller has checked the weights' length.
            /// </summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector128<short> Taps3x3(int c, out short a8)
            {
                int z = _zw.IsEmpty ? 0 : _zw[c];
                ref byte p = ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref MemoryMarshal.GetReference(_w), c * 9));
                var lo = Sse41.ConvertToVector128Int16(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref p)).AsSByte());
                a8 = (short)((sbyte)Unsafe.Add(ref p, 8) - z);
                return Sse2.Subtract(lo, Vector128.Create((short)z));
            }

            /// <summary>Int32 lane <paramref name="k"/> of <paramref name="v"/> in all 8 lanes (as a vpmaddwd operand).</summary>
            /// <remarks>Each arm passes pshufd a constant control (callers pass constant lanes, so the switch folds away).</remarks>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<short> Lane(Vector128<byte> v, [ConstantExpected(Max = 3)] byte k) => k switch
            {
                0 => Avx2.BroadcastScalarToVector256(v.AsInt32()).AsInt16(),
                1 => Avx2.BroadcastScalarToVector256(Sse2.Shuffle(v.AsInt32(), 0x55)).AsInt16(),
                2 => Avx2.BroadcastScalarToVector256(Sse2.Shuffle(v.AsInt32(), 0xAA)).AsInt16(),
                _ => Avx2.BroadcastScalarToVector256(Sse2.Shuffle(v.AsInt32(), 0xFF)).AsInt16(),
            };

            /// <summary>The vpmaddwd operand of two taps: <paramref name="low"/> times the low int16, <paramref name="high"/> the high.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<short> Pair(int low, int high) => Vector256.Create((int)(ushort)low | high << 16).AsInt16();
        }

        private struct PairGeometry
        {
            public PaddedPlane.Geometry Padded;
            public int Ph, RowLen, Rs, DilH, Oh, Ow, Kh, Kw, Rows;
            public nint RowStep;
        }

        /// <summary>The AVX2 path: per channel the padded plane, its pair plane, then the output rows.</summary>
        private static void PairChannels<T>(T taps, ReadOnlySpan<byte> x, in ChannelWeights w, ReadOnlySpan<int> bias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch, int n, int c, in PairGeometry d, int lo, int hi, int yZeroPoint)
            where T : struct, IPairTaps
        {
            int inPlane = d.Padded.H * d.Padded.W, plane = d.Oh * d.Ow, planes = n * c;
            Span<byte> pad = scratch.Slice(0, d.Ph * d.RowLen + 32);
            ref byte u0 = ref MemoryMarshal.GetReference(pad);
            ref byte v0 = ref scratch[PairPlaneOffset(d.Ph * d.RowLen)];
            var vlo = Vector256.Create((float)lo);
            var vhi = Vector256.Create((float)hi);
            var vz = Vector256.Create(yZeroPoint);
            Span<int> pairs = stackalloc int[MaxPairTaps];
            for (int i = 0; i < planes; i++)
            {
                int ch = i % c;
                PaddedPlane.CopyInterior(x.Slice(i * inPlane, inPlane), pad, d.Padded);
                BuildPairPlane(ref u0, d.Ph, d.RowLen, d.Rs, d.DilH, d.Rows, ref v0);
                // Pair j < KH / 2 · KW: rows 2·(j / KW) and the next at column j % KW; then the odd last row paired with 0.
                for (int j = 0, ky = 0; ky < d.Kh; ky += 2)
                    for (int kx = 0; kx < d.Kw; kx++, j++)
                        pairs[j] = (ushort)w.At(ch, ky * d.Kw + kx) | (ky + 1 < d.Kh ? w.At(ch, (ky + 1) * d.Kw + kx) << 16 : 0);
                taps.Load(pairs, bias[ch]);
                PairPlaneRows(taps, ref v0, ref MemoryMarshal.GetReference(y.Slice(i * plane, plane)), d.Oh, d.Ow, d.RowStep,
                    Vector256.Create(scale[ch]), vlo, vhi, vz);
            }
        }

        /// <summary>Most pair taps the AVX2 path takes (a 7x7 kernel has 28); larger kernels run the Vector128 path.</summary>
        private const int MaxPairTaps = 32;

        /// <summary>
        /// Builds rows 0 .. <paramref name="rows"/> − 1 of the pair plane: pair row k holds, for every column of padded rows
        /// k·rs and k·rs + dilH, the two bytes widened to int16 side by side (4 bytes a column), so one 32-byte load is the
        /// vpmaddwd operand of 8 outputs for two vertically adjacent taps. A second row past the plane repeats the first (it
        /// only meets weight 0).
        /// </summary>
        private static void BuildPairPlane(ref byte u, int ph, int rowLen, int rs, int dilH, int rows, ref byte v)
        {
            int k = 0;
            if (rs == 1)
            {
                // Pair row k starts at padded row k: the rows whose partner lies inside the plane are one run of columns.
                k = Math.Max(0, Math.Min(rows, ph - dilH));
                int end = k * rowLen, partner = dilH * rowLen;
                for (int col = 0; col < end; col += 16)
                {
                    var x0 = Vector128.LoadUnsafe(ref u, (nuint)col);
                    var x1 = Vector128.LoadUnsafe(ref u, (nuint)(col + partner));
                    Avx2.ConvertToVector256Int16(Sse2.UnpackLow(x0, x1)).AsByte().StoreUnsafe(ref v, (nuint)(4 * col));
                    Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(x0, x1)).AsByte().StoreUnsafe(ref v, (nuint)(4 * col + 32));
                }
            }
            for (; k < rows; k++)
            {
                int ra = k * rs, rb = ra + dilH < ph ? ra + dilH : ra;
                ref byte a = ref Unsafe.Add(ref u, ra * rowLen);
                ref byte b = ref Unsafe.Add(ref u, rb * rowLen);
                ref byte d = ref Unsafe.Add(ref v, 4 * k * rowLen);
                // 16 columns at a time; the last block runs past the row (into the next pair row, written after, or the slack).
                for (int col = 0; col < rowLen; col += 16)
                {
                    var x0 = Vector128.LoadUnsafe(ref a, (nuint)col);
                    var x1 = Vector128.LoadUnsafe(ref b, (nuint)col);
                    Avx2.ConvertToVector256Int16(Sse2.UnpackLow(x0, x1)).AsByte().StoreUnsafe(ref d, (nuint)(4 * col));
                    Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(x0, x1)).AsByte().StoreUnsafe(ref d, (nuint)(4 * col + 32));
                }
            }
        }

        /// <summary>The int32 sums of 8 consecutive outputs (bias included) from the pair plane at <c>at</c>.</summary>
        private interface IPairTaps
        {
            /// <summary>Takes one channel's weights (<paramref name="fullPairs"/> int16 pairs, then single taps) and bias.</summary>
            void Load(ReadOnlySpan<int> pairs, int bias);
            Vector256<int> Sum(ref byte at);
            /// <summary>Outputs 0–3 from <paramref name="a"/>, 4–7 from <paramref name="b"/> (two output rows of 4).</summary>
            Vector256<int> Sum2(ref byte a, ref byte b);
        }

        /// <summary>3x3 (and any 6 pair taps): weights and offsets held in registers.</summary>
        private struct Taps6 : IPairTaps
        {
            public Vector256<short> W0, W1, W2, W3, W4, W5;
            public nint O0, O1, O2, O3, O4, O5;
            public Vector256<int> Bias;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public void Load(ReadOnlySpan<int> pairs, int bias)
            {
                W0 = Vector256.Create(pairs[0]).AsInt16(); W1 = Vector256.Create(pairs[1]).AsInt16();
                W2 = Vector256.Create(pairs[2]).AsInt16(); W3 = Vector256.Create(pairs[3]).AsInt16();
                W4 = Vector256.Create(pairs[4]).AsInt16(); W5 = Vector256.Create(pairs[5]).AsInt16();
                Bias = Vector256.Create(bias);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly Vector256<int> Sum(ref byte at)
            {
                var s0 = Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(W0, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O0)).AsInt16()));
                var s1 = Avx2.MultiplyAddAdjacent(W1, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O1)).AsInt16());
                s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(W2, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O2)).AsInt16()));
                s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(W3, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O3)).AsInt16()));
                s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(W4, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O4)).AsInt16()));
                s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(W5, Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O5)).AsInt16()));
                return Avx2.Add(s0, s1);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly Vector256<int> Sum2(ref byte a, ref byte b)
            {
                var s0 = Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(W0, Load2(ref a, ref b, O0)));
                var s1 = Avx2.MultiplyAddAdjacent(W1, Load2(ref a, ref b, O1));
                s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(W2, Load2(ref a, ref b, O2)));
                s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(W3, Load2(ref a, ref b, O3)));
                s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(W4, Load2(ref a, ref b, O4)));
                s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(W5, Load2(ref a, ref b, O5)));
                return Avx2.Add(s0, s1);
            }
        }

        [InlineArray(MaxPairTaps)]
        private struct PairWeights { private int _e0; }

        [InlineArray(MaxPairTaps)]
        private struct PairOffsets { private nint _e0; }

        /// <summary>Any other kernel: a loop over up to <see cref="MaxPairTaps"/> pair taps (weight pairs broadcast from memory).</summary>
        private struct TapsN : IPairTaps
        {
            public PairWeights W;
            public PairOffsets O;
            public int Count;
            public Vector256<int> Bias;

            public void Load(ReadOnlySpan<int> pairs, int bias)
            {
                for (int i = 0; i < Count; i++) W[i] = pairs[i];
                Bias = Vector256.Create(bias);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly Vector256<int> Sum(ref byte at)
            {
                var s = Bias;
                for (int i = 0; i < Count; i++)
                    s = Avx2.Add(s, Avx2.MultiplyAddAdjacent(Vector256.Create(W[i]).AsInt16(), Vector256.LoadUnsafe(ref Unsafe.Add(ref at, O[i])).AsInt16()));
                return s;
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly Vector256<int> Sum2(ref byte a, ref byte b)
            {
                var s = Bias;
                for (int i = 0; i < Count; i++)
                    s = Avx2.Add(s, Avx2.MultiplyAddAdjacent(Vector256.Create(W[i]).AsInt16(), Load2(ref a, ref b, O[i])));
                return s;
            }
        }

        /// <summary>4 pair columns at <paramref name="a"/> + <paramref name="o"/>, then 4 at <paramref name="b"/> + <paramref name="o"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<short> Load2(ref byte a, ref byte b, nint o) =>
            Vector256.Create(Vector128.LoadUnsafe(ref Unsafe.Add(ref a, o)), Vector128.LoadUnsafe(ref Unsafe.Add(ref b, o))).AsInt16();

        /// <summary>
        /// One channel's output plane from its pair plane: 16 outputs per requantization (two vectors of 8 sums); rows of
        /// 16 or more by 16 along the row (the last block overlapping the previous one), rows of 8 two at a time, rows of 4
        /// four at a time (each vector two rows), other short rows one at a time.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairPlaneRows<T>(T taps, ref byte v, ref byte y, int oh, int ow, nint rowStep,
            Vector256<float> scale, Vector256<float> lo, Vector256<float> hi, Vector256<int> zy) where T : struct, IPairTaps
        {
            int oy = 0;
            if (ow >= 16)
            {
                for (; oy < oh; oy++)
                {
                    ref byte row = ref Unsafe.Add(ref v, oy * rowStep);
                    ref byte yRow = ref Unsafe.Add(ref y, oy * ow);
                    for (int ox = 0; ; ox += 16)
                    {
                        if (ox > ow - 16) ox = ow - 16;   // the last block overlaps the previous one
                        var a0 = taps.Sum(ref Unsafe.Add(ref row, 4 * ox));
                        var a1 = taps.Sum(ref Unsafe.Add(ref row, 4 * ox + 32));
                        Requantize.Avx2Row16(a0, a1, scale, scale, lo, hi, zy, signed: false).StoreUnsafe(ref yRow, (nuint)ox);
                        if (ox == ow - 16) break;
                    }
                }
                return;
            }
            if (ow == 8)
                for (; oy + 2 <= oh; oy += 2)
                {
                    var a0 = taps.Sum(ref Unsafe.Add(ref v, oy * rowStep));
                    var a1 = taps.Sum(ref Unsafe.Add(ref v, (oy + 1) * rowStep));
                    Requantize.Avx2Row16(a0, a1, scale, scale, lo, hi, zy, signed: false).StoreUnsafe(ref y, (nuint)(oy * 8));
                }
            else if (ow == 4)
                for (; oy + 4 <= oh; oy += 4)
                {
                    ref byte r0 = ref Unsafe.Add(ref v, oy * rowStep);
                    var a0 = taps.Sum2(ref r0, ref Unsafe.Add(ref r0, rowStep));
                    var a1 = taps.Sum2(ref Unsafe.Add(ref r0, 2 * rowStep), ref Unsafe.Add(ref r0, 3 * rowStep));
                    Requantize.Avx2Row16(a0, a1, scale, scale, lo, hi, zy, signed: false).StoreUnsafe(ref y, (nuint)(oy * 4));
                }
            for (; oy < oh; oy++)
            {
                // One row of fewer than 16: 8 sums at 0 and 8 at ow − 8 (the same ones when ow ≤ 8; lanes past ow are dropped).
                ref byte row = ref Unsafe.Add(ref v, oy * rowStep);
                int second = ow > 8 ? ow - 8 : 0;
                var packed = Requantize.Avx2Row16(taps.Sum(ref row), taps.Sum(ref Unsafe.Add(ref row, 4 * second)), scale, scale, lo, hi, zy, signed: false).AsUInt64();
                ref byte yRow = ref Unsafe.Add(ref y, oy * ow);
                if (ow >= 8)
                {
                    Unsafe.WriteUnaligned(ref yRow, packed.GetElement(0));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref yRow, second), packed.GetElement(1));
                }
                else
                {
                    ulong bytes = packed.GetElement(0);
                    for (int i = 0; i < ow; i++, bytes >>= 8) Unsafe.Add(ref yRow, i) = (byte)bytes;
                }
            }
        }

        /// <summary>Copies <paramref name="count"/> bytes: 16, 8, 4 at a time, then single bytes (short rows cost no memmove call).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        /// <summary>16 accumulators, portable: bytes widened to int32 lanes, multiplied by the broadcast weight.</summary>
        private static void DepthwiseVector128(ref byte pad, int at, ReadOnlySpan<int> tapOffset, ReadOnlySpan<int> w, int bias, Span<int> acc)
        {
            var c0 = Vector128.Create(bias);
            Vector128<int> c1 = c0, c2 = c0, c3 = c0;
            for (int t = 0; t < tapOffset.Length; t++)
            {
                var v = Vector128.LoadUnsafe(ref Unsafe.Add(ref pad, at + tapOffset[t]));
                var (l, u) = Vector128.Widen(v);
                var (l0, l1) = Vector128.Widen(l);
                var (u0, u1) = Vector128.Widen(u);
                var wt = Vector128.Create(w[t]);
                c0 += l0.AsInt32() * wt; c1 += l1.AsInt32() * wt; c2 += u0.AsInt32() * wt; c3 += u1.AsInt32() * wt;
            }
            ref int a0 = ref MemoryMarshal.GetReference(acc);
            c0.StoreUnsafe(ref a0); c1.StoreUnsafe(ref a0, 4); c2.StoreUnsafe(ref a0, 8); c3.StoreUnsafe(ref a0, 12);
        }
    }
}
