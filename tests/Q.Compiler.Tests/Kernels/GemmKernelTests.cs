using Q.Compiler.Kernels;
using Xunit;
using static Q.Compiler.Tests.Kernels.KernelReference;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// Every GEMM micro-kernel (each ISA's code runs here even without its hardware: Vector512/256 operations are emulated
/// by .NET where not accelerated, and FMA falls back to multiply + add) through the shared driver, against a double
/// reference, over shapes at the edges of the tiles (rows: 6, 3 or 1; columns: panels of 16, blocks of 8 panels;
/// K blocks of Gemm.KBlock), with every B layout, transposed A, each bias kind and activations fused in the kernel (Relu,
/// Clip) or after it. C carries sentinel columns and rows around the result to catch writes outside it.
/// </summary>
public sealed class GemmKernelTests
{
    public static TheoryData<string> Kernels => new() { "Avx512", "Avx2", "AdvSimd", "Vector128", "Scalar" };

    /// <summary>(M, N, K): below, at and above multiples of the tile height, the panel width, the column and K blocks.</summary>
    private static readonly (int M, int N, int K)[] Shapes =
    {
        (1, 1, 1), (1, 16, 7), (1, 17, Gemm.KBlock), (2, 15, 3), (3, 31, 5), (4, 48, 2), (5, 16, Gemm.KBlock + 1),
        (6, 32, 16), (7, 33, Gemm.KBlock - 1), (12, 129, 9), (13, 145, 2 * Gemm.KBlock + 3), (3, 1, 300), (6, 143, 40),
        (1, 200, 1000), (9, 128, 64), (4, 20, 257),
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MatchesReference(string kernel)
    {
        int seed = 0;
        foreach (var (m, n, k) in Shapes)
            foreach (int layout in new[] { Gemm.BPacked, Gemm.BRowMajor, Gemm.BTransposed, Gemm.BOffsets })
            {
                seed++;
                bool transA = seed % 3 == 1;
                int biasKind = seed % 5;       // 0 none, 1 scalar row bias, 2 per column, 3 per row, 4 accumulate into C
                int act = (seed % 4) switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
                Check(kernel, m, n, k, layout, transA, biasKind, act, seed);
            }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void HandlesZeroK(string kernel) => Check(kernel, 3, 20, 0, Gemm.BRowMajor, false, 3, 1, 99);

    private static void Check(string kernel, int m, int n, int k, int layout, bool transA, int biasKind, int act, int seed)
    {
        var a = Random(m * k, seed);
        // A run of zeros in every row of A, as after a Relu (the GEMV kernel skips them).
        if (seed % 2 == 0) for (int i = 0; i < m; i++) for (int kk = k / 4; kk < k / 2 + 3 && kk < k; kk++) a[i * k + kk] = 0;
        var bKn = Random(k * n, seed + 1000);
        float[] b; int ldb;
        int[] offsets = Array.Empty<int>();
        switch (layout)
        {
            case Gemm.BOffsets:
            {
                // Rows in reverse order with NaN between them and after the last: the ragged panel reads (and discards) them.
                ldb = 0;
                int gap = n + 7;
                b = new float[k * gap + 16];
                Array.Fill(b, float.NaN);
                offsets = new int[k];
                for (int kk = 0; kk < k; kk++)
                {
                    offsets[kk] = (k - 1 - kk) * gap;
                    for (int j = 0; j < n; j++) b[offsets[kk] + j] = bKn[kk * n + j];
                }
                break;
            }
            case Gemm.BPacked:
                b = new float[Gemm.PackedLength(k, n)]; ldb = 0;
                Gemm.Pack(bKn, k, n, b);
                break;
            case Gemm.BRowMajor:
                // A row stride wider than N, so that reading past a row would pick up garbage.
                ldb = n + 5; b = new float[Math.Max(0, (k - 1) * ldb + n)];
                for (int kk = 0; kk < k; kk++) for (int j = 0; j < n; j++) b[kk * ldb + j] = bKn[kk * n + j];
                for (int kk = 0; kk < k - 1; kk++) for (int j = n; j < ldb; j++) b[kk * ldb + j] = float.NaN;
                break;
            default:
                ldb = k + 2; b = new float[Math.Max(0, (n - 1) * ldb + k)];
                for (int kk = 0; kk < k; kk++) for (int j = 0; j < n; j++) b[j * ldb + kk] = bKn[kk * n + j];
                for (int j = 0; j < n - 1; j++) for (int kk = k; kk < ldb; kk++) b[j * ldb + kk] = float.NaN;
                break;
        }
        // A stored as [M, K] or, transposed, as [K, M].
        var aStore = new float[m * k];
        for (int i = 0; i < m; i++) for (int kk = 0; kk < k; kk++) aStore[transA ? kk * m + i : i * k + kk] = a[i * k + kk];
        var rowBias = Random(m, seed + 2000);
        var colBias = Random(n, seed + 3000);
        int ldc = n + 3;
        var c = new float[(m + 1) * ldc];
        Array.Fill(c, float.NaN);
        var initial = Random(m * n, seed + 4000);
        if (biasKind == 4) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[i * ldc + j] = initial[i * n + j];
        float lo = -0.25f, hi = 0.5f;

        var g = new GemmArgs
        {
            A = aStore, Lda = transA ? 1 : k, AStep = transA ? m : 1,
            B = b, BLayout = layout, Ldb = ldb, Offsets = offsets, C = c, Ldc = ldc, M = m, N = n, K = k,
            RowBias = biasKind == 1 ? rowBias.AsSpan(0, 1) : biasKind == 3 ? rowBias : default,
            RowBiasStep = biasKind == 1 ? 0 : 1,
            ColBias = biasKind == 2 ? colBias : default,
            Accumulate = biasKind == 4,
            Act = act, ActAlpha = lo, ActBeta = hi,
        };
        switch (kernel)
        {
            case "Avx512": Gemm.Multiply<Gemm.Avx512Kernel>(ref g); break;
            case "Avx2": Gemm.Multiply<Gemm.Avx2Kernel>(ref g); break;
            case "AdvSimd": Gemm.Multiply<Gemm.AdvSimdKernel>(ref g); break;
            case "Vector128": Gemm.Multiply<Gemm.Vector128Kernel>(ref g); break;
            default: Gemm.Multiply<Gemm.ScalarKernel>(ref g); break;
        }

        var expected = new double[m * n]; var scale = new double[m * n]; var actual = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = biasKind switch { 1 => rowBias[0], 2 => colBias[j], 3 => rowBias[i], 4 => initial[i * n + j], _ => 0 };
                double mag = Math.Abs(s);
                for (int kk = 0; kk < k; kk++) { double t = (double)a[i * k + kk] * bKn[kk * n + j]; s += t; mag += Math.Abs(t); }
                expected[i * n + j] = Activate(s, act, lo, hi);
                scale[i * n + j] = mag;
                actual[i * n + j] = c[i * ldc + j];
            }
        string what = $"{kernel} M={m} N={n} K={k} layout={layout} transA={transA} bias={biasKind} act={act}";
        AssertClose(expected, scale, actual, what);
        for (int i = 0; i <= m; i++)
            for (int j = i < m ? n : 0; j < ldc; j++)
                Assert.True(float.IsNaN(c[i * ldc + j]), $"{what}: wrote outside C at row {i}, column {j}");
    }

    [Fact]
    public void PublicEntryPointsMatchReference()
    {
        // Gemm.Run (run-time B, alpha/beta, bias modes), RunPacked and Batched through the machine's own dispatch.
        int m = 7, n = 37, k = 19;
        var a = Random(m * k, 1); var b = Random(k * n, 2); var bias = Random(m * n, 3);
        foreach (int mode in new[] { Gemm.BiasNone, Gemm.BiasScalar, Gemm.BiasPerColumn, Gemm.BiasPerRow, Gemm.BiasFull })
            foreach (var (alpha, beta) in new[] { (1f, 1f), (0.5f, 2f) })
            {
                var y = new float[m * n];
                Gemm.Run(a, b, bias, y, m, n, k, false, false, alpha, beta, mode, 1, 0, 0);
                var packed = new float[Gemm.PackedLength(k, n)];
                Gemm.Pack(b, k, n, packed);
                var y2 = new float[m * n];
                if (alpha == 1 && beta == 1) Gemm.RunPacked(a, packed, bias, y2, m, n, k, false, mode, 1, 0, 0);
                var expected = new double[m * n]; var scale = new double[m * n];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double s = 0, mag = 0;
                        for (int kk = 0; kk < k; kk++) { double t = (double)a[i * k + kk] * b[kk * n + j]; s += t; mag += Math.Abs(t); }
                        double c = mode switch { 1 => bias[0], 2 => bias[j], 3 => bias[i], 4 => bias[i * n + j], _ => 0 };
                        expected[i * n + j] = Math.Max(0, alpha * s + beta * c);
                        scale[i * n + j] = mag + Math.Abs(c) * 2;
                    }
                AssertClose(expected, scale, y, $"Run bias={mode} alpha={alpha}");
                if (alpha == 1 && beta == 1) AssertClose(expected, scale, y2, $"RunPacked bias={mode}");
            }

        // Two batches of A against one B and against two.
        var ab = Random(2 * m * k, 4); var bb = Random(2 * k * n, 5);
        var yb = new float[2 * m * n];
        Gemm.Batched(ab, bb, yb, m, n, k, [0, m * k], [0, k * n], 0, 0, 0);
        var e = new double[2 * m * n]; var sc = new double[2 * m * n];
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    for (int kk = 0; kk < k; kk++)
                    {
                        double v = (double)ab[t * m * k + i * k + kk] * bb[t * k * n + kk * n + j];
                        e[(t * m + i) * n + j] += v; sc[(t * m + i) * n + j] += Math.Abs(v);
                    }
        AssertClose(e, sc, yb, "Batched");
    }

    [Fact]
    public void RejectsOperandsSmallerThanTheirShapes()
    {
        var a = new float[6]; var b = new float[6]; var y = new float[3];
        Assert.Throws<ArgumentException>(() => Gemm.Run(a, b, default, y, 2, 2, 3, false, false, 1, 1, 0, 0, 0, 0));
    }
}
