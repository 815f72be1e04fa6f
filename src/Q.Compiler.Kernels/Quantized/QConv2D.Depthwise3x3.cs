#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QConv2D
    {
        /// <summary>The shape of a 3x3 depthwise layer with dilation 1 and rows of at least 8 inputs and outputs, or of 4 outputs (from at least 4·stride inputs), or (stride 2) of 5 to 7 outputs from at least 8 inputs.</summary>
        private struct Fast3x3
        {
            public int H, W, Oh, Ow, Ph, Pw, PadTop, PadLeft, Planes, C;
        }

        /// <summary>
        /// Which steps of <see cref="Requant32"/> a layer needs (a type argument, so each combination is its own loop with
        /// no per-vector branches): the clamps (to clampMax − zy as floats, to clampMin as bytes) and the zero point add.
        /// </summary>
        private interface IRequantSteps
        {
            static abstract bool Clamp { get; }
            static abstract bool ZeroPoint { get; }
        }

        /// <summary>Every step: a clamp range narrower than the bytes, or products that might not fit int32.</summary>
        private struct ClampAndShift : IRequantSteps
        {
            public static bool Clamp => true;
            public static bool ZeroPoint => true;
        }

        /// <summary>Clamp range [0, 255] and every acc·scale inside int32: the saturating packs are the clamps.</summary>
        private struct ShiftOnly : IRequantSteps
        {
            public static bool Clamp => false;
            public static bool ZeroPoint => true;
        }

        /// <summary>As <see cref="ShiftOnly"/> with output zero point 0 (the usual Relu and Clip(0, 6) output).</summary>
        private struct PacksOnly : IRequantSteps
        {
            public static bool Clamp => false;
            public static bool ZeroPoint => false;
        }

        /// <summary>
        /// The requantization of <see cref="Depthwise3x3S1"/> and <see cref="Depthwise3x3S2"/>, 32 outputs at a time:
        /// cvtdq2ps, mulps by the channel's scale, minps with hi = clampMax − zy, cvtps2dq (round half to even), then
        /// int16 (packssdw), + zy (saturating), uint8 (packuswb), and the lower clamp in bytes. Equal to
        /// clamp(zy + round(clamp(acc·scale, lo, hi)), clampMin, clampMax): every step after the float clamp is monotone and
        /// exact on [clampMin, clampMax] ⊆ [0, 255] (a product below −2^31 converts to int32.MinValue, which saturates to 0).
        /// With clamps [0, 255] and |acc·scale| &lt; 2^30 for every channel (<see cref="ProductsFitInt32"/>) the minps and
        /// the byte clamp change nothing (the packs saturate to [0, 255] themselves) and are left out (<see cref="ShiftOnly"/>,
        /// and <see cref="PacksOnly"/> when zy = 0).
        /// </summary>
        private readonly struct Requant32
        {
            public readonly Vector256<float> Hi;
            public readonly Vector256<short> Zy;
            public readonly Vector256<byte> Min;

            public Requant32(int hi, int yZeroPoint, int clampMin)
            {
                Hi = Vector256.Create((float)hi);
                Zy = Vector256.Create((short)yZeroPoint);
                Min = Vector256.Create((byte)clampMin);
            }

            /// <summary>Two rows of 16: <paramref name="e0"/>, <paramref name="e1"/> (columns 0–7, 8–15) to the lower 16 bytes, <paramref name="o0"/>, <paramref name="o1"/> to the upper.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector256<byte> Rows<TR>(Vector256<int> e0, Vector256<int> e1, Vector256<int> o0, Vector256<int> o1, Vector256<float> scale)
                where TR : struct, IRequantSteps
                => Pack<TR>(e0, e1, o0, o1, scale, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));

            /// <summary>Rows of 4: lanes 0–3 of <paramref name="e"/>, of <paramref name="o"/>, lanes 4–7 of each, to the lower 16 bytes.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector128<byte> Rows4<TR>(Vector256<int> e, Vector256<int> o, Vector256<float> scale) where TR : struct, IRequantSteps
                => Pack<TR>(e, o, e, o, scale, Vector256.Create(0, 1, 4, 5, 2, 3, 6, 7)).GetLower();

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private Vector256<byte> Pack<TR>(Vector256<int> e0, Vector256<int> e1, Vector256<int> o0, Vector256<int> o1, Vector256<float> scale, Vector256<int> order)
                where TR : struct, IRequantSteps
            {
                var a = Avx2.PackSignedSaturate(Scale<TR>(e0, scale), Scale<TR>(e1, scale));
                var b = Avx2.PackSignedSaturate(Scale<TR>(o0, scale), Scale<TR>(o1, scale));
                if (TR.ZeroPoint)
                {
                    a = Avx2.AddSaturate(a, Zy);
                    b = Avx2.AddSaturate(b, Zy);
                }
                // Per 128-bit lane: dwords (e0 0–3, e1 0–3, o0 0–3, o1 0–3), then the 4–7 halves.
                var bytes = Avx2.PermuteVar8x32(Avx2.PackUnsignedSaturate(a, b).AsInt32(), order).AsByte();
                return TR.Clamp ? Avx2.Max(bytes, Min) : bytes;
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private Vector256<int> Scale<TR>(Vector256<int> acc, Vector256<float> scale) where TR : struct, IRequantSteps
            {
                var p = Avx.Multiply(Avx.ConvertToVector256Single(acc), scale);
                return Avx.ConvertToVector256Int32(TR.Clamp ? Avx.Min(p, Hi) : p);
            }
        }

        /// <summary>
        /// Whether |acc·scale| &lt; 2^30 for every channel and every input of a 3x3 layer, so that cvtps2dq cannot overflow
        /// and the requantization may drop its clamps (<see cref="Requant32"/>): |acc| ≤ |b'[c]| + 9·255·max|w'| with
        /// max|w'| = 128 for symmetric int8 weights and 255 with zero points (a bound from the types, not the weights, so the
        /// check costs a few vector instructions per 8 channels: it runs on every call). Float rounding is far inside the
        /// factor 2 to int32's range; a NaN scale keeps the clamps.
        /// </summary>
        private static bool ProductsFitInt32(ReadOnlySpan<int> bias, ReadOnlySpan<float> scale, int c, bool weightZeroPoints)
        {
            float taps = 9 * 255 * (weightZeroPoints ? 255 : 128);
            ref int b0 = ref MemoryMarshal.GetReference(bias);
            ref float s0 = ref MemoryMarshal.GetReference(scale);
            var vt = Vector256.Create(taps);
            var limit = Vector256.Create((float)(1 << 30));
            int ch = 0;
            for (; ch + 8 <= c; ch += 8)
            {
                var b = Vector256.Abs(Avx.ConvertToVector256Single(Vector256.LoadUnsafe(ref b0, (nuint)ch)));
                var p = Avx.Multiply(Avx.Add(b, vt), Vector256.Abs(Vector256.LoadUnsafe(ref s0, (nuint)ch)));
                if (Avx.MoveMask(Avx.CompareNotLessThan(p, limit)) != 0) return false;
            }
            for (; ch < c; ch++)
                if (!((Math.Abs((float)Unsafe.Add(ref b0, ch)) + taps) * Math.Abs(Unsafe.Add(ref s0, ch)) < 1 << 30)) return false;
            return true;
        }

        /// <summary>
        /// 3x3, stride 1, dilation 1 (AVX2). Pair row m holds padded rows 2m and 2m + 1 side by side as int16 (4 bytes a
        /// column), built straight from the input rows (a padding row reads a row of zx; the padding columns are written
        /// once per call). Output rows 2m and 2m + 1 both come from pair rows m and m + 1: row 2m = m·(w0, w1) + (m + 1)·(w2, 0),
        /// row 2m + 1 = m·(0, w0) + (m + 1)·(w1, w2) per tap column, so each pair row is built once and each 32-byte load
        /// feeds two vpmaddwd; 16 columns of both rows are requantized together. Rows of 4, 8 and 9–12 and a rest of 1–4
        /// columns past the blocks of 16 go four output rows at a time (<see cref="Columns4"/>, <see cref="Columns8"/>).
        /// </summary>
        private static void Depthwise3x3S1<TR>(ReadOnlySpan<byte> x, in ChannelWeights w, ReadOnlySpan<int> bias, ReadOnlySpan<float> scale,
            Span<byte> y, Span<byte> scratch, in Fast3x3 g, int xZeroPoint, in Requant32 q) where TR : struct, IRequantSteps
        {
            int pw = g.Pw, oh = g.Oh, ow = g.Ow, rows = (oh - 1) / 2 + 2, offset = PairPlaneOffset(g.Ph * pw);
            nint pairRow = 4 * pw;
            if (offset + rows * pairRow > scratch.Length) throw new ArgumentException("QConv2D.Depthwise scratch is too small");
            // Rows of 9 to 15 as blocks of 16 columns read 18 columns (72 bytes) of each pair row.
            bool wide = offset + (rows - 1) * pairRow + 72 <= scratch.Length;
            Span<byte> zxRow = scratch.Slice(0, g.W);
            zxRow.Fill((byte)xZeroPoint);
            ref byte v0 = ref scratch[offset];
            FillPadColumns(ref v0, rows, pw, g.PadLeft, g.W, xZeroPoint | xZeroPoint << 16);
            ref byte x0 = ref MemoryMarshal.GetReference(x);
            ref byte z0 = ref MemoryMarshal.GetReference(zxRow);
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            int inPlane = g.H * g.W, plane = oh * ow;
            var t = new S1Weights();
            for (int i = 0; i < g.Planes; i++)
            {
                int ch = i % g.C;
                ref byte xc = ref Unsafe.Add(ref x0, (nint)i * inPlane);
                for (int m = 0; m < rows; m++)
                    PairRow(ref SourceRow(ref xc, ref z0, 2 * m - g.PadTop, g.H, g.W), ref SourceRow(ref xc, ref z0, 2 * m + 1 - g.PadTop, g.H, g.W),
                        ref Unsafe.Add(ref v0, m * pairRow + 4 * g.PadLeft), g.W);
                t.Load(w, ch, bias[ch]);
                var sc = Vector256.Create(scale[ch]);
                ref byte yc = ref Unsafe.Add(ref y0, (nint)i * plane);
                if (ow > 8 && ow < 16 && wide)
                {
                    // Rows of 9 to 15: blocks of 16 columns, two rows at a time (cheaper than 8 + 4 columns of four rows).
                    NarrowRows<TR>(t, q, ref v0, pairRow, ref yc, oh, ow, sc, lastPlane: i == g.Planes - 1);
                    continue;
                }
                if (ow <= 12)
                {
                    // Rows of 4 and 8: the whole row; 9 to 12: columns 0–7, then 4 at ow − 4.
                    if (ow >= 8) Columns8<TR>(t, q, ref v0, pairRow, ref yc, oh, ow, 0, sc);
                    if (ow != 8) Columns4<TR>(t, q, ref v0, pairRow, ref yc, oh, ow, ow - 4, sc);
                    continue;
                }
                // A rest of 1 to 8 columns past the blocks of 16: 4 or 8 columns of four rows at a time after the blocks.
                int rest = ow % 16;
                if (rest is > 0 and <= 4) Columns4<TR>(t, q, ref v0, pairRow, ref yc, oh, ow, ow - 4, sc);
                else if (rest is > 4 and <= 8) Columns8<TR>(t, q, ref v0, pairRow, ref yc, oh, ow, ow - 8, sc);
                for (int m = 0; 2 * m < oh; m++)
                {
                    ref byte va = ref Unsafe.Add(ref v0, m * pairRow);
                    ref byte ye = ref Unsafe.Add(ref yc, 2 * m * ow);
                    bool both = 2 * m + 1 < oh;
                    if (ow < 16)
                    {
                        // 13 to 15 columns: 8 at 0 and 8 at ow − 8.
                        var (e0, o0) = t.Sums(ref va, ref Unsafe.Add(ref va, pairRow));
                        var (e1, o1) = t.Sums(ref Unsafe.Add(ref va, 4 * (ow - 8)), ref Unsafe.Add(ref va, pairRow + 4 * (ow - 8)));
                        StoreShortRows(q.Rows<TR>(e0, e1, o0, o1, sc), ref ye, ow, both);
                        continue;
                    }
                    for (int ox = 0; ; ox += 16)
                    {
                        // The last block overlaps the previous one; a rest of 8 or fewer was done above (Columns4, Columns8).
                        if (ox > ow - 16)
                        {
                            if (ox >= ow - 8) break;
                            ox = ow - 16;
                        }
                        ref byte a = ref Unsafe.Add(ref va, 4 * ox);
                        ref byte b = ref Unsafe.Add(ref a, pairRow);
                        t.Sums16(ref a, ref b, out var e0, out var e1, out var o0, out var o1);
                        var r = q.Rows<TR>(e0, e1, o0, o1, sc);
                        r.GetLower().StoreUnsafe(ref ye, (nuint)ox);
                        if (both) r.GetUpper().StoreUnsafe(ref ye, (nuint)(ox + ow));
                        if (ox == ow - 16) break;
                    }
                }
            }
        }

        /// <summary>
        /// Rows of 9 to 15 (stride 1): one block of 16 columns of rows 2m and 2m + 1 per pass (the pair rows must be readable
        /// for 18 columns), instead of 8 + 4 columns of four rows. Each row's 16 − ow extra bytes are stored into the row or
        /// plane after it, which is stored later; on the <paramref name="lastPlane"/> the last rows are stored exactly. The 12
        /// weight pairs are copied into locals so that they stay in registers for the channel.
        /// </summary>
        private static void NarrowRows<TR>(in S1Weights t, in Requant32 q, ref byte v0, nint pairRow, ref byte yc, int oh, int ow,
            Vector256<float> sc, bool lastPlane) where TR : struct, IRequantSteps
        {
            Vector256<short> e0w = t.E0, e1w = t.E1, e2w = t.E2, f0w = t.F0, f1w = t.F1, f2w = t.F2;
            Vector256<short> o0w = t.O0, o1w = t.O1, o2w = t.O2, p0w = t.P0, p1w = t.P1, p2w = t.P2;
            var bias = t.Bias;
            for (int m = 0; 2 * m < oh; m++)
            {
                ref byte a = ref Unsafe.Add(ref v0, m * pairRow);
                ref byte b = ref Unsafe.Add(ref a, pairRow);
                ref byte ye = ref Unsafe.Add(ref yc, 2 * m * ow);
                bool both = 2 * m + 1 < oh;
                var e0 = bias; var e1 = bias; var o0 = bias; var o1 = bias;
                S1Weights.Tap(ref a, 0, e0w, o0w, ref e0, ref e1, ref o0, ref o1);
                S1Weights.Tap(ref a, 4, e1w, o1w, ref e0, ref e1, ref o0, ref o1);
                S1Weights.Tap(ref a, 8, e2w, o2w, ref e0, ref e1, ref o0, ref o1);
                S1Weights.Tap(ref b, 0, f0w, p0w, ref e0, ref e1, ref o0, ref o1);
                S1Weights.Tap(ref b, 4, f1w, p1w, ref e0, ref e1, ref o0, ref o1);
                S1Weights.Tap(ref b, 8, f2w, p2w, ref e0, ref e1, ref o0, ref o1);
                var r = q.Rows<TR>(e0, e1, o0, o1, sc);
                if (lastPlane && 2 * m + 2 >= oh)
                {
                    StoreNarrowRows(r, ref ye, ow, both);
                    break;
                }
                r.GetLower().StoreUnsafe(ref ye);
                if (both) r.GetUpper().StoreUnsafe(ref ye, (nuint)ow);
            }
        }

        /// <summary>
        /// Columns <paramref name="at"/> .. at + 3 of every output row of one channel (stride 1), four rows per vector pair:
        /// rows 2m and 2m + 2 in one vector (E weights), 2m + 1 and 2m + 3 in the other (O weights).
        /// </summary>
        private static void Columns4<TR>(in S1Weights t, in Requant32 q, ref byte v0, nint pairRow, ref byte yc, int oh, int ow, int at,
            Vector256<float> sc) where TR : struct, IRequantSteps
        {
            for (int m = 0; 2 * m < oh; m += 2)
            {
                int valid = Math.Min(4, oh - 2 * m);
                ref byte va = ref Unsafe.Add(ref v0, m * pairRow + 4 * at);
                ref byte vb = ref Unsafe.Add(ref va, pairRow);
                // Past the last output row the rows repeat pair row m + 1 (not stored).
                ref byte vc = ref valid > 2 ? ref Unsafe.Add(ref vb, pairRow) : ref vb;
                var (e, o) = t.Sums4(ref va, ref vb, ref vc);
                StoreRows4(q.Rows4<TR>(e, o, sc), ref Unsafe.Add(ref yc, 2 * m * ow + at), ow, valid);
            }
        }

        /// <summary>Columns <paramref name="at"/> .. at + 7 of every output row of one channel (stride 1), four rows (pair rows m, m + 1, m + 2) per requantization.</summary>
        private static void Columns8<TR>(in S1Weights t, in Requant32 q, ref byte v0, nint pairRow, ref byte yc, int oh, int ow, int at,
            Vector256<float> sc) where TR : struct, IRequantSteps
        {
            for (int m = 0; 2 * m < oh; m += 2)
            {
                int valid = Math.Min(4, oh - 2 * m);
                ref byte va = ref Unsafe.Add(ref v0, m * pairRow + 4 * at);
                ref byte vb = ref Unsafe.Add(ref va, pairRow);
                var (e0, o0) = t.Sums(ref va, ref vb);
                // Past the last output row the second pair of rows repeats the first (not stored).
                var (e1, o1) = valid > 2 ? t.Sums(ref vb, ref Unsafe.Add(ref vb, pairRow)) : (e0, o0);
                StoreRows8(q.Rows<TR>(e0, o0, e1, o1, sc), ref Unsafe.Add(ref yc, 2 * m * ow + at), ow, valid);
            }
        }

        /// <summary>The first <paramref name="valid"/> (1–4) runs of 8 of <paramref name="r"/> to rows <paramref name="stride"/> bytes apart at <paramref name="y"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRows8(Vector256<byte> r, ref byte y, int stride, int valid)
        {
            if (valid == 4 && stride == 8) { r.StoreUnsafe(ref y); return; }
            var q = r.AsUInt64();
            for (int k = 0; k < valid; k++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, stride * k), q.GetElement(k));
        }

        /// <summary>The first <paramref name="valid"/> (1–4) runs of 4 of <paramref name="r"/> to rows <paramref name="stride"/> bytes apart at <paramref name="y"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRows4(Vector128<byte> r, ref byte y, int stride, int valid)
        {
            if (valid == 4 && stride == 4) { r.StoreUnsafe(ref y); return; }
            var q = r.AsUInt32();
            for (int k = 0; k < valid; k++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, stride * k), q.GetElement(k));
        }

        /// <summary>Rows of 9 to 15 from <see cref="Requant32.Rows{TR}"/> of columns 0–7 and ow − 8 .. ow − 1: one row, or two (<paramref name="both"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreShortRows(Vector256<byte> r, ref byte y, int ow, bool both)
        {
            var q = r.AsUInt64();
            Unsafe.WriteUnaligned(ref y, q.GetElement(0));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, ow - 8), q.GetElement(1));
            if (!both) return;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, ow), q.GetElement(2));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, 2 * ow - 8), q.GetElement(3));
        }

        /// <summary>The first <paramref name="ow"/> (9–15) bytes of each 16-byte half of <paramref name="r"/>: one row, or two (<paramref name="both"/>).</summary>
        private static void StoreNarrowRows(Vector256<byte> r, ref byte y, int ow, bool both)
        {
            Span<byte> t = stackalloc byte[32];
            r.StoreUnsafe(ref MemoryMarshal.GetReference(t));
            t.Slice(0, ow).CopyTo(MemoryMarshal.CreateSpan(ref y, ow));
            if (both) t.Slice(16, ow).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref y, ow), ow));
        }

        /// <summary>Columns ow − 8 .. ow − 1 of one row, or two (<paramref name="both"/>), from <see cref="Requant32.Rows{TR}"/> of (e, e, o, o).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreLast8(Vector256<byte> r, ref byte y, int ow, bool both)
        {
            var q = r.AsUInt64();
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, ow - 8), q.GetElement(0));
            if (both) Unsafe.WriteUnaligned(ref Unsafe.Add(ref y, 2 * ow - 8), q.GetElement(2));
        }

        /// <summary>Input row <paramref name="r"/> of a channel, or the row of zero points when r is a padding row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static ref byte SourceRow(ref byte xc, ref byte zxRow, int r, int h, int wd) =>
            ref ((uint)r < (uint)h ? ref Unsafe.Add(ref xc, (nint)r * wd) : ref zxRow);

        /// <summary>Writes the zero-point pairs of the padding columns of <paramref name="rows"/> pair rows (they stay put: rows are rebuilt in between).</summary>
        private static void FillPadColumns(ref byte v, int rows, int pw, int padLeft, int wd, int pair)
        {
            for (int m = 0; m < rows; m++)
            {
                ref int r = ref Unsafe.As<byte, int>(ref Unsafe.Add(ref v, (nint)4 * m * pw));
                for (int j = 0; j < padLeft; j++) Unsafe.Add(ref r, j) = pair;
                for (int j = padLeft + wd; j < pw; j++) Unsafe.Add(ref r, j) = pair;
            }
        }

        /// <summary>The interior of one pair row: bytes a[j], b[j] (j &lt; wd, wd ≥ 4) as two int16, 16 (8, 4) columns at a time, the last block overlapping.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairRow(ref byte a, ref byte b, ref byte d, int wd)
        {
            if (wd < 8)
            {
                // Rows of 4 to 7: 4 columns at 0 and 4 at wd − 4 (overlapping).
                PairColumns4(ref a, ref b, ref d, 0);
                if (wd > 4) PairColumns4(ref a, ref b, ref d, (nuint)wd - 4);
                return;
            }
            if (wd < 16)
            {
                // Rows of 8 to 15: 8 columns at 0 and 8 at wd − 8.
                PairColumns8(ref a, ref b, ref d, 0);
                if (wd > 8) PairColumns8(ref a, ref b, ref d, (nuint)wd - 8);
                return;
            }
            // Blocks of 32 columns while they fit, then of 16, the last one at wd − 16 (overlapping).
            nuint last = (nuint)wd - 16, k = 0;
            for (; k + 16 < last; k += 32)
            {
                PairColumns16(ref a, ref b, ref d, k);
                PairColumns16(ref a, ref b, ref d, k + 16);
            }
            if (k < last) PairColumns16(ref a, ref b, ref d, k);
            PairColumns16(ref a, ref b, ref d, last);
        }

        /// <summary>Columns j .. j + 3 of a pair row: bytes a[j + i], b[j + i] as two int16 at d[4(j + i)].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairColumns4(ref byte a, ref byte b, ref byte d, nuint j)
        {
            var x0 = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref a, j))).AsByte();
            var x1 = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref b, j))).AsByte();
            Sse41.ConvertToVector128Int16(Sse2.UnpackLow(x0, x1)).AsByte().StoreUnsafe(ref d, 4 * j);
        }

        /// <summary>Columns j .. j + 7 of a pair row: bytes a[j + i], b[j + i] as two int16 at d[4(j + i)].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairColumns8(ref byte a, ref byte b, ref byte d, nuint j)
        {
            var x0 = Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref a, j))).AsByte();
            var x1 = Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, j))).AsByte();
            Avx2.ConvertToVector256Int16(Sse2.UnpackLow(x0, x1)).AsByte().StoreUnsafe(ref d, 4 * j);
        }

        /// <summary>Columns j .. j + 15 of a pair row: bytes a[j + i], b[j + i] as two int16 at d[4(j + i)].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairColumns16(ref byte a, ref byte b, ref byte d, nuint j)
        {
            var x0 = Vector128.LoadUnsafe(ref a, j);
            var x1 = Vector128.LoadUnsafe(ref b, j);
            Avx2.ConvertToVector256Int16(Sse2.UnpackLow(x0, x1)).AsByte().StoreUnsafe(ref d, 4 * j);
            Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(x0, x1)).AsByte().StoreUnsafe(ref d, 4 * j + 32);
        }

        /// <summary>One channel's 12 weight pairs for <see cref="Depthwise3x3S1"/> and its bias.</summary>
        private struct S1Weights
        {
            // E: row 2m from pair row m (taps rows 0, 1); F: from pair row m + 1 (tap row 2, 0);
            // O: row 2m + 1 from pair row m (0, tap row 0); P: from pair row m + 1 (tap rows 1, 2). Index = tap column.
            public Vector256<short> E0, E1, E2, F0, F1, F2, O0, O1, O2, P0, P1, P2;
            public Vector256<int> Bias;

            public void Load(in ChannelWeights w, int ch, int bias)
            {
                // Taps a0..a7 as int16 lanes, then a4..a8: three byte shuffles give the 12 pairs (0x80: a zero byte).
                var lo = w.Taps3x3(ch, out short a8);
                var hi = Sse2.Insert(Sse2.ShiftRightLogical128BitLane(lo, 8), a8, 4).AsByte();
                var x1 = Ssse3.Shuffle(lo.AsByte(), Vector128.Create((byte)0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11, 6, 7, 12, 13));
                var x2 = Ssse3.Shuffle(lo.AsByte(), Vector128.Create((byte)0x80, 0x80, 0, 1, 0x80, 0x80, 2, 3, 0x80, 0x80, 4, 5, 12, 13, 0x80, 0x80));
                var x3 = Ssse3.Shuffle(hi, Vector128.Create((byte)6, 7, 0x80, 0x80, 0, 1, 6, 7, 8, 9, 0x80, 0x80, 2, 3, 8, 9));
                E0 = ChannelWeights.Lane(x1, 0); E1 = ChannelWeights.Lane(x1, 1); E2 = ChannelWeights.Lane(x1, 2); P0 = ChannelWeights.Lane(x1, 3);
                O0 = ChannelWeights.Lane(x2, 0); O1 = ChannelWeights.Lane(x2, 1); O2 = ChannelWeights.Lane(x2, 2); F0 = ChannelWeights.Lane(x2, 3);
                F1 = ChannelWeights.Lane(x3, 0); P1 = ChannelWeights.Lane(x3, 1); F2 = ChannelWeights.Lane(x3, 2); P2 = ChannelWeights.Lane(x3, 3);
                Bias = Vector256.Create(bias);
            }

            /// <summary>8 columns of rows 2m (E) and 2m + 1 (O) from pair rows m at <paramref name="a"/> and m + 1 at <paramref name="b"/>.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly (Vector256<int> E, Vector256<int> O) Sums(ref byte a, ref byte b)
            {
                var a0 = Vector256.LoadUnsafe(ref a).AsInt16();
                var a1 = Vector256.LoadUnsafe(ref a, 4).AsInt16();
                var a2 = Vector256.LoadUnsafe(ref a, 8).AsInt16();
                var b0 = Vector256.LoadUnsafe(ref b).AsInt16();
                var b1 = Vector256.LoadUnsafe(ref b, 4).AsInt16();
                var b2 = Vector256.LoadUnsafe(ref b, 8).AsInt16();
                var e = Avx2.Add(Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(a0, E0)), Avx2.Add(Avx2.MultiplyAddAdjacent(a1, E1), Avx2.MultiplyAddAdjacent(a2, E2)));
                var o = Avx2.Add(Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(a0, O0)), Avx2.Add(Avx2.MultiplyAddAdjacent(a1, O1), Avx2.MultiplyAddAdjacent(a2, O2)));
                e = Avx2.Add(e, Avx2.Add(Avx2.MultiplyAddAdjacent(b0, F0), Avx2.Add(Avx2.MultiplyAddAdjacent(b1, F1), Avx2.MultiplyAddAdjacent(b2, F2))));
                o = Avx2.Add(o, Avx2.Add(Avx2.MultiplyAddAdjacent(b0, P0), Avx2.Add(Avx2.MultiplyAddAdjacent(b1, P1), Avx2.MultiplyAddAdjacent(b2, P2))));
                return (e, o);
            }

            /// <summary>
            /// 16 columns of rows 2m (<paramref name="e0"/>, <paramref name="e1"/>) and 2m + 1 (<paramref name="o0"/>,
            /// <paramref name="o1"/>): as two <see cref="Sums"/>, tap by tap, so that each weight pair is loaded once for both
            /// 8-column halves (12 weight vectors do not fit the registers with the sums; this halves the loads).
            /// </summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly void Sums16(ref byte a, ref byte b, out Vector256<int> e0, out Vector256<int> e1, out Vector256<int> o0, out Vector256<int> o1)
            {
                e0 = e1 = o0 = o1 = Bias;
                Tap(ref a, 0, E0, O0, ref e0, ref e1, ref o0, ref o1);
                Tap(ref a, 4, E1, O1, ref e0, ref e1, ref o0, ref o1);
                Tap(ref a, 8, E2, O2, ref e0, ref e1, ref o0, ref o1);
                Tap(ref b, 0, F0, P0, ref e0, ref e1, ref o0, ref o1);
                Tap(ref b, 4, F1, P1, ref e0, ref e1, ref o0, ref o1);
                Tap(ref b, 8, F2, P2, ref e0, ref e1, ref o0, ref o1);
            }

            /// <summary>One tap column of one pair row at byte <paramref name="at"/>: weights <paramref name="we"/> (row 2m) and <paramref name="wo"/> (row 2m + 1), both halves.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static void Tap(ref byte row, nuint at, Vector256<short> we, Vector256<short> wo,
                ref Vector256<int> e0, ref Vector256<int> e1, ref Vector256<int> o0, ref Vector256<int> o1)
            {
                var x0 = Vector256.LoadUnsafe(ref row, at).AsInt16();
                var x1 = Vector256.LoadUnsafe(ref row, at + 32).AsInt16();
                e0 = Avx2.Add(e0, Avx2.MultiplyAddAdjacent(x0, we));
                e1 = Avx2.Add(e1, Avx2.MultiplyAddAdjacent(x1, we));
                o0 = Avx2.Add(o0, Avx2.MultiplyAddAdjacent(x0, wo));
                o1 = Avx2.Add(o1, Avx2.MultiplyAddAdjacent(x1, wo));
            }

            /// <summary>
            /// Rows of 4: E holds rows 2m (lanes 0–3, pair rows m at <paramref name="a"/> and m + 1 at <paramref name="b"/>)
            /// and 2m + 2 (lanes 4–7, pair rows m + 1 and m + 2 at <paramref name="c"/>); O rows 2m + 1 and 2m + 3.
            /// </summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public readonly (Vector256<int> E, Vector256<int> O) Sums4(ref byte a, ref byte b, ref byte c)
            {
                var a0 = Load2(ref a, ref b, 0); var a1 = Load2(ref a, ref b, 4); var a2 = Load2(ref a, ref b, 8);
                var b0 = Load2(ref b, ref c, 0); var b1 = Load2(ref b, ref c, 4); var b2 = Load2(ref b, ref c, 8);
                var e = Avx2.Add(Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(a0, E0)), Avx2.Add(Avx2.MultiplyAddAdjacent(a1, E1), Avx2.MultiplyAddAdjacent(a2, E2)));
                var o = Avx2.Add(Avx2.Add(Bias, Avx2.MultiplyAddAdjacent(a0, O0)), Avx2.Add(Avx2.MultiplyAddAdjacent(a1, O1), Avx2.MultiplyAddAdjacent(a2, O2)));
                e = Avx2.Add(e, Avx2.Add(Avx2.MultiplyAddAdjacent(b0, F0), Avx2.Add(Avx2.MultiplyAddAdjacent(b1, F1), Avx2.MultiplyAddAdjacent(b2, F2))));
                o = Avx2.Add(o, Avx2.Add(Avx2.MultiplyAddAdjacent(b0, P0), Avx2.Add(Avx2.MultiplyAddAdjacent(b1, P1), Avx2.MultiplyAddAdjacent(b2, P2))));
                return (e, o);
            }
        }

        /// <summary>
        /// 3x3, stride 2, dilation 1 (AVX2). Each padded row is widened to int16 once per channel (the padding rows and
        /// columns written once per call); output column ox reads padded columns 2ox, 2ox + 1, 2ox + 2, so one 32-byte load
        /// at column 2ox is the vpmaddwd operand of taps (0, 1) of 8 outputs and one at 2ox + 2 that of tap 2 (paired with
        /// weight 0): 6 vpmaddwd for 8 outputs, no phase split. Two output rows at a time share their middle row.
        /// </summary>
        private static void Depthwise3x3S2<TR>(ReadOnlySpan<byte> x, in ChannelWeights w, ReadOnlySpan<int> bias, ReadOnlySpan<float> scale,
            Span<byte> y, Span<byte> scratch, in Fast3x3 g, int xZeroPoint, in Requant32 q) where TR : struct, IRequantSteps
        {
            int pw = g.Pw, oh = g.Oh, ow = g.Ow, offset = PairPlaneOffset(g.Ph * 2 * ((pw + 1) / 2));
            nint row = 2 * pw;
            // Tap 2 of the last output reads one column past the row (times weight 0): 4 bytes of slack.
            if (offset + g.Ph * row + 4 > scratch.Length) throw new ArgumentException("QConv2D.Depthwise scratch is too small");
            ref byte v0 = ref scratch[offset];
            // The padding: whole rows above and below the input, columns left and right of it.
            short zx = (short)xZeroPoint;
            MemoryMarshal.Cast<byte, short>(scratch.Slice(offset, (int)(g.Ph * row) + 4)).Fill(zx);
            ref byte x0 = ref MemoryMarshal.GetReference(x);
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            int inPlane = g.H * g.W, plane = oh * ow;
            for (int i = 0; i < g.Planes; i++)
            {
                int ch = i % g.C;
                ref byte xc = ref Unsafe.Add(ref x0, (nint)i * inPlane);
                for (int iy = 0; iy < g.H; iy++)
                    WidenRow(ref Unsafe.Add(ref xc, (nint)iy * g.W), ref Unsafe.Add(ref v0, (iy + g.PadTop) * row + 2 * g.PadLeft), g.W);
                // Pairs (a0, a1), (a2, 0), (a3, a4), (a5, 0) by one byte shuffle, (a6, a7) as they lie, (a8, 0).
                var lo = w.Taps3x3(ch, out short a8);
                var x1 = Ssse3.Shuffle(lo.AsByte(), Vector128.Create((byte)0, 1, 2, 3, 4, 5, 0x80, 0x80, 6, 7, 8, 9, 10, 11, 0x80, 0x80));
                var w0a = ChannelWeights.Lane(x1, 0); var w0b = ChannelWeights.Lane(x1, 1);
                var w1a = ChannelWeights.Lane(x1, 2); var w1b = ChannelWeights.Lane(x1, 3);
                var w2a = ChannelWeights.Lane(lo.AsByte(), 3); var w2b = ChannelWeights.Pair(a8, 0);
                var vb = Vector256.Create(bias[ch]);
                var sc = Vector256.Create(scale[ch]);
                ref byte yc = ref Unsafe.Add(ref y0, (nint)i * plane);
                if (ow < 8)
                {
                    // Rows of 4: output rows oy and oy + 1 in one vector, oy + 2 and oy + 3 in another. Rows of 5 to 7: columns
                    // 0–3, then the last four at ow − 4 (overlapping: 3 to 1 columns written twice with the same values).
                    for (int at = 0; ; at = ow - 4)
                    {
                        for (int oy = 0; oy < oh; oy += 4)
                        {
                            int valid = Math.Min(4, oh - oy);
                            ref byte r0 = ref Unsafe.Add(ref v0, 2 * oy * row + 4 * at);
                            // Rows past the last output repeat the first (not stored).
                            ref byte ra = ref valid > 1 ? ref Unsafe.Add(ref r0, 2 * row) : ref r0;
                            ref byte rb = ref valid > 2 ? ref Unsafe.Add(ref r0, 4 * row) : ref r0;
                            ref byte rc = ref valid > 3 ? ref Unsafe.Add(ref r0, 6 * row) : ref r0;
                            var s0 = S2Sum4(ref r0, ref ra, row, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                            var s1 = S2Sum4(ref rb, ref rc, row, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                            StoreRows4(q.Rows<TR>(s0, s1, s0, s1, sc).GetLower(), ref Unsafe.Add(ref yc, oy * ow + at), ow, valid);
                        }
                        if (at == ow - 4) break;
                    }
                    continue;
                }
                if (ow == 8)
                {
                    // Rows of 8: four output rows (padded rows 2oy .. 2oy + 8) per requantization.
                    for (int oy = 0; oy < oh; oy += 4)
                    {
                        int valid = Math.Min(4, oh - oy);
                        ref byte r0 = ref Unsafe.Add(ref v0, 2 * oy * row);
                        // Rows past the last output repeat the first (not stored).
                        ref byte ra = ref valid > 1 ? ref Unsafe.Add(ref r0, 2 * row) : ref r0;
                        ref byte rb = ref valid > 2 ? ref Unsafe.Add(ref r0, 4 * row) : ref r0;
                        ref byte rc = ref valid > 3 ? ref Unsafe.Add(ref r0, 6 * row) : ref r0;
                        var s0 = S2Sum(ref r0, ref Unsafe.Add(ref r0, row), ref Unsafe.Add(ref r0, 2 * row), 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var s1 = S2Sum(ref ra, ref Unsafe.Add(ref ra, row), ref Unsafe.Add(ref ra, 2 * row), 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var s2 = S2Sum(ref rb, ref Unsafe.Add(ref rb, row), ref Unsafe.Add(ref rb, 2 * row), 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var s3 = S2Sum(ref rc, ref Unsafe.Add(ref rc, row), ref Unsafe.Add(ref rc, 2 * row), 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        StoreRows8(q.Rows<TR>(s0, s1, s2, s3, sc), ref Unsafe.Add(ref yc, 8 * oy), 8, valid);
                    }
                    continue;
                }
                for (int oy = 0; oy < oh; oy += 2)
                {
                    ref byte r0 = ref Unsafe.Add(ref v0, 2 * oy * row);
                    ref byte r1 = ref Unsafe.Add(ref r0, row);
                    ref byte r2 = ref Unsafe.Add(ref r1, row);
                    bool both = oy + 1 < oh;
                    // A last single row reads its own rows twice instead of rows past the plane.
                    ref byte r3 = ref both ? ref Unsafe.Add(ref r2, row) : ref r0;
                    ref byte r4 = ref both ? ref Unsafe.Add(ref r2, 2 * row) : ref r1;
                    ref byte ye = ref Unsafe.Add(ref yc, oy * ow);
                    if (ow < 16)
                    {
                        // 13 to 15 columns: 8 at 0 and 8 at ow − 8.
                        nint last = 4 * (ow - 8);
                        var e0 = S2Sum(ref r0, ref r1, ref r2, 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var e1 = S2Sum(ref r0, ref r1, ref r2, last, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var o0 = S2Sum(ref r2, ref r3, ref r4, 0, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var o1 = S2Sum(ref r2, ref r3, ref r4, last, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        StoreShortRows(q.Rows<TR>(e0, e1, o0, o1, sc), ref ye, ow, both);
                        continue;
                    }
                    for (int ox = 0; ; ox += 16)
                    {
                        // The last block overlaps the previous one; a rest of 8 or fewer takes one vector at ow − 8.
                        if (ox > ow - 16)
                        {
                            if (ox == ow) break;
                            if (ox >= ow - 8)
                            {
                                var e = S2Sum(ref r0, ref r1, ref r2, 4 * (ow - 8), vb, w0a, w0b, w1a, w1b, w2a, w2b);
                                var o = S2Sum(ref r2, ref r3, ref r4, 4 * (ow - 8), vb, w0a, w0b, w1a, w1b, w2a, w2b);
                                StoreLast8(q.Rows<TR>(e, e, o, o, sc), ref ye, ow, both);
                                break;
                            }
                            ox = ow - 16;
                        }
                        nint at = 4 * ox;
                        var e0 = S2Sum(ref r0, ref r1, ref r2, at, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var e1 = S2Sum(ref r0, ref r1, ref r2, at + 32, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var o0 = S2Sum(ref r2, ref r3, ref r4, at, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var o1 = S2Sum(ref r2, ref r3, ref r4, at + 32, vb, w0a, w0b, w1a, w1b, w2a, w2b);
                        var r = q.Rows<TR>(e0, e1, o0, o1, sc);
                        r.GetLower().StoreUnsafe(ref ye, (nuint)ox);
                        if (both) r.GetUpper().StoreUnsafe(ref ye, (nuint)(ox + ow));
                        if (ox == ow - 16) break;
                    }
                }
            }
        }

        /// <summary>8 outputs of one row (stride 2): for each of the three rows, taps (0, 1) at <paramref name="at"/> and tap 2 four bytes on.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> S2Sum(ref byte r0, ref byte r1, ref byte r2, nint at, Vector256<int> bias,
            Vector256<short> w0a, Vector256<short> w0b, Vector256<short> w1a, Vector256<short> w1b, Vector256<short> w2a, Vector256<short> w2b)
        {
            var s0 = Avx2.Add(bias, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r0, at)).AsInt16(), w0a));
            var s1 = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r0, at + 4)).AsInt16(), w0b);
            s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r1, at)).AsInt16(), w1a));
            s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r1, at + 4)).AsInt16(), w1b));
            s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r2, at)).AsInt16(), w2a));
            s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref Unsafe.Add(ref r2, at + 4)).AsInt16(), w2b));
            return Avx2.Add(s0, s1);
        }

        /// <summary>Rows of 4 (stride 2): output row 2·… at <paramref name="a"/> (its first padded row) in lanes 0–3, the one at <paramref name="b"/> in lanes 4–7.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> S2Sum4(ref byte a, ref byte b, nint row, Vector256<int> bias,
            Vector256<short> w0a, Vector256<short> w0b, Vector256<short> w1a, Vector256<short> w1b, Vector256<short> w2a, Vector256<short> w2b)
        {
            ref byte a1 = ref Unsafe.Add(ref a, row); ref byte b1 = ref Unsafe.Add(ref b, row);
            ref byte a2 = ref Unsafe.Add(ref a, 2 * row); ref byte b2 = ref Unsafe.Add(ref b, 2 * row);
            var s0 = Avx2.Add(bias, Avx2.MultiplyAddAdjacent(Load2(ref a, ref b, 0), w0a));
            var s1 = Avx2.MultiplyAddAdjacent(Load2(ref a, ref b, 4), w0b);
            s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Load2(ref a1, ref b1, 0), w1a));
            s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Load2(ref a1, ref b1, 4), w1b));
            s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Load2(ref a2, ref b2, 0), w2a));
            s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Load2(ref a2, ref b2, 4), w2b));
            return Avx2.Add(s0, s1);
        }

        /// <summary>Bytes s[j] (j &lt; wd, wd ≥ 8) as int16, 16 (or 8) at a time, the last block overlapping.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void WidenRow(ref byte s, ref byte d, int wd)
        {
            if (wd < 16)
            {
                // Rows of 8 to 15: 8 at 0 and 8 at wd − 8 (overlapping).
                Widen8(ref s, ref d, 0);
                if (wd > 8) Widen8(ref s, ref d, (nuint)wd - 8);
                return;
            }
            // Blocks of 32 while they fit, then of 16, the last one at wd − 16 (overlapping).
            nuint last = (nuint)wd - 16, k = 0;
            for (; k + 16 < last; k += 32)
            {
                Widen16(ref s, ref d, k);
                Widen16(ref s, ref d, k + 16);
            }
            if (k < last) Widen16(ref s, ref d, k);
            Widen16(ref s, ref d, last);
        }

        /// <summary>Bytes s[j .. j + 7] as int16 at d[2j].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Widen8(ref byte s, ref byte d, nuint j) =>
            Sse41.ConvertToVector128Int16(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s, j))).AsByte()).AsByte().StoreUnsafe(ref d, 2 * j);

        /// <summary>Bytes s[j .. j + 15] as int16 at d[2j].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Widen16(ref byte s, ref byte d, nuint j) =>
            Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref s, j)).AsByte().StoreUnsafe(ref d, 2 * j);
    }
}
