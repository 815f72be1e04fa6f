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
        /// <summary>
        /// One block of 4 output channels over a chunk's packed pixels: per 16-pixel tile, 8 ymm accumulators (4 rows × 2
        /// vectors of 8 pixels) start at the row offsets; per quad, |x'| of each activation vector is shared by the rows and
        /// each row's broadcast weight quad takes the sign of x' (vpsignb), then vpmaddubsw and vpmaddwd by ones. The epilogue
        /// requantizes with the row's scale, packs two rows per vector and stores 16 bytes per row into its output plane.
        /// </summary>
        private static void BlockAvx2(ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
            ReadOnlySpan<int> offsets, ReadOnlySpan<float> scales, Span<byte> y, int plane, int rows, int yZeroPoint, int clampMin, int clampMax)
        {
            ref byte a0 = ref MemoryMarshal.GetReference(packed);
            ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            var off0 = Vector256.Create(offsets[0]); var off1 = Vector256.Create(offsets[1]);
            var off2 = Vector256.Create(offsets[2]); var off3 = Vector256.Create(offsets[3]);
            var s0 = Vector256.Create(scales[0]); var s1 = Vector256.Create(scales[1]);
            var s2 = Vector256.Create(scales[2]); var s3 = Vector256.Create(scales[3]);
            var lo = Vector256.Create((byte)clampMin); var hi = Vector256.Create((float)(clampMax - yZeroPoint));
            var zy = Vector256.Create((short)yZeroPoint);
            var ones = Vector256.Create((short)1);
            Span<byte> partial = stackalloc byte[2 * PixelBlock];
            for (int p = 0; p < pixels; p += PixelBlock)
            {
                ref byte a = ref Unsafe.Add(ref a0, p * 4 * quads);
                Vector256<int> c00 = off0, c01 = off0, c10 = off1, c11 = off1, c20 = off2, c21 = off2, c30 = off3, c31 = off3;
                ref sbyte wq = ref w0;
                for (int q = 0; q < quads; q++)
                {
                    var xa = Vector256.LoadUnsafe(ref a).AsSByte();
                    var xb = Vector256.LoadUnsafe(ref a, 32).AsSByte();
                    a = ref Unsafe.Add(ref a, 64);
                    var aa = Avx2.Abs(xa);
                    var ab = Avx2.Abs(xb);

                    var w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref wq))).AsSByte();
                    c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                    c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                    w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 4)))).AsSByte();
                    c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                    c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                    w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 8)))).AsSByte();
                    c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                    c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                    w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 12)))).AsSByte();
                    c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                    c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                    wq = ref Unsafe.Add(ref wq, 16);
                }
                int count = Math.Min(PixelBlock, pixels - p);
                var r01 = PackRows(c00, c01, c10, c11, s0, s1, hi, zy, lo);
                StoreRows(r01, ref Unsafe.Add(ref y0, p), plane, Math.Min(rows, 2), count, partial);
                if (rows > 2)
                {
                    var r23 = PackRows(c20, c21, c30, c31, s2, s3, hi, zy, lo);
                    StoreRows(r23, ref Unsafe.Add(ref y0, 2 * plane + p), plane, rows - 2, count, partial);
                }
            }
        }

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
