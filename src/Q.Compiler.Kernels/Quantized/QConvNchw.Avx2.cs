#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QConvNchw
    {
        /// <summary>Block flag (Q.Compiler.Ops.QConv.QConvWeights.NchwBlockFlags): the upper bound must be applied in float (<see cref="ScaleMin"/>).</summary>
        private const byte FloatClamp = 1;
        /// <summary>Block flag: quads 2j and 2j + 1 may share one widening (their int16 pair sums add without overflow).</summary>
        private const byte PairQuads = 2;

        /// <summary>
        /// How a tile multiplies 8 pixels' activation quads by one row's broadcast weight quad: <see cref="SignTrick"/> (flipped
        /// activations x' = x − 128, any weights but −128) or <see cref="RawBytes"/> (raw activations, pair-safe weights). Type
        /// arguments of <see cref="BlockAvx2{TP}"/>, so each mode compiles to its own loop.
        /// </summary>
        private interface IQuadProducts
        {
            /// <summary>What the rows share per activation vector: |x'| for the sign trick, nothing (x itself) for raw bytes.</summary>
            static abstract Vector256<byte> Shared(Vector256<byte> x);
            /// <summary>Σ of the quad's four products per pixel, int32: vpmaddubsw then vpmaddwd by ones.</summary>
            static abstract Vector256<int> Quad(Vector256<byte> x, Vector256<byte> shared, Vector256<sbyte> w, Vector256<short> ones);
            /// <summary>
            /// Σ over quads q (x) and q + 1 (y) with one widening: the int16 pair sums added before vpmaddwd by ones, exact under
            /// the mode's <see cref="PairQuads"/> bound; weights at wq + offset and wq + 16 + offset.
            /// </summary>
            static abstract Vector256<int> TwoQuads(Vector256<byte> x, Vector256<byte> xShared, Vector256<byte> y, Vector256<byte> yShared,
                ref sbyte wq, int offset, Vector256<short> ones);
        }

        /// <summary>
        /// Flipped activations x' (int8): vpmaddubsw(|x'|, sign(w, x')) forms pairs bounded by 2·128·127 (exact; w ≠ −128), at
        /// the cost of one vpsignb per row vector and one vpabsb per activation vector.
        /// </summary>
        private struct SignTrick : IQuadProducts
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<byte> Shared(Vector256<byte> x) => Avx2.Abs(x.AsSByte());

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<int> Quad(Vector256<byte> x, Vector256<byte> shared, Vector256<sbyte> w, Vector256<short> ones) =>
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(shared, Avx2.Sign(w, x.AsSByte())), ones);

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<int> TwoQuads(Vector256<byte> x, Vector256<byte> xShared, Vector256<byte> y, Vector256<byte> yShared,
                ref sbyte wq, int offset, Vector256<short> ones)
            {
                var px = Avx2.MultiplyAddAdjacent(xShared, Avx2.Sign(Broadcast(ref wq, offset), x.AsSByte()));
                var py = Avx2.MultiplyAddAdjacent(yShared, Avx2.Sign(Broadcast(ref wq, 16 + offset), y.AsSByte()));
                return Avx2.MultiplyAddAdjacent(Avx2.Add(px, py), ones);
            }
        }

        /// <summary>
        /// Raw activation bytes x ∈ [0, 255] and pair-safe weights: vpmaddubsw(x, w) is exact by the pair bound, with no
        /// vpabsb / vpsignb (two multiply-port ops per row vector instead of three).
        /// </summary>
        private struct RawBytes : IQuadProducts
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<byte> Shared(Vector256<byte> x) => x;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<int> Quad(Vector256<byte> x, Vector256<byte> shared, Vector256<sbyte> w, Vector256<short> ones) =>
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w), ones);

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public static Vector256<int> TwoQuads(Vector256<byte> x, Vector256<byte> xShared, Vector256<byte> y, Vector256<byte> yShared,
                ref sbyte wq, int offset, Vector256<short> ones)
            {
                var px = Avx2.MultiplyAddAdjacent(x, Broadcast(ref wq, offset));
                var py = Avx2.MultiplyAddAdjacent(y, Broadcast(ref wq, 16 + offset));
                return Avx2.MultiplyAddAdjacent(Avx2.Add(px, py), ones);
            }
        }

        /// <summary>
        /// One block of 4 output channels over a chunk's packed pixels: per 16-pixel tile, 8 ymm accumulators (4 rows × 2
        /// vectors of 8 pixels) start at the row offsets; per quad, each activation vector's shared part (|x'| for the sign
        /// trick) serves the 4 rows, and each row's broadcast weight quad is multiplied as <typeparamref name="TP"/> says
        /// (vpmaddubsw, vpmaddwd by ones). With <see cref="PairQuads"/> two quads share one widening: per row the int16 pair
        /// sums of quads 2j and 2j + 1 are added (vpaddw, exact by the block's weight bound) before one vpmaddwd by ones, which
        /// saves a vpmaddwd and a vpaddd per two row-vectors. The epilogue requantizes with the row's scale, packs two rows per
        /// vector and stores 16 bytes per row into its output plane; without <see cref="FloatClamp"/> it skips vminps and
        /// applies the upper bound as vpminub on the bytes (equal: rounding and saturation are monotone, the bound an
        /// integer), and for a ReLU output (zy = 0, lo = 0, hi = 255) it leaves out the vpaddsw and both byte clamps, which
        /// would change nothing after the saturating packs (<see cref="PackRowsPlain"/>). With an empty <paramref name="y"/> it
        /// stores the int32 accumulators into <paramref name="y32"/> instead.
        /// </summary>
        private static void BlockAvx2<TP>(ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
            ReadOnlySpan<int> offsets, ReadOnlySpan<float> scales, Span<byte> y, Span<int> y32, int plane, int rows, int yZeroPoint, int clampMin, int clampMax,
            byte flags) where TP : struct, IQuadProducts
        {
            bool int32Output = y.IsEmpty;
            ref int z0 = ref MemoryMarshal.GetReference(y32);
            ref byte a0 = ref MemoryMarshal.GetReference(packed);
            ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            var off0 = Vector256.Create(offsets[0]); var off1 = Vector256.Create(offsets[1]);
            var off2 = Vector256.Create(offsets[2]); var off3 = Vector256.Create(offsets[3]);
            var s0 = Vector256.Create(scales[0]); var s1 = Vector256.Create(scales[1]);
            var s2 = Vector256.Create(scales[2]); var s3 = Vector256.Create(scales[3]);
            var lo = Vector256.Create((byte)clampMin); var hiByte = Vector256.Create((byte)clampMax);
            var hi = Vector256.Create((float)(clampMax - yZeroPoint));
            var zy = Vector256.Create((short)yZeroPoint);
            var ones = Vector256.Create((short)1);
            bool floatClamp = (flags & FloatClamp) != 0;
            bool plainBytes = yZeroPoint == 0 && clampMin == 0 && clampMax == 255;
            int pairedQuads = (flags & PairQuads) != 0 ? quads & ~1 : 0;
            Span<byte> partial = stackalloc byte[2 * PixelBlock];
            for (int p = 0; p < pixels; p += PixelBlock)
            {
                ref byte a = ref Unsafe.Add(ref a0, p * 4 * quads);
                Vector256<int> c00 = off0, c01 = off0, c10 = off1, c11 = off1, c20 = off2, c21 = off2, c30 = off3, c31 = off3;
                ref sbyte wq = ref w0;
                int q = 0;
                for (; q < pairedQuads; q += 2)
                {
                    // Pixels 0–7 of quads q and q + 1, then pixels 8–15: 4 activation registers live, the weights broadcast per row.
                    var xa = Vector256.LoadUnsafe(ref a);
                    var ya = Vector256.LoadUnsafe(ref a, 64);
                    var sxa = TP.Shared(xa);
                    var sya = TP.Shared(ya);
                    c00 = Avx2.Add(c00, TP.TwoQuads(xa, sxa, ya, sya, ref wq, 0, ones));
                    c10 = Avx2.Add(c10, TP.TwoQuads(xa, sxa, ya, sya, ref wq, 4, ones));
                    c20 = Avx2.Add(c20, TP.TwoQuads(xa, sxa, ya, sya, ref wq, 8, ones));
                    c30 = Avx2.Add(c30, TP.TwoQuads(xa, sxa, ya, sya, ref wq, 12, ones));
                    var xb = Vector256.LoadUnsafe(ref a, 32);
                    var yb = Vector256.LoadUnsafe(ref a, 96);
                    var sxb = TP.Shared(xb);
                    var syb = TP.Shared(yb);
                    c01 = Avx2.Add(c01, TP.TwoQuads(xb, sxb, yb, syb, ref wq, 0, ones));
                    c11 = Avx2.Add(c11, TP.TwoQuads(xb, sxb, yb, syb, ref wq, 4, ones));
                    c21 = Avx2.Add(c21, TP.TwoQuads(xb, sxb, yb, syb, ref wq, 8, ones));
                    c31 = Avx2.Add(c31, TP.TwoQuads(xb, sxb, yb, syb, ref wq, 12, ones));
                    a = ref Unsafe.Add(ref a, 128);
                    wq = ref Unsafe.Add(ref wq, 32);
                }
                for (; q < quads; q++)
                {
                    var xa = Vector256.LoadUnsafe(ref a);
                    var xb = Vector256.LoadUnsafe(ref a, 32);
                    a = ref Unsafe.Add(ref a, 64);
                    var sa = TP.Shared(xa);
                    var sb = TP.Shared(xb);

                    var w = Broadcast(ref wq, 0);
                    c00 = Avx2.Add(c00, TP.Quad(xa, sa, w, ones));
                    c01 = Avx2.Add(c01, TP.Quad(xb, sb, w, ones));
                    w = Broadcast(ref wq, 4);
                    c10 = Avx2.Add(c10, TP.Quad(xa, sa, w, ones));
                    c11 = Avx2.Add(c11, TP.Quad(xb, sb, w, ones));
                    w = Broadcast(ref wq, 8);
                    c20 = Avx2.Add(c20, TP.Quad(xa, sa, w, ones));
                    c21 = Avx2.Add(c21, TP.Quad(xb, sb, w, ones));
                    w = Broadcast(ref wq, 12);
                    c30 = Avx2.Add(c30, TP.Quad(xa, sa, w, ones));
                    c31 = Avx2.Add(c31, TP.Quad(xb, sb, w, ones));
                    wq = ref Unsafe.Add(ref wq, 16);
                }
                int count = Math.Min(PixelBlock, pixels - p);
                if (int32Output)
                {
                    StoreInt32Rows(c00, c01, c10, c11, c20, c21, c30, c31, ref Unsafe.Add(ref z0, p), plane, rows, count);
                    continue;
                }
                var r01 = floatClamp ? PackRows(c00, c01, c10, c11, s0, s1, hi, zy, lo)
                    : plainBytes ? PackRowsPlain(c00, c01, c10, c11, s0, s1) : PackRowsBytes(c00, c01, c10, c11, s0, s1, zy, lo, hiByte);
                StoreRows(r01, ref Unsafe.Add(ref y0, p), plane, Math.Min(rows, 2), count, partial);
                if (rows > 2)
                {
                    var r23 = floatClamp ? PackRows(c20, c21, c30, c31, s2, s3, hi, zy, lo)
                        : plainBytes ? PackRowsPlain(c20, c21, c30, c31, s2, s3) : PackRowsBytes(c20, c21, c30, c31, s2, s3, zy, lo, hiByte);
                    StoreRows(r23, ref Unsafe.Add(ref y0, 2 * plane + p), plane, rows - 2, count, partial);
                }
            }
        }

        /// <summary>The weight quad at wq + <paramref name="offset"/> (one row's four weights) in every dword.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<sbyte> Broadcast(ref sbyte wq, int offset) =>
            Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, offset)))).AsSByte();

        /// <summary>
        /// <see cref="PackRows"/> without the float clamp, for blocks whose |acc·scale| stays below 2^30 (cvtps2dq exact): the
        /// upper bound is one vpminub on the bytes, as the lower one is one vpmaxub.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<byte> PackRowsBytes(Vector256<int> a0, Vector256<int> a1, Vector256<int> b0, Vector256<int> b1,
            Vector256<float> sa, Vector256<float> sb, Vector256<short> zy, Vector256<byte> lo, Vector256<byte> hi)
        {
            var wa = Avx2.AddSaturate(Avx2.PackSignedSaturate(Scale(a0, sa), Scale(a1, sa)), zy);
            var wb = Avx2.AddSaturate(Avx2.PackSignedSaturate(Scale(b0, sb), Scale(b1, sb)), zy);
            var bytes = Avx2.Min(Avx2.Max(Avx2.PackUnsignedSaturate(wa, wb), lo), hi).AsInt32();
            return Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsByte();
        }

        /// <summary>
        /// <see cref="PackRowsBytes"/> for zy = 0, lo = 0, hi = 255 (a ReLU output): the saturating packs alone clamp to [0, 255],
        /// so the vpaddsw of zy and the vpmaxub / vpminub, which would change nothing, are left out.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<byte> PackRowsPlain(Vector256<int> a0, Vector256<int> a1, Vector256<int> b0, Vector256<int> b1,
            Vector256<float> sa, Vector256<float> sb)
        {
            var wa = Avx2.PackSignedSaturate(Scale(a0, sa), Scale(a1, sa));
            var wb = Avx2.PackSignedSaturate(Scale(b0, sb), Scale(b1, sb));
            var bytes = Avx2.PackUnsignedSaturate(wa, wb).AsInt32();
            return Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsByte();
        }

        /// <summary>RoundHalfEven((float)acc·scale): cvtdq2ps, mulps, cvtps2dq.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Scale(Vector256<int> acc, Vector256<float> scale)
            => Avx.ConvertToVector256Int32(Avx.Multiply(Avx.ConvertToVector256Single(acc), scale));

        /// <summary>
        /// Two rows of 16 accumulators requantized to bytes: [row A pixels 0–15 | row B pixels 0–15]. Only the upper clamp
        /// is applied in float (min(acc·scale, hi − zy): it keeps cvtps2dq in range); rounding then commutes with clamping to
        /// integer bounds, and the lower bound comes after the saturating packs (packssdw, vpaddsw zy, packuswb send anything
        /// below 0 to 0, and lo ≥ 0) as one vpmaxub. packssdw and packuswb interleave 4-pixel groups per 128-bit lane; vpermd
        /// restores pixel order.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<byte> PackRows(Vector256<int> a0, Vector256<int> a1, Vector256<int> b0, Vector256<int> b1,
            Vector256<float> sa, Vector256<float> sb, Vector256<float> hi, Vector256<short> zy, Vector256<byte> lo)
        {
            var wa = Avx2.AddSaturate(Avx2.PackSignedSaturate(ScaleMin(a0, sa, hi), ScaleMin(a1, sa, hi)), zy);
            var wb = Avx2.AddSaturate(Avx2.PackSignedSaturate(ScaleMin(b0, sb, hi), ScaleMin(b1, sb, hi)), zy);
            // Dwords: A0–3, A8–11, B0–3, B8–11 | A4–7, A12–15, B4–7, B12–15.
            var bytes = Avx2.Max(Avx2.PackUnsignedSaturate(wa, wb), lo).AsInt32();
            return Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsByte();
        }

        /// <summary>RoundHalfEven(min((float)acc·scale, hi)): cvtdq2ps, mulps, minps, cvtps2dq (below −2^31 it gives −2^31, still below any bound).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> ScaleMin(Vector256<int> acc, Vector256<float> scale, Vector256<float> hi)
            => Avx.ConvertToVector256Int32(Avx.Min(Avx.Multiply(Avx.ConvertToVector256Single(acc), scale), hi));

        /// <summary>ConvInteger's epilogue: the first <paramref name="rows"/> rows of int32 accumulators, <paramref name="count"/> pixels each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreInt32Rows(Vector256<int> c00, Vector256<int> c01, Vector256<int> c10, Vector256<int> c11,
            Vector256<int> c20, Vector256<int> c21, Vector256<int> c30, Vector256<int> c31, ref int dst, int plane, int rows, int count)
        {
            StoreInt32Row(c00, c01, ref dst, count);
            if (rows > 1) StoreInt32Row(c10, c11, ref Unsafe.Add(ref dst, plane), count);
            if (rows > 2) StoreInt32Row(c20, c21, ref Unsafe.Add(ref dst, 2 * plane), count);
            if (rows > 3) StoreInt32Row(c30, c31, ref Unsafe.Add(ref dst, 3 * plane), count);
        }

        /// <summary>One row's 16 accumulators (pixels 0–7 in <paramref name="lo"/>, 8–15 in <paramref name="hi"/>), the first <paramref name="count"/> stored.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreInt32Row(Vector256<int> lo, Vector256<int> hi, ref int dst, int count)
        {
            if (count == PixelBlock)
            {
                lo.StoreUnsafe(ref dst);
                hi.StoreUnsafe(ref dst, 8);
                return;
            }
            for (int j = 0; j < count; j++) Unsafe.Add(ref dst, j) = j < 8 ? lo.GetElement(j) : hi.GetElement(j - 8);
        }

        /// <summary>Stores the first <paramref name="rows"/> (1 or 2) rows of a packed pair, <paramref name="count"/> pixels each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRows(Vector256<byte> pair, ref byte dst, int plane, int rows, int count, Span<byte> partial)
        {
            if (count == PixelBlock)
            {
                pair.GetLower().StoreUnsafe(ref dst);
                if (rows > 1) pair.GetUpper().StoreUnsafe(ref Unsafe.Add(ref dst, plane));
                return;
            }
            pair.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
            for (int j = 0; j < count; j++) Unsafe.Add(ref dst, j) = partial[j];
            if (rows > 1)
                for (int j = 0; j < count; j++) Unsafe.Add(ref dst, plane + j) = partial[PixelBlock + j];
        }
    }
}
