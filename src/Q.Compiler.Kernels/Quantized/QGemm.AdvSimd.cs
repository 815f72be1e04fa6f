#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Q.Compiler.Kernels
{
    internal static partial class QGemm
    {
        /// <summary>
        /// Arm64 with the dot-product extension: SDOT multiplies the 4 int8 of a' = a ^ 0x80 by a lane's 4 int8 weights
        /// and adds them into that lane's int32, no intermediate width, so every weight (−128 included) is exact.
        /// 4 rows × 16 columns = 16 accumulators.
        /// </summary>
        private static void MicroAdvSimdDp(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref byte r0 = ref RowRef(ref a, lda, rows, 0);
            ref byte r1 = ref RowRef(ref a, lda, rows, 1);
            ref byte r2 = ref RowRef(ref a, lda, rows, 2);
            ref byte r3 = ref RowRef(ref a, lda, rows, 3);
            ref int t = ref MemoryMarshal.GetReference(tile);
            Vector128<int> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
            if (accumulate)
            {
                c00 = Vector128.LoadUnsafe(ref t, 0); c01 = Vector128.LoadUnsafe(ref t, 4); c02 = Vector128.LoadUnsafe(ref t, 8); c03 = Vector128.LoadUnsafe(ref t, 12);
                c10 = Vector128.LoadUnsafe(ref t, 16); c11 = Vector128.LoadUnsafe(ref t, 20); c12 = Vector128.LoadUnsafe(ref t, 24); c13 = Vector128.LoadUnsafe(ref t, 28);
                c20 = Vector128.LoadUnsafe(ref t, 32); c21 = Vector128.LoadUnsafe(ref t, 36); c22 = Vector128.LoadUnsafe(ref t, 40); c23 = Vector128.LoadUnsafe(ref t, 44);
                c30 = Vector128.LoadUnsafe(ref t, 48); c31 = Vector128.LoadUnsafe(ref t, 52); c32 = Vector128.LoadUnsafe(ref t, 56); c33 = Vector128.LoadUnsafe(ref t, 60);
            }
            else
            {
                c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = Vector128<int>.Zero;
            }
            const int Flip = unchecked((int)0x80808080);
            ref sbyte bq = ref panel;
            for (int q = 0; q < quads; q++)
            {
                var b0 = Vector128.LoadUnsafe(ref bq);
                var b1 = Vector128.LoadUnsafe(ref bq, 16);
                var b2 = Vector128.LoadUnsafe(ref bq, 32);
                var b3 = Vector128.LoadUnsafe(ref bq, 48);
                bq = ref Unsafe.Add(ref bq, 64);

                var x = Vector128.Create(Quad(ref r0, q) ^ Flip).AsSByte();
                c00 = Dp.DotProduct(c00, x, b0); c01 = Dp.DotProduct(c01, x, b1); c02 = Dp.DotProduct(c02, x, b2); c03 = Dp.DotProduct(c03, x, b3);
                x = Vector128.Create(Quad(ref r1, q) ^ Flip).AsSByte();
                c10 = Dp.DotProduct(c10, x, b0); c11 = Dp.DotProduct(c11, x, b1); c12 = Dp.DotProduct(c12, x, b2); c13 = Dp.DotProduct(c13, x, b3);
                x = Vector128.Create(Quad(ref r2, q) ^ Flip).AsSByte();
                c20 = Dp.DotProduct(c20, x, b0); c21 = Dp.DotProduct(c21, x, b1); c22 = Dp.DotProduct(c22, x, b2); c23 = Dp.DotProduct(c23, x, b3);
                x = Vector128.Create(Quad(ref r3, q) ^ Flip).AsSByte();
                c30 = Dp.DotProduct(c30, x, b0); c31 = Dp.DotProduct(c31, x, b1); c32 = Dp.DotProduct(c32, x, b2); c33 = Dp.DotProduct(c33, x, b3);
            }
            c00.StoreUnsafe(ref t, 0); c01.StoreUnsafe(ref t, 4); c02.StoreUnsafe(ref t, 8); c03.StoreUnsafe(ref t, 12);
            c10.StoreUnsafe(ref t, 16); c11.StoreUnsafe(ref t, 20); c12.StoreUnsafe(ref t, 24); c13.StoreUnsafe(ref t, 28);
            c20.StoreUnsafe(ref t, 32); c21.StoreUnsafe(ref t, 36); c22.StoreUnsafe(ref t, 40); c23.StoreUnsafe(ref t, 44);
            c30.StoreUnsafe(ref t, 48); c31.StoreUnsafe(ref t, 52); c32.StoreUnsafe(ref t, 56); c33.StoreUnsafe(ref t, 60);
        }

        /// <summary>
        /// Arm64 without SDOT: SMULL/SMULL2 widen a'·b to int16 (|a'·b| ≤ 16384, exact), SADALP adds adjacent pairs into
        /// int32 "half columns" (lanes = column j's k-pairs 01 and 23), and a final ADDP folds the halves into columns.
        /// 2 rows × 16 columns = 16 half-column accumulators.
        /// </summary>
        private static void MicroAdvSimd(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref int t = ref MemoryMarshal.GetReference(tile);
            const int Flip = unchecked((int)0x80808080);
            for (int r = 0; r < rows; r++)
            {
                ref byte row = ref Unsafe.Add(ref a, r * lda);
                Vector128<int> h0 = Vector128<int>.Zero, h1 = h0, h2 = h0, h3 = h0, h4 = h0, h5 = h0, h6 = h0, h7 = h0;
                ref sbyte bq = ref panel;
                for (int q = 0; q < quads; q++)
                {
                    var x = Vector128.Create(Quad(ref row, q) ^ Flip).AsSByte();
                    var xl = x.GetLower();
                    var b0 = Vector128.LoadUnsafe(ref bq);
                    var b1 = Vector128.LoadUnsafe(ref bq, 16);
                    var b2 = Vector128.LoadUnsafe(ref bq, 32);
                    var b3 = Vector128.LoadUnsafe(ref bq, 48);
                    bq = ref Unsafe.Add(ref bq, 64);
                    h0 = AdvSimd.AddPairwiseWideningAndAdd(h0, AdvSimd.MultiplyWideningLower(b0.GetLower(), xl));
                    h1 = AdvSimd.AddPairwiseWideningAndAdd(h1, AdvSimd.MultiplyWideningUpper(b0, x));
                    h2 = AdvSimd.AddPairwiseWideningAndAdd(h2, AdvSimd.MultiplyWideningLower(b1.GetLower(), xl));
                    h3 = AdvSimd.AddPairwiseWideningAndAdd(h3, AdvSimd.MultiplyWideningUpper(b1, x));
                    h4 = AdvSimd.AddPairwiseWideningAndAdd(h4, AdvSimd.MultiplyWideningLower(b2.GetLower(), xl));
                    h5 = AdvSimd.AddPairwiseWideningAndAdd(h5, AdvSimd.MultiplyWideningUpper(b2, x));
                    h6 = AdvSimd.AddPairwiseWideningAndAdd(h6, AdvSimd.MultiplyWideningLower(b3.GetLower(), xl));
                    h7 = AdvSimd.AddPairwiseWideningAndAdd(h7, AdvSimd.MultiplyWideningUpper(b3, x));
                }
                ref int tr = ref Unsafe.Add(ref t, r * PanelWidth);
                var s0 = AdvSimd.Arm64.AddPairwise(h0, h1);
                var s1 = AdvSimd.Arm64.AddPairwise(h2, h3);
                var s2 = AdvSimd.Arm64.AddPairwise(h4, h5);
                var s3 = AdvSimd.Arm64.AddPairwise(h6, h7);
                if (accumulate)
                {
                    s0 += Vector128.LoadUnsafe(ref tr); s1 += Vector128.LoadUnsafe(ref tr, 4);
                    s2 += Vector128.LoadUnsafe(ref tr, 8); s3 += Vector128.LoadUnsafe(ref tr, 12);
                }
                s0.StoreUnsafe(ref tr); s1.StoreUnsafe(ref tr, 4); s2.StoreUnsafe(ref tr, 8); s3.StoreUnsafe(ref tr, 12);
            }
        }
    }
}
