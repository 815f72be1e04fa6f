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
            const int Flip = unchecked((int)0x80808080);
            ref sbyte bq = ref panel;
            for (int q = 0; q < quads; q++)
            {
                var b0 = Vector256.LoadUnsafe(ref bq);
                var b1 = Vector256.LoadUnsafe(ref bq, 32);
                bq = ref Unsafe.Add(ref bq, 64);

                var x = Vector256.Create(Quad(ref r0, q) ^ Flip).AsSByte();
                var ax = Avx2.Abs(x);
                c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Vector256.Create(Quad(ref r1, q) ^ Flip).AsSByte();
                ax = Avx2.Abs(x);
                c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Vector256.Create(Quad(ref r2, q) ^ Flip).AsSByte();
                ax = Avx2.Abs(x);
                c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));

                x = Vector256.Create(Quad(ref r3, q) ^ Flip).AsSByte();
                ax = Avx2.Abs(x);
                c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b0, x)), ones));
                c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, Avx2.Sign(b1, x)), ones));
            }
            c00.StoreUnsafe(ref t, 0); c01.StoreUnsafe(ref t, 8);
            c10.StoreUnsafe(ref t, 16); c11.StoreUnsafe(ref t, 24);
            c20.StoreUnsafe(ref t, 32); c21.StoreUnsafe(ref t, 40);
            c30.StoreUnsafe(ref t, 48); c31.StoreUnsafe(ref t, 56);
        }
    }
}
