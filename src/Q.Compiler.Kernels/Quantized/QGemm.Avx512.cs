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
        /// AVX-512BW micro-kernel, 8 rows × 16 columns (one zmm per row: a 64-byte block is a whole K-quad of the panel).
        /// AVX-512 has no vpsignb, so b·sgn(a') is a select between b and −b (computed once per quad) on a' &lt; 0; where a' = 0,
        /// |a'| = 0 makes the choice irrelevant. Otherwise as <see cref="MicroAvx2"/>.
        /// </summary>
        private static void MicroAvx512(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref byte r0 = ref RowRef(ref a, lda, rows, 0);
            ref byte r1 = ref RowRef(ref a, lda, rows, 1);
            ref byte r2 = ref RowRef(ref a, lda, rows, 2);
            ref byte r3 = ref RowRef(ref a, lda, rows, 3);
            ref byte r4 = ref RowRef(ref a, lda, rows, 4);
            ref byte r5 = ref RowRef(ref a, lda, rows, 5);
            ref byte r6 = ref RowRef(ref a, lda, rows, 6);
            ref byte r7 = ref RowRef(ref a, lda, rows, 7);
            ref int t = ref MemoryMarshal.GetReference(tile);
            Vector512<int> c0, c1, c2, c3, c4, c5, c6, c7;
            if (accumulate)
            {
                c0 = Vector512.LoadUnsafe(ref t, 0); c1 = Vector512.LoadUnsafe(ref t, 16);
                c2 = Vector512.LoadUnsafe(ref t, 32); c3 = Vector512.LoadUnsafe(ref t, 48);
                c4 = Vector512.LoadUnsafe(ref t, 64); c5 = Vector512.LoadUnsafe(ref t, 80);
                c6 = Vector512.LoadUnsafe(ref t, 96); c7 = Vector512.LoadUnsafe(ref t, 112);
            }
            else
            {
                c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = Vector512<int>.Zero;
            }
            var ones = Vector512.Create((short)1);
            ref sbyte bq = ref panel;
            for (int q = 0; q < quads; q++)
            {
                var b = Vector512.LoadUnsafe(ref bq);
                var nb = Vector512<sbyte>.Zero - b;
                bq = ref Unsafe.Add(ref bq, 64);
                c0 = Avx512BW.Add(c0, Step512(Quad(ref r0, q), b, nb, ones));
                c1 = Avx512BW.Add(c1, Step512(Quad(ref r1, q), b, nb, ones));
                c2 = Avx512BW.Add(c2, Step512(Quad(ref r2, q), b, nb, ones));
                c3 = Avx512BW.Add(c3, Step512(Quad(ref r3, q), b, nb, ones));
                c4 = Avx512BW.Add(c4, Step512(Quad(ref r4, q), b, nb, ones));
                c5 = Avx512BW.Add(c5, Step512(Quad(ref r5, q), b, nb, ones));
                c6 = Avx512BW.Add(c6, Step512(Quad(ref r6, q), b, nb, ones));
                c7 = Avx512BW.Add(c7, Step512(Quad(ref r7, q), b, nb, ones));
            }
            c0.StoreUnsafe(ref t, 0); c1.StoreUnsafe(ref t, 16);
            c2.StoreUnsafe(ref t, 32); c3.StoreUnsafe(ref t, 48);
            c4.StoreUnsafe(ref t, 64); c5.StoreUnsafe(ref t, 80);
            c6.StoreUnsafe(ref t, 96); c7.StoreUnsafe(ref t, 112);
        }

        /// <summary>Σ over the quad of a'·b per column: |a'| (u8) · (a' &lt; 0 ? −b : b) (s8), pairs then quads summed.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> Step512(int quad, Vector512<sbyte> b, Vector512<sbyte> nb, Vector512<short> ones)
        {
            var x = Vector512.Create(quad ^ unchecked((int)0x80808080)).AsSByte();
            var s = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<sbyte>.Zero), nb, b);
            return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(x), s), ones);
        }
    }
}
