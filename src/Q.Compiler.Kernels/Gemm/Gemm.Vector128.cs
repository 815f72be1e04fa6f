#nullable enable
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class Gemm
    {
        /// <summary>
        /// Arm64 AdvSimd: a 16-column panel is four Vector128 per row; with 32 vector registers the tile is 6 rows
        /// (24 accumulators, 4 B loads and 6 broadcasts of A per k), multiply-adds fused (FMLA).
        /// </summary>
        internal readonly struct AdvSimdKernel : IGemmKernel
        {
            public static int MaxRows => 6;

            public static void Run(ref GemmTile t, int rows) => Vector128Tiles.Run(ref t, rows);
        }

        /// <summary>
        /// Generic 128-bit SIMD (x64 without AVX2, WebAssembly, other Arm runtimes): the AdvSimd code with tiles of at most
        /// 3 rows (12 accumulators), which fits 16 XMM registers; multiply-add is fused where FMA exists.
        /// </summary>
        internal readonly struct Vector128Kernel : IGemmKernel
        {
            public static int MaxRows => 3;

            public static void Run(ref GemmTile t, int rows) => Vector128Tiles.Run(ref t, rows);
        }

        /// <summary>The Vector128 tile code shared by <see cref="AdvSimdKernel"/> and <see cref="Vector128Kernel"/>.</summary>
        private static class Vector128Tiles
        {
            public static void Run(ref GemmTile t, int rows)
            {
                if (t.Indirect) Run<OffsetRows>(ref t, rows);
                else Run<StridedRows>(ref t, rows);
            }

            private static void Run<TB>(ref GemmTile t, int rows) where TB : struct, IBRows
            {
                switch (rows)
                {
                    case 1: Tile<Rows1, TB>(ref t); break;
                    case 2: Tile<Rows2, TB>(ref t); break;
                    case 3: Tile<Rows3, TB>(ref t); break;
                    case 4: Tile<Rows4, TB>(ref t); break;
                    case 5: Tile<Rows5, TB>(ref t); break;
                    default: Tile<Rows6, TB>(ref t); break;
                }
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
                AdvSimd.IsSupported ? AdvSimd.FusedMultiplyAdd(c, a, b) :
                Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector128<float> Clamp(Vector128<float> v, Vector128<float> lo, Vector128<float> hi) =>
                Sse.IsSupported ? Sse.Min(Sse.Max(v, lo), hi) :
                AdvSimd.IsSupported ? AdvSimd.Min(AdvSimd.Max(v, lo), hi) : Vector128.Min(Vector128.Max(v, lo), hi);

            private static void Tile<R, TB>(ref GemmTile t) where R : struct, IRowCount where TB : struct, IBRows
            {
                nint lda = t.Lda, lda2 = 2 * lda, lda3 = 3 * lda, lda4 = 4 * lda, lda5 = 5 * lda;
                nint ldc = t.Ldc, aStep = t.AStep, ldb = t.Ldb;
                int k = t.K;
                for (int p = 0; p < t.Panels; p++)
                {
                    ref float bPanel = ref Unsafe.Add(ref t.B, p * t.PanelStride);
                    ref float b = ref bPanel;
                    ref int off = ref t.Offsets;
                    ref float c = ref Unsafe.Add(ref t.C, p * 16);
                    Vector128<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default, c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default, c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
                    if (t.Accumulate)
                    {
                        c00 = Vector128.LoadUnsafe(ref c); c01 = Vector128.LoadUnsafe(ref c, 4); c02 = Vector128.LoadUnsafe(ref c, 8); c03 = Vector128.LoadUnsafe(ref c, 12);
                        if (R.Value > 1) { c10 = Vector128.LoadUnsafe(ref c, (nuint)(ldc)); c11 = Vector128.LoadUnsafe(ref c, (nuint)(ldc) + 4); c12 = Vector128.LoadUnsafe(ref c, (nuint)(ldc) + 8); c13 = Vector128.LoadUnsafe(ref c, (nuint)(ldc) + 12); }
                        if (R.Value > 2) { c20 = Vector128.LoadUnsafe(ref c, (nuint)(2 * ldc)); c21 = Vector128.LoadUnsafe(ref c, (nuint)(2 * ldc) + 4); c22 = Vector128.LoadUnsafe(ref c, (nuint)(2 * ldc) + 8); c23 = Vector128.LoadUnsafe(ref c, (nuint)(2 * ldc) + 12); }
                        if (R.Value > 3) { c30 = Vector128.LoadUnsafe(ref c, (nuint)(3 * ldc)); c31 = Vector128.LoadUnsafe(ref c, (nuint)(3 * ldc) + 4); c32 = Vector128.LoadUnsafe(ref c, (nuint)(3 * ldc) + 8); c33 = Vector128.LoadUnsafe(ref c, (nuint)(3 * ldc) + 12); }
                        if (R.Value > 4) { c40 = Vector128.LoadUnsafe(ref c, (nuint)(4 * ldc)); c41 = Vector128.LoadUnsafe(ref c, (nuint)(4 * ldc) + 4); c42 = Vector128.LoadUnsafe(ref c, (nuint)(4 * ldc) + 8); c43 = Vector128.LoadUnsafe(ref c, (nuint)(4 * ldc) + 12); }
                        if (R.Value > 5) { c50 = Vector128.LoadUnsafe(ref c, (nuint)(5 * ldc)); c51 = Vector128.LoadUnsafe(ref c, (nuint)(5 * ldc) + 4); c52 = Vector128.LoadUnsafe(ref c, (nuint)(5 * ldc) + 8); c53 = Vector128.LoadUnsafe(ref c, (nuint)(5 * ldc) + 12); }
                    }
                    else
                    {
                        ref float cb = ref Unsafe.Add(ref t.ColBias, p * t.ColBiasPanelStep);
                        var b0 = Vector128.LoadUnsafe(ref cb); var b1 = Vector128.LoadUnsafe(ref cb, 4);
                        var b2 = Vector128.LoadUnsafe(ref cb, 8); var b3 = Vector128.LoadUnsafe(ref cb, 12);
                        nint rs = t.RowBiasStep;
                        var r0 = Vector128.Create(t.RowBias); c00 = b0 + r0; c01 = b1 + r0; c02 = b2 + r0; c03 = b3 + r0;
                        if (R.Value > 1) { var r = Vector128.Create(Unsafe.Add(ref t.RowBias, rs)); c10 = b0 + r; c11 = b1 + r; c12 = b2 + r; c13 = b3 + r; }
                        if (R.Value > 2) { var r = Vector128.Create(Unsafe.Add(ref t.RowBias, 2 * rs)); c20 = b0 + r; c21 = b1 + r; c22 = b2 + r; c23 = b3 + r; }
                        if (R.Value > 3) { var r = Vector128.Create(Unsafe.Add(ref t.RowBias, 3 * rs)); c30 = b0 + r; c31 = b1 + r; c32 = b2 + r; c33 = b3 + r; }
                        if (R.Value > 4) { var r = Vector128.Create(Unsafe.Add(ref t.RowBias, 4 * rs)); c40 = b0 + r; c41 = b1 + r; c42 = b2 + r; c43 = b3 + r; }
                        if (R.Value > 5) { var r = Vector128.Create(Unsafe.Add(ref t.RowBias, 5 * rs)); c50 = b0 + r; c51 = b1 + r; c52 = b2 + r; c53 = b3 + r; }
                    }
                    ref float a = ref t.A;
                    for (int kk = 0; kk < k; kk++)
                    {
                        if (TB.Indirect) b = ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk));
                        var v0 = Vector128.LoadUnsafe(ref b); var v1 = Vector128.LoadUnsafe(ref b, 4);
                        var v2 = Vector128.LoadUnsafe(ref b, 8); var v3 = Vector128.LoadUnsafe(ref b, 12);
                        var x = Vector128.Create(a); c00 = MulAdd(x, v0, c00); c01 = MulAdd(x, v1, c01); c02 = MulAdd(x, v2, c02); c03 = MulAdd(x, v3, c03);
                        if (R.Value > 1) { x = Vector128.Create(Unsafe.Add(ref a, lda)); c10 = MulAdd(x, v0, c10); c11 = MulAdd(x, v1, c11); c12 = MulAdd(x, v2, c12); c13 = MulAdd(x, v3, c13); }
                        if (R.Value > 2) { x = Vector128.Create(Unsafe.Add(ref a, lda2)); c20 = MulAdd(x, v0, c20); c21 = MulAdd(x, v1, c21); c22 = MulAdd(x, v2, c22); c23 = MulAdd(x, v3, c23); }
                        if (R.Value > 3) { x = Vector128.Create(Unsafe.Add(ref a, lda3)); c30 = MulAdd(x, v0, c30); c31 = MulAdd(x, v1, c31); c32 = MulAdd(x, v2, c32); c33 = MulAdd(x, v3, c33); }
                        if (R.Value > 4) { x = Vector128.Create(Unsafe.Add(ref a, lda4)); c40 = MulAdd(x, v0, c40); c41 = MulAdd(x, v1, c41); c42 = MulAdd(x, v2, c42); c43 = MulAdd(x, v3, c43); }
                        if (R.Value > 5) { x = Vector128.Create(Unsafe.Add(ref a, lda5)); c50 = MulAdd(x, v0, c50); c51 = MulAdd(x, v1, c51); c52 = MulAdd(x, v2, c52); c53 = MulAdd(x, v3, c53); }
                        a = ref Unsafe.Add(ref a, aStep);
                        if (!TB.Indirect) b = ref Unsafe.Add(ref b, ldb);
                    }
                    if (t.Clamp)
                    {
                        var lo = Vector128.Create(t.Lo); var hi = Vector128.Create(t.Hi);
                        c00 = Clamp(c00, lo, hi); c01 = Clamp(c01, lo, hi); c02 = Clamp(c02, lo, hi); c03 = Clamp(c03, lo, hi);
                        if (R.Value > 1) { c10 = Clamp(c10, lo, hi); c11 = Clamp(c11, lo, hi); c12 = Clamp(c12, lo, hi); c13 = Clamp(c13, lo, hi); }
                        if (R.Value > 2) { c20 = Clamp(c20, lo, hi); c21 = Clamp(c21, lo, hi); c22 = Clamp(c22, lo, hi); c23 = Clamp(c23, lo, hi); }
                        if (R.Value > 3) { c30 = Clamp(c30, lo, hi); c31 = Clamp(c31, lo, hi); c32 = Clamp(c32, lo, hi); c33 = Clamp(c33, lo, hi); }
                        if (R.Value > 4) { c40 = Clamp(c40, lo, hi); c41 = Clamp(c41, lo, hi); c42 = Clamp(c42, lo, hi); c43 = Clamp(c43, lo, hi); }
                        if (R.Value > 5) { c50 = Clamp(c50, lo, hi); c51 = Clamp(c51, lo, hi); c52 = Clamp(c52, lo, hi); c53 = Clamp(c53, lo, hi); }
                    }
                    c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, 4); c02.StoreUnsafe(ref c, 8); c03.StoreUnsafe(ref c, 12);
                    if (R.Value > 1) { c10.StoreUnsafe(ref c, (nuint)(ldc)); c11.StoreUnsafe(ref c, (nuint)(ldc) + 4); c12.StoreUnsafe(ref c, (nuint)(ldc) + 8); c13.StoreUnsafe(ref c, (nuint)(ldc) + 12); }
                    if (R.Value > 2) { c20.StoreUnsafe(ref c, (nuint)(2 * ldc)); c21.StoreUnsafe(ref c, (nuint)(2 * ldc) + 4); c22.StoreUnsafe(ref c, (nuint)(2 * ldc) + 8); c23.StoreUnsafe(ref c, (nuint)(2 * ldc) + 12); }
                    if (R.Value > 3) { c30.StoreUnsafe(ref c, (nuint)(3 * ldc)); c31.StoreUnsafe(ref c, (nuint)(3 * ldc) + 4); c32.StoreUnsafe(ref c, (nuint)(3 * ldc) + 8); c33.StoreUnsafe(ref c, (nuint)(3 * ldc) + 12); }
                    if (R.Value > 4) { c40.StoreUnsafe(ref c, (nuint)(4 * ldc)); c41.StoreUnsafe(ref c, (nuint)(4 * ldc) + 4); c42.StoreUnsafe(ref c, (nuint)(4 * ldc) + 8); c43.StoreUnsafe(ref c, (nuint)(4 * ldc) + 12); }
                    if (R.Value > 5) { c50.StoreUnsafe(ref c, (nuint)(5 * ldc)); c51.StoreUnsafe(ref c, (nuint)(5 * ldc) + 4); c52.StoreUnsafe(ref c, (nuint)(5 * ldc) + 8); c53.StoreUnsafe(ref c, (nuint)(5 * ldc) + 12); }
                }
            }
        }
    }
}
