using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QConvNchw's requantizing epilogue on the outputs a ReLU layer has (zy = 0, lo = 0, hi = 255: the AVX2 and AVX-512 tiles leave
/// out the zero point add and the byte clamps, the saturating packs alone clamping) and on its neighbours (one of the three
/// moved by one, which must keep them): every path against the integer reference, in both modes, with accumulators
/// that saturate below 0 and above 255 in every tile.
/// </summary>
public class QConvNchwEpilogueTests
{
    /// <summary>n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group: pointwise with partial tiles, and a 3x3 packed straight from the padded image.</summary>
    private static readonly int[][] Cases =
    {
        new[] { 1, 16, 9, 11, 12, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },
        new[] { 1, 32, 8, 8, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },
        new[] { 1, 4, 7, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
    };

    public static readonly TheoryData<string, bool> PathsAndModes = new()
    {
        { "Scalar", false }, { "Vector128", false }, { "Avx2", false }, { "Avx512BW", false },
        { "Scalar", true }, { "Vector128", true }, { "Avx2", true }, { "Avx512BW", true },
    };

    [Theory]
    [MemberData(nameof(PathsAndModes))]
    public void Relu_outputs_and_their_neighbours_match_the_integer_reference(string pathName, bool unsignedMode)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(unsignedMode ? 61 : 59);
        foreach (var g in Cases)
            foreach (var (zy, lo, hi) in new[] { (0, 0, 255), (1, 0, 255), (0, 1, 255), (0, 0, 254), (0, 0, 255) })
            {
                var c = QConvKernelTests.MakeCase(rng, g, zx: rng.Next(256), zy, minus128: unsignedMode || path is QConvNchw.Path.Scalar or QConvNchw.Path.Vector128, weightZeroPoints: false);
                int k = c.C * c.Taps, plane = c.OH * c.OW;
                var w = unsignedMode ? QConvNchwUnsignedTests.PairSafeWeights(rng, c.M, k) : c.W;
                // Per channel, a scale and bias that map the 10th..90th percentile of the accumulators onto about [−170, 430]:
                // a quarter of the outputs saturate below 0, a quarter above 255.
                c = c with { W = w, Lo = lo, Hi = hi, Bias = new int[c.M] };
                var acc = QConvKernelTests.ReferenceAccumulators(c, withBias: false);
                var mult = new float[c.M];
                var bias = new int[c.M];
                for (int oc = 0; oc < c.M; oc++)
                {
                    var sorted = Enumerable.Range(0, c.N).SelectMany(ni => acc.Skip((ni * c.M + oc) * plane).Take(plane)).OrderBy(v => v).ToArray();
                    int p10 = sorted[sorted.Length / 10], p50 = sorted[sorted.Length / 2], p90 = sorted[sorted.Length * 9 / 10];
                    mult[oc] = RequantScale.FromReal(600.0 / (p90 - p10 + 1));
                    bias[oc] = (int)Math.Round(130 / mult[oc]) - p50;
                }
                c = c with { Mult = mult, Bias = bias };
                var (plain, sums, _) = QConvWeights.PackNchw(c.W, c.M, k);
                var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx, unsignedMode);
                var packed = QConvWeights.NchwWithFlags(plain, c.M, k, folded, c.Mult, unsignedMode);
                // No block needs the float clamp: the AVX2 tile takes its byte epilogue everywhere.
                Assert.All(packed.Skip(plain.Length), f => Assert.Equal(0, f & QConvWeights.NchwFloatClamp));
                var want = QConvKernelTests.Reference(c);
                Assert.True(want.Count(v => v == lo) > want.Length / 6 && want.Count(v => v == hi) > want.Length / 10
                    && want.Count(v => v > lo && v < hi) > want.Length / 6, $"a degenerate case: the outputs do not reach both bounds and the middle ({want.Count(v => v == lo)} at lo, {want.Count(v => v == hi)} at hi of {want.Length})");
                foreach (int chunk in new[] { QConvNchw.ChunkFor(k, plane), 16 })
                {
                    var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                    var y = new byte[c.N * c.M * plane];
                    QConvNchw.Run(path, c.X, packed, folded, c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW,
                        c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi, unsignedMode);
                    for (int i = 0; i < want.Length; i++)
                        if (want[i] != y[i])
                            Assert.Fail($"{path} unsigned={unsignedMode} [{string.Join(",", g)}] zy={zy} lo={lo} hi={hi} chunk={chunk}: element {i} is {y[i]}, reference {want[i]}");
                }
            }
    }
}
