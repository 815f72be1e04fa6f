#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QGemm
    {
        /// <summary>
        /// AVX2 micro-kernel, 4 rows × 16 columns (8 ymm accumulators). Per K-quad and row: a' = a ^ 0x80 broadcast,
        /// |a'| (u8) times b·sgn(a') (s8) with vpmaddubsw (pairs bounded by 32512: no saturation, needs b ≠ −128), then
        /// vpmaddwd by ones sums the pairs into int32 lanes = columns.
        /// </summary>
        private static void MicroAvx2(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref byte r0 = ref RowRef(ref a, lda, rows, 0);
            ref byte r1 = ref RowRef(ref a, lda, rows, 1);
            ref byte r2 = ref RowRef(ref a, lda, rows, 2);
            ref byte r3 = ref RowRef(ref a, lda, rows, 3);
            ref int t = ref MemoryMarshal.GetReference(tile);
            Vector256<int> c00, c01, c10, c11, c20, c21, c30, c31;
            if (accumulate)
            {
                c00 = Vector256.LoadUnsafe(ref t, 0); c01 = Vector256.LoadUnsafe(ref t, 8);
                c10 = Vector256.LoadUnsafe(ref t, 16); c11 = Vector256.LoadUnsafe(ref t, 24);
                c20 = Vector256.LoadUnsafe(ref t, 32); c21 = Vector256.LoadUnsafe(ref t, 40);
                c30 = Vector256.LoadUnsafe(ref t, 48); c31 = Vector256.LoadUnsafe(ref t, 56);
            }
            else
            {
                c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector256<int>.Zero;
            }
            var ones = Vector256.Create((short)1);
            // a ^ 0x80 on the broadcast vector: the broadcast then loads straight from memory (vpbroadcastd ymm, m32).
            var flip = Vector256.Create(unchecked((sbyte)0x80));
            ref sbyte bq = ref panel;
            for (int q = 0; q < quads; q++)
            {
                var b0 = Vector256.LoadUnsafe(ref bq);
                var b1 = Vector256.LoadUnsafe(ref bq, 32);
                bq = ref Unsafe.Add(ref bq, 64);

                var x = Avx2.Xor(Vector256.Create(Quad(ref r0, q)).AsSByte(), flip);
                var ax = Avx2.Abs(x);
                c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Avx2.Xor(Vector256.Create(Quad(ref r1, q)).AsSByte(), flip);
                ax = Avx2.Abs(x);
                c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Avx2.Xor(Vector256.Create(Quad(ref r2, q)).AsSByte(), flip);
                ax = Avx2.Abs(x);
                c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Avx2.Xor(Vector256.Create(Quad(ref r3, q)).AsSByte(), flip);
                ax = Avx2.Abs(x);
                c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));
            }
            c00.StoreUnsafe(ref t, 0); c01.StoreUnsafe(ref t, 8);
            c10.StoreUnsafe(ref t, 16); c11.StoreUnsafe(ref t, 24);
            c20.StoreUnsafe(ref t, 32); c21.StoreUnsafe(ref t, 40);
            c30.StoreUnsafe(ref t, 48); c31.StoreUnsafe(ref t, 56);
        }

        /// <summary>
        /// The fused AVX2 path for one 16-column panel, requantized output and no weight zero points: every full 4-row tile
        /// of the first <paramref name="m"/> rows of A (whose <paramref name="quads"/> whole quads the caller has checked to
        /// lie within A; a partial last quad meets zero-padded weights) is multiplied as in <see cref="MicroAvx2"/> with the accumulators starting at the column
        /// offsets (exact mod 2^32), then requantized, packed and stored from registers, with no round trip through a
        /// tile in memory nor a call per tile (which dominate when K is small). Returns the rows done (a multiple of 4).
        /// </summary>
        private static int PanelAvx2Requantized(ref byte a, int k, int m, ref sbyte panel, int quads, Span<int> colOffset,
            Span<float> panelScale, ref byte y, int ldy, int cols, int yZeroPoint, int clampMin, int clampMax)
        {
            ref int o0 = ref MemoryMarshal.GetReference(colOffset);
            ref float ps = ref MemoryMarshal.GetReference(panelScale);
            var off0 = Vector256.LoadUnsafe(ref o0); var off1 = Vector256.LoadUnsafe(ref o0, 8);
            var s0 = Vector256.LoadUnsafe(ref ps); var s1 = Vector256.LoadUnsafe(ref ps, 8);
            var lo = Vector256.Create((float)(clampMin - yZeroPoint)); var hi = Vector256.Create((float)(clampMax - yZeroPoint));
            var zy = Vector256.Create(yZeroPoint);
            var ones = Vector256.Create((short)1);
            var flip = Vector256.Create(unchecked((sbyte)0x80));
            Span<byte> partial = stackalloc byte[PanelWidth];
            int i0 = 0;
            for (; i0 + 4 <= m; i0 += 4)
            {
                ref byte r0 = ref Unsafe.Add(ref a, i0 * k);
                ref byte r1 = ref Unsafe.Add(ref r0, k);
                ref byte r2 = ref Unsafe.Add(ref r1, k);
                ref byte r3 = ref Unsafe.Add(ref r2, k);
                Vector256<int> c00 = off0, c01 = off1, c10 = off0, c11 = off1, c20 = off0, c21 = off1, c30 = off0, c31 = off1;
                ref sbyte bq = ref panel;
                for (int q = 0; q < quads; q++)
                {
                    var b0 = Vector256.LoadUnsafe(ref bq);
                    var b1 = Vector256.LoadUnsafe(ref bq, 32);
                    bq = ref Unsafe.Add(ref bq, 64);

                    var x = Avx2.Xor(Vector256.Create(Quad(ref r0, q)).AsSByte(), flip);
                    var ax = Avx2.Abs(x);
                    c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                    c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                    x = Avx2.Xor(Vector256.Create(Quad(ref r1, q)).AsSByte(), flip);
                    ax = Avx2.Abs(x);
                    c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                    c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                    x = Avx2.Xor(Vector256.Create(Quad(ref r2, q)).AsSByte(), flip);
                    ax = Avx2.Abs(x);
                    c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                    c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                    x = Avx2.Xor(Vector256.Create(Quad(ref r3, q)).AsSByte(), flip);
                    ax = Avx2.Abs(x);
                    c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                    c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));
                }
                ref byte dst = ref Unsafe.Add(ref y, i0 * ldy);
                StoreRow(Requantize.Avx2Row16(c00, c01, s0, s1, lo, hi, zy, signed: false), ref dst, cols, partial);
                StoreRow(Requantize.Avx2Row16(c10, c11, s0, s1, lo, hi, zy, signed: false), ref Unsafe.Add(ref dst, ldy), cols, partial);
                StoreRow(Requantize.Avx2Row16(c20, c21, s0, s1, lo, hi, zy, signed: false), ref Unsafe.Add(ref dst, 2 * ldy), cols, partial);
                StoreRow(Requantize.Avx2Row16(c30, c31, s0, s1, lo, hi, zy, signed: false), ref Unsafe.Add(ref dst, 3 * ldy), cols, partial);
            }
            return i0;
        }

        /// <summary>16 requantized bytes of one row, or their first <paramref name="cols"/> in a panel narrower than 16.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRow(Vector128<byte> packed, ref byte dst, int cols, Span<byte> partial)
        {
            if (cols == PanelWidth) packed.StoreUnsafe(ref dst);
            else
            {
                packed.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
                for (int j = 0; j < cols; j++) Unsafe.Add(ref dst, j) = partial[j];
            }
        }

        /// <summary>
        /// AVX2 for weights that include −128 (the sign trick cannot negate it): vpmovsxbw widens 4 columns × 4 k of B to
        /// int16, vpmaddwd multiplies them by the raw activations (0..255 as int16) and adds k-pairs into int32 "half
        /// columns"; vphaddd + vpermq fold the halves at the end. Exact for every weight (c = 0), at half the multiply
        /// throughput of <see cref="MicroAvx2"/>. 2 rows × 16 columns.
        /// </summary>
        private static void MicroAvx2Widen(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref byte r0 = ref RowRef(ref a, lda, rows, 0);
            ref byte r1 = ref RowRef(ref a, lda, rows, 1);
            Vector256<int> h00 = Vector256<int>.Zero, h01 = h00, h02 = h00, h03 = h00, h10 = h00, h11 = h00, h12 = h00, h13 = h00;
            ref sbyte bq = ref panel;
            for (int q = 0; q < quads; q++)
            {
                var w0 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref bq));
                var w1 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref bq, 16));
                var w2 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref bq, 32));
                var w3 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref bq, 48));
                bq = ref Unsafe.Add(ref bq, 64);
                var x = Widen4(Quad(ref r0, q));
                h00 = Avx2.Add(h00, Avx2.MultiplyAddAdjacent(w0, x)); h01 = Avx2.Add(h01, Avx2.MultiplyAddAdjacent(w1, x));
                h02 = Avx2.Add(h02, Avx2.MultiplyAddAdjacent(w2, x)); h03 = Avx2.Add(h03, Avx2.MultiplyAddAdjacent(w3, x));
                x = Widen4(Quad(ref r1, q));
                h10 = Avx2.Add(h10, Avx2.MultiplyAddAdjacent(w0, x)); h11 = Avx2.Add(h11, Avx2.MultiplyAddAdjacent(w1, x));
                h12 = Avx2.Add(h12, Avx2.MultiplyAddAdjacent(w2, x)); h13 = Avx2.Add(h13, Avx2.MultiplyAddAdjacent(w3, x));
            }
            ref int t = ref MemoryMarshal.GetReference(tile);
            StoreFolded(ref t, 0, h00, h01, accumulate);
            StoreFolded(ref t, 8, h02, h03, accumulate);
            if (rows > 1)
            {
                StoreFolded(ref t, 16, h10, h11, accumulate);
                StoreFolded(ref t, 24, h12, h13, accumulate);
            }
        }

        /// <summary>The 4 activation bytes of a quad as int16, repeated across the vector.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<short> Widen4(int quad)
        {
            uint u = (uint)quad;
            long v = (u & 0xFF) | (long)((u >> 8) & 0xFF) << 16 | (long)((u >> 16) & 0xFF) << 32 | (long)(u >> 24) << 48;
            return Vector256.Create(v).AsInt16();
        }

        /// <summary>Folds two half-column vectors (columns 0–3 and 4–7 of an 8-column group) into 8 column sums and stores them.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreFolded(ref int t, int offset, Vector256<int> hLo, Vector256<int> hHi, bool accumulate)
        {
            // hadd per 128-bit lane gives [c0 c1 c4 c5 | c2 c3 c6 c7]; vpermq 0xD8 restores column order.
            var c = Avx2.Permute4x64(Avx2.HorizontalAdd(hLo, hHi).AsInt64(), 0xD8).AsInt32();
            if (accumulate) c = Avx2.Add(c, Vector256.LoadUnsafe(ref t, (nuint)offset));
            c.StoreUnsafe(ref t, (nuint)offset);
        }
    }
}
