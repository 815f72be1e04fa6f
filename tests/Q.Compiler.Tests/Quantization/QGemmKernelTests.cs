using Q.Compiler.Kernels;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Every QGemm path against the integer reference, bit for bit, over shapes at and around the tile sizes
/// (rows 2/4/8, panels of 16 columns, K quads of 4) and zero points across the range.
/// </summary>
public class QGemmKernelTests
{
    /// <summary>Path names (the enum is internal to the kernels, so theories take its names).</summary>
    public static readonly TheoryData<string> AllPaths = new() { "Scalar", "Vector128", "Avx2", "Avx2Widen", "Avx512BW", "AdvSimd", "AdvSimdDp" };

    private static readonly int[] Ms = { 1, 2, 3, 4, 5, 7, 8, 9, 17 };
    private static readonly int[] Ns = { 1, 15, 16, 17, 33 };
    private static readonly int[] Ks = { 1, 3, 4, 5, 8, 63, 64, 65 };
    private static readonly int[] ZeroPoints = { 0, 1, 127, 128, 255 };

    /// <summary>Paths using the sign trick need weights in [−127, 127]; the others take −128 too.</summary>
    private static bool TakesMinus128(QGemm.Path p) => p is not (QGemm.Path.Avx2 or QGemm.Path.Avx512BW);

    internal sealed record Case(byte[] A, sbyte[] B, int M, int N, int K, int Za, int[] Zb, int[] Bias, float[] Mult, int Zy, int Lo, int Hi);

    internal static Case MakeCase(Random rng, int m, int n, int k, int za, int zy, bool minus128, bool weightZeroPoints)
    {
        var a = new byte[m * k];
        for (int i = 0; i < a.Length; i++)
            a[i] = (rng.Next(4)) switch { 0 => 0, 1 => 255, _ => (byte)rng.Next(256) };
        var b = new sbyte[k * n];
        int wmin = minus128 ? -128 : -127;
        for (int i = 0; i < b.Length; i++)
            b[i] = (rng.Next(4)) switch { 0 => (sbyte)wmin, 1 => 127, _ => (sbyte)rng.Next(wmin, 128) };
        var zb = weightZeroPoints ? Enumerable.Range(0, n).Select(_ => rng.Next(-20, 21)).ToArray() : Array.Empty<int>();
        var bias = Enumerable.Range(0, n).Select(_ => rng.Next(-1 << 20, 1 << 20)).ToArray();
        // Multipliers from above 1 (pre-quantized models; saturating) down to 1e-12 (everything rounds to 0), exact ties (0.5), mostly in the
        // realistic 2^-8..2^-20 band.
        var mult = Enumerable.Range(0, n).Select(j => RequantScale.FromReal(j switch
        {
            0 => 1.0,
            1 => 1e-12,
            2 => 1 + rng.NextDouble() * 300,
            3 => 0.5,                                   // exact ties: round half to even
            _ => Math.Pow(2, -(8 + rng.NextDouble() * 12)),
        })).ToArray();
        int lo = rng.Next(3) == 0 ? zy : 0, hi = rng.Next(3) == 0 ? Math.Max(lo, rng.Next(256)) : 255;
        return new Case(a, b, m, n, k, za, zb, bias, mult, zy, lo, hi);
    }

    internal static byte[] RunKernel(QGemm.Path path, Case c)
    {
        var packed = PackedQGemmWeights.FromKxN(c.B, c.K, c.N);
        var y = new byte[c.M * c.N];
        QGemm.Run(path, c.A, packed.Data, packed.ColumnSums, c.Bias, c.Zb, c.Mult, y, default, c.M, c.N, c.K, c.Za, c.Zy, c.Lo, c.Hi);
        return y;
    }

    internal static byte[] RunReference(Case c) =>
        IntegerReference.GemmU8S8(c.A, c.B, c.M, c.N, c.K, c.Za, c.Zb, c.Bias, c.Mult, c.Zy, c.Lo, c.Hi);

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Requantized_output_matches_the_integer_reference_over_tile_edges(string pathName)
    {
        var path = Enum.Parse<QGemm.Path>(pathName);
        if (!QGemm.IsSupported(path)) return; // this CPU cannot run it; the dispatch tests cover what it selects
        var rng = new Random(1234);
        int cases = 0;
        foreach (int m in Ms)
            foreach (int n in Ns)
                foreach (int k in Ks)
                {
                    int za = ZeroPoints[cases % ZeroPoints.Length], zy = ZeroPoints[(cases / ZeroPoints.Length) % ZeroPoints.Length];
                    var c = MakeCase(rng, m, n, k, za, zy, TakesMinus128(path), weightZeroPoints: cases % 7 == 3);
                    var want = RunReference(c);
                    var got = RunKernel(path, c);
                    if (!want.AsSpan().SequenceEqual(got))
                    {
                        int i = want.Zip(got).TakeWhile(p => p.First == p.Second).Count();
                        Assert.Fail($"{path} M={m} N={n} K={k} za={za} zy={zy}: y[{i / n},{i % n}] = {got[i]}, reference {want[i]}");
                    }
                    cases++;
                }
        Assert.Equal(Ms.Length * Ns.Length * Ks.Length, cases);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Int32_accumulators_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QGemm.Path>(pathName);
        if (!QGemm.IsSupported(path)) return;
        var rng = new Random(99);
        foreach (int za in ZeroPoints)
            foreach (var (m, n, k) in new[] { (5, 17, 65), (4, 16, 64), (9, 33, 7), (1, 1, 1), (3, 40, 300) })
            {
                var c = MakeCase(rng, m, n, k, za, 0, TakesMinus128(path), weightZeroPoints: za == 127);
                var packed = PackedQGemmWeights.FromKxN(c.B, k, n);
                var got = new int[m * n];
                QGemm.Run(path, c.A, packed.Data, packed.ColumnSums, c.Bias, c.Zb, default, default, got, m, n, k, za, 0, 0, 0);
                var want = IntegerReference.GemmU8S8Accumulate(c.A, c.B, m, n, k, za, c.Zb, c.Bias);
                Assert.Equal(want, got);
            }
    }

