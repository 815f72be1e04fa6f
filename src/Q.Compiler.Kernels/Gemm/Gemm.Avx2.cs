#nullable enable
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class Gemm
    {
        /// <summary>
        /// x64 AVX2 + FMA: tiles of up to 6 rows × 16 columns (two Vector256 per row): 12 accumulators, 2 B loads and
        /// 6 broadcasts of A per k, which fits the 16 YMM registers. One row runs a separate GEMV-style loop with four
        /// independent accumulator pairs (k unrolled by 4), since a single FMA chain is latency-bound.
        /// </summary>
        internal readonly struct Avx2Kernel : IGemmKernel
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
                    case 1: Row1<TB>(ref t); break;
                    case 2: Tile<Rows2, TB>(ref t); break;
                    case 3: Tile<Rows3, TB>(ref t); break;
                    case 4: Tile<Rows4, TB>(ref t); break;
                    case 5: Tile<Rows5, TB>(ref t); break;
                    default: Tile<Rows6, TB>(ref t); break;
                }
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
                Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector256<float> Clamp(Vector256<float> v, Vector256<float> lo, Vector256<float> hi) =>
                Avx.IsSupported ? Avx.Min(Avx.Max(v, lo), hi) : Vector256.Min(Vector256.Max(v, lo), hi);

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
                    Vector256<float> c00, c01, c10 = default, c11 = default, c20 = default, c21 = default,
                        c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
                    if (t.Accumulate)
                    {
                        c00 = Vector256.LoadUnsafe(ref c); c01 = Vector256.LoadUnsafe(ref c, 8);
                        if (R.Value > 1) { c10 = Vector256.LoadUnsafe(ref c, (nuint)ldc); c11 = Vector256.LoadUnsafe(ref c, (nuint)ldc + 8); }
                        if (R.Value > 2) { c20 = Vector256.LoadUnsafe(ref c, (nuint)(2 * ldc)); c21 = Vector256.LoadUnsafe(ref c, (nuint)(2 * ldc) + 8); }
                        if (R.Value > 3) { c30 = Vector256.LoadUnsafe(ref c, (nuint)(3 * ldc)); c31 = Vector256.LoadUnsafe(ref c, (nuint)(3 * ldc) + 8); }
                        if (R.Value > 4) { c40 = Vector256.LoadUnsafe(ref c, (nuint)(4 * ldc)); c41 = Vector256.LoadUnsafe(ref c, (nuint)(4 * ldc) + 8); }
                        if (R.Value > 5) { c50 = Vector256.LoadUnsafe(ref c, (nuint)(5 * ldc)); c51 = Vector256.LoadUnsafe(ref c, (nuint)(5 * ldc) + 8); }
                    }
                    else
                    {
                        ref float cb = ref Unsafe.Add(ref t.ColBias, p * t.ColBiasPanelStep);
                        var b0 = Vector256.LoadUnsafe(ref cb); var b1 = Vector256.LoadUnsafe(ref cb, 8);
                        nint rs = t.RowBiasStep;
                        var r0 = Vector256.Create(t.RowBias); c00 = b0 + r0; c01 = b1 + r0;
                        if (R.Value > 1) { var r = Vector256.Create(Unsafe.Add(ref t.RowBias, rs)); c10 = b0 + r; c11 = b1 + r; }
                        if (R.Value > 2) { var r = Vector256.Create(Unsafe.Add(ref t.RowBias, 2 * rs)); c20 = b0 + r; c21 = b1 + r; }
                        if (R.Value > 3) { var r = Vector256.Create(Unsafe.Add(ref t.RowBias, 3 * rs)); c30 = b0 + r; c31 = b1 + r; }
                        if (R.Value > 4) { var r = Vector256.Create(Unsafe.Add(ref t.RowBias, 4 * rs)); c40 = b0 + r; c41 = b1 + r; }
                        if (R.Value > 5) { var r = Vector256.Create(Unsafe.Add(ref t.RowBias, 5 * rs)); c50 = b0 + r; c51 = b1 + r; }
                    }
                    ref float a = ref t.A;
                    for (int kk = 0; kk < k; kk++)
                    {
                        if (TB.Indirect) b = ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk));
                        var v0 = Vector256.LoadUnsafe(ref b); var v1 = Vector256.LoadUnsafe(ref b, 8);
                        var x = Vector256.Create(a); c00 = MulAdd(x, v0, c00); c01 = MulAdd(x, v1, c01);
                        if (R.Value > 1) { x = Vector256.Create(Unsafe.Add(ref a, lda)); c10 = MulAdd(x, v0, c10); c11 = MulAdd(x, v1, c11); }
                        if (R.Value > 2) { x = Vector256.Create(Unsafe.Add(ref a, lda2)); c20 = MulAdd(x, v0, c20); c21 = MulAdd(x, v1, c21); }
                        if (R.Value > 3) { x = Vector256.Create(Unsafe.Add(ref a, lda3)); c30 = MulAdd(x, v0, c30); c31 = MulAdd(x, v1, c31); }
                        if (R.Value > 4) { x = Vector256.Create(Unsafe.Add(ref a, lda4)); c40 = MulAdd(x, v0, c40); c41 = MulAdd(x, v1, c41); }
                        if (R.Value > 5) { x = Vector256.Create(Unsafe.Add(ref a, lda5)); c50 = MulAdd(x, v0, c50); c51 = MulAdd(x, v1, c51); }
                        a = ref Unsafe.Add(ref a, aStep);
                        if (!TB.Indirect) b = ref Unsafe.Add(ref b, ldb);
                    }
                    if (t.Clamp)
                    {
                        var lo = Vector256.Create(t.Lo); var hi = Vector256.Create(t.Hi);
                        c00 = Clamp(c00, lo, hi); c01 = Clamp(c01, lo, hi);
                        if (R.Value > 1) { c10 = Clamp(c10, lo, hi); c11 = Clamp(c11, lo, hi); }
                        if (R.Value > 2) { c20 = Clamp(c20, lo, hi); c21 = Clamp(c21, lo, hi); }
                        if (R.Value > 3) { c30 = Clamp(c30, lo, hi); c31 = Clamp(c31, lo, hi); }
                        if (R.Value > 4) { c40 = Clamp(c40, lo, hi); c41 = Clamp(c41, lo, hi); }
                        if (R.Value > 5) { c50 = Clamp(c50, lo, hi); c51 = Clamp(c51, lo, hi); }
                    }
                    c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, 8);
                    if (R.Value > 1) { c10.StoreUnsafe(ref c, (nuint)ldc); c11.StoreUnsafe(ref c, (nuint)ldc + 8); }
                    if (R.Value > 2) { c20.StoreUnsafe(ref c, (nuint)(2 * ldc)); c21.StoreUnsafe(ref c, (nuint)(2 * ldc) + 8); }
                    if (R.Value > 3) { c30.StoreUnsafe(ref c, (nuint)(3 * ldc)); c31.StoreUnsafe(ref c, (nuint)(3 * ldc) + 8); }
                    if (R.Value > 4) { c40.StoreUnsafe(ref c, (nuint)(4 * ldc)); c41.StoreUnsafe(ref c, (nuint)(4 * ldc) + 8); }
                    if (R.Value > 5) { c50.StoreUnsafe(ref c, (nuint)(5 * ldc)); c51.StoreUnsafe(ref c, (nuint)(5 * ldc) + 8); }
                }
            }

            /// <summary>
            /// One row (GEMV): k unrolled by 4 into independent accumulators, summed at the end. A GEMV streams all of B
            /// for little arithmetic, so four consecutive zeros of A skip their rows of B (0·B is taken as 0 there, as if
            /// B were finite).
            /// </summary>
            private static void Row1<TB>(ref GemmTile t) where TB : struct, IBRows
            {
                nint aStep = t.AStep, ldb = t.Ldb;
                int k = t.K;
                for (int p = 0; p < t.Panels; p++)
                {
                    ref float bPanel = ref Unsafe.Add(ref t.B, p * t.PanelStride);
                    ref float b = ref bPanel;
                    ref int off = ref t.Offsets;
                    ref float c = ref Unsafe.Add(ref t.C, p * 16);
                    Vector256<float> s0, s1;
                    if (t.Accumulate) { s0 = Vector256.LoadUnsafe(ref c); s1 = Vector256.LoadUnsafe(ref c, 8); }
                    else
                    {
                        ref float cb = ref Unsafe.Add(ref t.ColBias, p * t.ColBiasPanelStep);
                        var r = Vector256.Create(t.RowBias);
                        s0 = Vector256.LoadUnsafe(ref cb) + r; s1 = Vector256.LoadUnsafe(ref cb, 8) + r;
                    }
                    Vector256<float> u0 = default, u1 = default, w0 = default, w1 = default, z0 = default, z1 = default;
                    ref float a = ref t.A;
                    int kk = 0;
                    for (; kk <= k - 4; kk += 4)
                    {
                        if (aStep == 1 && Vector128.LoadUnsafe(ref a) == Vector128<float>.Zero)
                        {
                            // Four zeros of A (common in inputs after Relu, or image borders): nothing to add.
                            a = ref Unsafe.Add(ref a, 4);
                            if (!TB.Indirect) b = ref Unsafe.Add(ref b, 4 * ldb);
                            continue;
                        }
                        ref float b0 = ref TB.Indirect ? ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk)) : ref b;
                        ref float b1 = ref TB.Indirect ? ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk + 1)) : ref Unsafe.Add(ref b, ldb);
                        ref float b2 = ref TB.Indirect ? ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk + 2)) : ref Unsafe.Add(ref b, 2 * ldb);
                        ref float b3 = ref TB.Indirect ? ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk + 3)) : ref Unsafe.Add(ref b, 3 * ldb);
                        var x = Vector256.Create(a);
                        s0 = MulAdd(x, Vector256.LoadUnsafe(ref b0), s0); s1 = MulAdd(x, Vector256.LoadUnsafe(ref b0, 8), s1);
                        x = Vector256.Create(Unsafe.Add(ref a, aStep));
                        u0 = MulAdd(x, Vector256.LoadUnsafe(ref b1), u0); u1 = MulAdd(x, Vector256.LoadUnsafe(ref b1, 8), u1);
                        x = Vector256.Create(Unsafe.Add(ref a, 2 * aStep));
                        w0 = MulAdd(x, Vector256.LoadUnsafe(ref b2), w0); w1 = MulAdd(x, Vector256.LoadUnsafe(ref b2, 8), w1);
                        x = Vector256.Create(Unsafe.Add(ref a, 3 * aStep));
                        z0 = MulAdd(x, Vector256.LoadUnsafe(ref b3), z0); z1 = MulAdd(x, Vector256.LoadUnsafe(ref b3, 8), z1);
                        a = ref Unsafe.Add(ref a, 4 * aStep);
                        if (!TB.Indirect) b = ref Unsafe.Add(ref b, 4 * ldb);
                    }
                    for (; kk < k; kk++)
                    {
                        if (TB.Indirect) b = ref Unsafe.Add(ref bPanel, Unsafe.Add(ref off, kk));
                        var x = Vector256.Create(a);
                        s0 = MulAdd(x, Vector256.LoadUnsafe(ref b), s0); s1 = MulAdd(x, Vector256.LoadUnsafe(ref b, 8), s1);
                        a = ref Unsafe.Add(ref a, aStep);
                        if (!TB.Indirect) b = ref Unsafe.Add(ref b, ldb);
                    }
                    s0 += (u0 + w0) + z0; s1 += (u1 + w1) + z1;
                    if (t.Clamp)
                    {
                        var lo = Vector256.Create(t.Lo); var hi = Vector256.Create(t.Hi);
                        s0 = Clamp(s0, lo, hi); s1 = Clamp(s1, lo, hi);
                    }
                    s0.StoreUnsafe(ref c); s1.StoreUnsafe(ref c, 8);
                }
            }
        }
    }
}
