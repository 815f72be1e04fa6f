#nullable enable
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class Gemm
    {
        /// <summary>
        /// x64 AVX-512F: a panel of 16 columns is one Vector512, so the tile is up to 6 rows × two panels (32 columns):
        /// 12 accumulators, 2 B loads and 6 broadcasts of A per k, as in the AVX2 kernel at twice the width. An odd last
        /// panel is computed as a pair with itself and stored once. (Written with Vector512 operations, which .NET also
        /// runs without AVX-512 by emulation, so tests exercise this code on any machine.)
        /// </summary>
        internal readonly struct Avx512Kernel : IGemmKernel
        {
            public static int MaxRows => 6;

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
            private static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
                Avx512F.IsSupported ? Avx512F.FusedMultiplyAdd(a, b, c) : a * b + c;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector512<float> Clamp(Vector512<float> v, Vector512<float> lo, Vector512<float> hi) =>
                Avx512F.IsSupported ? Avx512F.Min(Avx512F.Max(v, lo), hi) : Vector512.Min(Vector512.Max(v, lo), hi);

            private static void Tile<R, TB>(ref GemmTile t) where R : struct, IRowCount where TB : struct, IBRows
            {
                nint lda = t.Lda, lda2 = 2 * lda, lda3 = 3 * lda, lda4 = 4 * lda, lda5 = 5 * lda;
                nint ldc = t.Ldc, aStep = t.AStep, ldb = t.Ldb;
                int k = t.K;
                for (int p = 0; p < t.Panels; p += 2)
                {
                    bool two = p + 1 < t.Panels;
                    // Offsets of the second panel in B, C and the column bias (0 when there is none: it duplicates the first).
                    nint bs = two ? t.PanelStride : 0, cs = two ? 16 : 0;
                    nint cbs = two ? t.ColBiasPanelStep : 0;
                    ref float bPanel = ref Unsafe.Add(ref t.B, p * t.PanelStride);
                    ref float b = ref bPanel;
                    ref int off = ref t.Offsets;
                    ref float c = ref Unsafe.Add(ref t.C, p * 16);
                    Vector512<float> c00, c01, c10 = default, c11 = default, c20 = default, c21 = default,
                        c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
                    if (t.Accumulate)
                    {
                        c00 = Vector512.LoadUnsafe(ref c); c01 = Vector512.LoadUnsafe(ref c, (nuint)cs);
                        if (R.Value > 1) { c10 = Vector512.LoadUnsafe(ref c, (nuint)ldc); c11 = Vector512.LoadUnsafe(ref c, (nuint)(ldc + cs)); }
                        if (R.Value > 2) { c20 = Vector512.LoadUnsafe(ref c, (nuint)(2 * ldc)); c21 = Vector512.LoadUnsafe(ref c, (nuint)(2 * ldc + cs)); }
                        if (R.Value > 3) { c30 = Vector512.LoadUnsafe(ref c, (nuint)(3 * ldc)); c31 = Vector512.LoadUnsafe(ref c, (nuint)(3 * ldc + cs)); }
                        if (R.Value > 4) { c40 = Vector512.LoadUnsafe(ref c, (nuint)(4 * ldc)); c41 = Vector512.LoadUnsafe(ref c, (nuint)(4 * ldc + cs)); }
                        if (R.Value > 5) { c50 = Vector512.LoadUnsafe(ref c, (nuint)(5 * ldc)); c51 = Vector512.LoadUnsafe(ref c, (nuint)(5 * ldc + cs)); }
                    }
                    else
                    {
                        ref float cb = ref Unsafe.Add(ref t.ColBias, p * t.ColBiasPanelStep);
                        var b0 = Vector512.LoadUnsafe(ref cb); var b1 = Vector512.LoadUnsafe(ref cb, (nuint)cbs);
                        nint rs = t.RowBiasStep;
                        var r0 = Vector512.Create(t.RowBias); c00 = b0 + r0; c01 = b1 + r0;
                        if (R.Value > 1) { var r = Vector512.Create(Unsafe.Add(ref t.RowBias, rs)); c10 = b0 + r; c11 = b1 + r; }
                        if (R.Value > 2) { var r = Vector512.Create(Unsafe.Add(ref t.RowBias, 2 * rs)); c20 = b0 + r; c21 = b1 + r; }
                        if (R.Value > 3) { var r = Vector512.Create(Unsafe.Add(ref t.RowBias, 3 * rs)); c30 = b0 + r; c31 = b1 + r; }
                        if (R.Value > 4) { var r = Vector512.Create(Unsafe.Add(ref t.RowBias, 4 * rs)); c40 = b0 + r; c41 = b1 + r; }
                        if (R.Value > 5) { var r = Vector512.Create(Unsafe.Add(ref t.RowBias, 5 * rs)); c50 = b0 + r; c51 = b1 + r; }
                    }
                    ref float a = ref t.A;
                    for (int kk = 0; kk < k; kk++)
                    {
                        if (TB.Indirect) b = ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk));
                        var v0 = Vector512.LoadUnsafe(ref b); var v1 = Vector512.LoadUnsafe(ref b, (nuint)bs);
                        var x = Vector512.Create(a); c00 = MulAdd(x, v0, c00); c01 = MulAdd(x, v1, c01);
                        if (R.Value > 1) { x = Vector512.Create(Unsafe.Add(ref a, lda)); c10 = MulAdd(x, v0, c10); c11 = MulAdd(x, v1, c11); }
                        if (R.Value > 2) { x = Vector512.Create(Unsafe.Add(ref a, lda2)); c20 = MulAdd(x, v0, c20); c21 = MulAdd(x, v1, c21); }
                        if (R.Value > 3) { x = Vector512.Create(Unsafe.Add(ref a, lda3)); c30 = MulAdd(x, v0, c30); c31 = MulAdd(x, v1, c31); }
                        if (R.Value > 4) { x = Vector512.Create(Unsafe.Add(ref a, lda4)); c40 = MulAdd(x, v0, c40); c41 = MulAdd(x, v1, c41); }
                        if (R.Value > 5) { x = Vector512.Create(Unsafe.Add(ref a, lda5)); c50 = MulAdd(x, v0, c50); c51 = MulAdd(x, v1, c51); }
                        a = ref Unsafe.Add(ref a, aStep);
                        if (!TB.Indirect) b = ref Unsafe.Add(ref b, ldb);
                    }
                    if (t.Clamp)
                    {
                        var lo = Vector512.Create(t.Lo); var hi = Vector512.Create(t.Hi);
                        c00 = Clamp(c00, lo, hi); c01 = Clamp(c01, lo, hi);
                        if (R.Value > 1) { c10 = Clamp(c10, lo, hi); c11 = Clamp(c11, lo, hi); }
                        if (R.Value > 2) { c20 = Clamp(c20, lo, hi); c21 = Clamp(c21, lo, hi); }
                        if (R.Value > 3) { c30 = Clamp(c30, lo, hi); c31 = Clamp(c31, lo, hi); }
                        if (R.Value > 4) { c40 = Clamp(c40, lo, hi); c41 = Clamp(c41, lo, hi); }
                        if (R.Value > 5) { c50 = Clamp(c50, lo, hi); c51 = Clamp(c51, lo, hi); }
                    }
                    if (two)
                    {
                        c01.StoreUnsafe(ref c, 16);
                        if (R.Value > 1) c11.StoreUnsafe(ref c, (nuint)ldc + 16);
                        if (R.Value > 2) c21.StoreUnsafe(ref c, (nuint)(2 * ldc) + 16);
                        if (R.Value > 3) c31.StoreUnsafe(ref c, (nuint)(3 * ldc) + 16);
                        if (R.Value > 4) c41.StoreUnsafe(ref c, (nuint)(4 * ldc) + 16);
                        if (R.Value > 5) c51.StoreUnsafe(ref c, (nuint)(5 * ldc) + 16);
                    }
                    c00.StoreUnsafe(ref c);
                    if (R.Value > 1) c10.StoreUnsafe(ref c, (nuint)ldc);
                    if (R.Value > 2) c20.StoreUnsafe(ref c, (nuint)(2 * ldc));
                    if (R.Value > 3) c30.StoreUnsafe(ref c, (nuint)(3 * ldc));
                    if (R.Value > 4) c40.StoreUnsafe(ref c, (nuint)(4 * ldc));
                    if (R.Value > 5) c50.StoreUnsafe(ref c, (nuint)(5 * ldc));
                }
            }
        }
    }
}