    [Fact]
    public void Extreme_operands_are_exact_where_vpmaddubsw_alone_would_saturate()
    {
        // a = 255 everywhere with za = 0 and weights 127: raw u8·s8 pairs reach 2·255·127 = 64770, far beyond int16.
        int m = 4, n = 16, k = 64;
        var a = Enumerable.Repeat((byte)255, m * k).ToArray();
        var b = Enumerable.Range(0, k * n).Select(i => (sbyte)(i % 3 == 0 ? -127 : 127)).ToArray();
        var packed = PackedQGemmWeights.FromKxN(b, k, n);
        var want = IntegerReference.GemmU8S8Accumulate(a, b, m, n, k, 0, default, default);
        foreach (var path in Enum.GetValues<QGemm.Path>().Where(QGemm.IsSupported))
        {
            var got = new int[m * n];
            QGemm.Run(path, a, packed.Data, packed.ColumnSums, default, default, default, default, got, m, n, k, 0, 0, 0, 0);
            Assert.Equal(want, got);
        }
    }

    [Fact]
    public void Dispatch_avoids_the_sign_trick_paths_for_weights_with_minus_128()
    {
        var p = QGemm.PathFor(weightsHaveMinus128: true);
        Assert.False(p is QGemm.Path.Avx2 or QGemm.Path.Avx512BW);
        var b = new sbyte[] { -128, 1, 2, 3 };
        Assert.True(PackedQGemmWeights.FromKxN(b, 2, 2).HasMinus128);
        Assert.False(PackedQGemmWeights.FromKxN(new sbyte[] { -127, 1, 2, 3 }, 2, 2).HasMinus128);
    }

    [Fact]
    public void Public_entry_points_dispatch_to_an_exact_path()
    {
        var rng = new Random(5);
        foreach (bool m128 in new[] { false, true })
        {
            var c = MakeCase(rng, 7, 21, 37, 128, 3, m128, weightZeroPoints: false);
            var packed = PackedQGemmWeights.FromKxN(c.B, c.K, c.N);
            var y = new byte[c.M * c.N];
            QGemm.U8S8(c.A, packed.Data, packed.ColumnSums, c.Bias, c.Zb, c.Mult,
                y, c.M, c.N, c.K, c.Za, c.Zy, c.Lo, c.Hi, packed.HasMinus128);
            Assert.Equal(RunReference(c), y);
            var y32 = new int[c.M * c.N];
            QGemm.U8S8Int32(c.A, packed.Data, packed.ColumnSums, c.Bias, c.Zb, y32, c.M, c.N, c.K, c.Za, packed.HasMinus128);
            Assert.Equal(IntegerReference.GemmU8S8Accumulate(c.A, c.B, c.M, c.N, c.K, c.Za, c.Zb, c.Bias), y32);
        }
    }

    [Fact]
    public void Packing_matches_the_documented_layout_and_transposed_input()
    {
        int k = 6, n = 18;
        var b = Enumerable.Range(0, k * n).Select(i => (sbyte)(i % 251 - 125)).ToArray();
        var bt = new sbyte[n * k];
        for (int kk = 0; kk < k; kk++) for (int j = 0; j < n; j++) bt[j * k + kk] = b[kk * n + j];
        var p = PackedQGemmWeights.FromKxN(b, k, n);
        Assert.Equal(p.Data, PackedQGemmWeights.FromNxK(bt, n, k).Data);
        Assert.Equal(2 * 64 + 2 * 2 * 4, p.Data.Length); // 1 full panel × 2 quads × 64 bytes + a compact panel of 2 columns
        Assert.Equal(QGemm.PackedLength(k, n), p.Data.Length);
        Assert.Equal(b[4 * n + 15], p.Data[((0 * 2 + 1) * 16 + 15) * 4 + 0]); // full panel: 64-byte blocks
        Assert.Equal(b[5 * n + 17], p.Data[2 * 64 + (1 * 2 + 1) * 4 + 1]);    // compact panel: quad 1, column 1, k%4 = 1
        // A panel whose 64-byte form is above the limit stays padded: K = 1028 gives 257 quads (16,448 bytes).
        var big = PackedQGemmWeights.FromKxN(new sbyte[1028 * 18], 1028, 18);
        Assert.Equal(2 * 257 * 64, big.Data.Length);
        Assert.Equal(QGemm.PackedLength(1028, 18), big.Data.Length);
        Assert.Equal(Enumerable.Range(0, n).Select(j => Enumerable.Range(0, k).Sum(kk => b[kk * n + j])), p.ColumnSums);
    }

    [Fact]
    public void Operand_sizes_are_checked()
    {
        var packed = PackedQGemmWeights.FromKxN(new sbyte[8], 2, 4);
        Assert.Throws<ArgumentException>(() => QGemm.Run(QGemm.Path.Scalar, new byte[3], packed.Data, packed.ColumnSums, default, default,
            new float[4], new byte[8], default, 2, 4, 2, 0, 0, 0, 255));
    }
}
