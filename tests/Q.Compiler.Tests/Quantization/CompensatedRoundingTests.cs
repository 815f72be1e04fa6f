using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// <see cref="CompensatedRounding"/> and <see cref="InputMoments"/>: lower output error than round-to-nearest on correlated
/// inputs, exactly round-to-nearest on uncorrelated ones, pair-safe channels when asked, int8 in [−127, 127], deterministic;
/// the moments of a convolution equal those of its im2col patches; the quantizer applies it when asked.
/// </summary>
public sealed class CompensatedRoundingTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    public CompensatedRoundingTests(MnistQuantized m) => _m = m;

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>n input vectors of K values, correlated: each is a random mix of a few shared factors plus a little noise.</summary>
    private static double[][] CorrelatedInputs(Random rng, int k, int n, int factors)
    {
        var mix = new double[k, factors];
        for (int i = 0; i < k; i++) for (int f = 0; f < factors; f++) mix[i, f] = Gauss(rng);
        var xs = new double[n][];
        for (int s = 0; s < n; s++)
        {
            var z = Enumerable.Range(0, factors).Select(_ => Gauss(rng)).ToArray();
            xs[s] = new double[k];
            for (int i = 0; i < k; i++)
            {
                double v = 0.1 * Gauss(rng);
                for (int f = 0; f < factors; f++) v += mix[i, f] * z[f];
                xs[s][i] = v;
            }
        }
        return xs;
    }

    private static double[] Moments(double[][] xs, int k)
    {
        var h = new double[k * k];
        foreach (var x in xs) for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) h[i * k + j] += x[i] * x[j];
        return h;
    }

    private static float[] RandomWeights(Random rng, int channels, int k) =>
        Enumerable.Range(0, channels * k).Select(_ => (float)Gauss(rng)).ToArray();

    /// <summary>Σ over channels and inputs of (Σ_i (w − s·q)_i·x_i)²: the output error on the inputs themselves.</summary>
    private static double OutputError(float[] w, sbyte[] q, IReadOnlyList<float> s, int channels, int k, double[][] xs)
    {
        double e = 0;
        foreach (var x in xs)
            for (int c = 0; c < channels; c++)
            {
                double d = 0;
                for (int i = 0; i < k; i++) d += (w[c * k + i] - (double)s[c] * q[c * k + i]) * x[i];
                e += d * d;
            }
        return e;
    }

    [Theory]
    [InlineData(1, 16, 27, 4, false)]
    [InlineData(2, 8, 64, 8, false)]
    [InlineData(3, 16, 27, 4, true)]
    [InlineData(4, 8, 64, 8, true)]
    public void Correlated_inputs_give_lower_output_error_than_round_to_nearest(int seed, int channels, int k, int factors, bool pairSafe)
    {
        var rng = new Random(seed);
        var xs = CorrelatedInputs(rng, k, 20 * k, factors);
        var h = Moments(xs, k);
        var w = RandomWeights(rng, channels, k);
        var rtn = pairSafe ? WeightQuantizer.PairSafePerChannel(w, channels, k) : WeightQuantizer.PerChannel(w, channels, k);
        var q = CompensatedRounding.Round(w, channels, k, rtn.Scales, h, 1, pairSafe);
        double eRtn = OutputError(w, rtn.Values, rtn.Scales, channels, k, xs), eComp = OutputError(w, q, rtn.Scales, channels, k, xs);
        // At least 3 dB lower (measured: about 8–14 dB on these inputs).
        Assert.True(eComp < eRtn / 2, $"compensated {eComp} vs round-to-nearest {eRtn}");
        Assert.All(q, v => Assert.InRange(v, -127, 127));
        if (pairSafe) Assert.True(QConvWeights.AllPairSafe(q.Select(v => (int)v).ToArray(), channels, k));
        Assert.Equal(q, CompensatedRounding.Round(w, channels, k, rtn.Scales, h, 1, pairSafe)); // deterministic
    }

    [Theory]
    [InlineData(5, 16, 9, 1.0)]
    [InlineData(6, 4, 144, 37.5)]
    [InlineData(7, 3, 1, 0.001)]
    public void Uncorrelated_inputs_give_round_to_nearest_exactly(int seed, int channels, int k, double scale)
    {
        var rng = new Random(seed);
        var w = RandomWeights(rng, channels, k);
        // Ties on the grid too: some weights exactly half a step off.
        var rtn = WeightQuantizer.PerChannel(w, channels, k);
        for (int i = 0; i < w.Length; i += 5) w[i] = (float)((Math.Round(w[i] / rtn.Scales[i / k]) + 0.5) * rtn.Scales[i / k]);
        rtn = WeightQuantizer.PerChannel(w, channels, k);
        var h = new double[k * k];
        for (int i = 0; i < k; i++) h[i * k + i] = scale;
        Assert.Equal(rtn.Values, CompensatedRounding.Round(w, channels, k, rtn.Scales, h, 1, pairSafe: false));
        // All-zero moments (a layer whose input never moved) also give round-to-nearest.
        Assert.Equal(rtn.Values, CompensatedRounding.Round(w, channels, k, rtn.Scales, new double[k * k], 1, pairSafe: false));
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(9, 4)]
    [InlineData(10, 1)]
    public void Pair_safe_projection_always_gives_pair_safe_channels(int seed, int factors)
    {
        var rng = new Random(seed);
        foreach (int k in new[] { 1, 2, 7, 27, 64 })
        {
            int channels = 12;
            var w = new float[channels * k];
            // Same-signed channels are the worst case: every pair would break the bound.
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < k; i++)
                {
                    double g = Gauss(rng);
                    w[c * k + i] = (float)(c % 3 == 0 ? g : c % 3 == 1 ? Math.Abs(g) + 1 : -Math.Abs(g) - 1);
                }
            var h = factors == 0 ? Moments(Enumerable.Range(0, 3 * k).Select(_ => Enumerable.Range(0, k).Select(_ => Gauss(rng)).ToArray()).ToArray(), k)
                : Moments(CorrelatedInputs(rng, k, 10 * k, factors), k);
            // On the pair-safe scales and on the plain ones (every channel then needs projections).
            foreach (var scales in new[] { WeightQuantizer.PairSafePerChannel(w, channels, k).Scales, WeightQuantizer.PerChannel(w, channels, k).Scales })
            {
                var q = CompensatedRounding.Round(w, channels, k, scales, h, 1, pairSafe: true);
                var ints = q.Select(v => (int)v).ToArray();
                for (int c = 0; c < channels; c++) Assert.True(QConvWeights.IsPairSafe(ints, c * k, k), $"k={k} channel {c}");
                Assert.All(q, v => Assert.InRange(v, -127, 127));
            }
        }
    }

    [Theory]
    [InlineData(12, 13)]
    [InlineData(13, 1)]
    [InlineData(14, 40)]
    public void Inverse_factor_is_the_upper_cholesky_factor_of_the_dampened_inverse(int seed, int k)
    {
        var rng = new Random(seed);
        var h = Moments(CorrelatedInputs(rng, k, 3 * k, Math.Max(1, k / 3)), k);
        var u = CompensatedRounding.InverseFactor(h, k);
        double lambda = CompensatedRounding.Dampening * Enumerable.Range(0, k).Average(i => h[i * k + i]);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0, u[i * k + j]);   // upper triangular
        // (Uᵀ·U)·(H + λI) = I.
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double p = 0;
                for (int t = 0; t < k; t++)
                {
                    double inv = 0;
                    for (int r = 0; r < k; r++) inv += u[r * k + i] * u[r * k + t];
                    p += inv * (h[t * k + j] + (t == j ? lambda : 0));
                }
                Assert.Equal(i == j ? 1 : 0, p, 6);
            }
    }

    [Fact]
    public void Groups_use_their_own_moments()
    {
        // Two groups of one channel each (depthwise): group 0 correlated, group 1 identity, so channel 1 is round-to-nearest.
        var rng = new Random(11);
        int k = 9;
        var w = RandomWeights(rng, 2, k);
        var h0 = Moments(CorrelatedInputs(rng, k, 100, 2), k);
        var h = h0.Concat(Enumerable.Range(0, k * k).Select(i => i % (k + 1) == 0 ? 1.0 : 0.0)).ToArray();
        var rtn = WeightQuantizer.PerChannel(w, 2, k);
        var q = CompensatedRounding.Round(w, 2, k, rtn.Scales, h, 2, pairSafe: false);
        Assert.Equal(rtn.Values.Skip(k), q.Skip(k));
        Assert.Equal(CompensatedRounding.Round(w.Take(k).ToArray(), 1, k, rtn.Scales.Take(1).ToArray(), h0, 1, false), q.Take(k));
        Assert.NotEqual(rtn.Values.Take(k), q.Take(k));
    }

    [Theory]
    [InlineData(1, 1, 3, 1, 1, 1)]   // 3x3, pad 1
    [InlineData(2, 1, 3, 2, 0, 1)]   // stride 2, no pad
    [InlineData(3, 3, 3, 1, 1, 1)]   // depthwise-like groups
    [InlineData(4, 1, 1, 1, 0, 1)]   // pointwise
    [InlineData(5, 1, 3, 1, 2, 2)]   // dilation 2, pad 2
    public void Conv_moments_are_those_of_its_patches(int seed, int group, int kernel, int stride, int pad, int dilation)
    {
        var rng = new Random(seed);
        int c = 3, hgt = 7, wid = 6, m = 3;
        var x = Enumerable.Range(0, c * hgt * wid).Select(_ => (float)Gauss(rng)).ToArray();
        var attrs = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
        {
            ["group"] = AttributeValue.Int(group),
            ["strides"] = AttributeValue.IntList(new long[] { stride, stride }),
            ["pads"] = AttributeValue.IntList(new long[] { pad, pad, pad, pad }),
            ["dilations"] = AttributeValue.IntList(new long[] { dilation, dilation }),
        };
        var node = new Node("conv", "Conv", "", new[] { "x", "w" }, new[] { "y" }, attrs);
        var xShape = new Shape(1, c, hgt, wid);
        var types = new TensorType?[] { new TensorType(DataType.Float, xShape), new TensorType(DataType.Float, new Shape(m, c / group, kernel, kernel)) };
        var g = SpatialGeometry.Resolve(new OpContext(node, types, new Tensor?[2], 13), xShape, new[] { kernel, kernel });
        int cg = c / group, k = cg * kernel * kernel;
        var moments = new InputMoments(group, k);
        moments.AddConv(x, c, g);
        Assert.Equal(g.OutH * g.OutW, moments.Vectors);
        // Naive im2col: patch of group grp at (oh, ow), zero outside the input.
        for (int grp = 0; grp < group; grp++)
        {
            var expected = new double[k * k];
            for (int oh = 0; oh < g.OutH; oh++)
                for (int ow = 0; ow < g.OutW; ow++)
                {
                    var v = new double[k];
                    int i = 0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int r = 0; r < kernel; r++)
                            for (int s = 0; s < kernel; s++, i++)
                            {
                                int ih = oh * stride - pad + r * dilation, iw = ow * stride - pad + s * dilation;
                                v[i] = ih >= 0 && ih < hgt && iw >= 0 && iw < wid ? x[((grp * cg + ci) * hgt + ih) * wid + iw] : 0;
                            }
                    for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) expected[a * k + b] += v[a] * v[b];
                }
            for (int a = 0; a < k * k; a++) Assert.Equal(expected[a], moments.H[grp * k * k + a], 9);
        }
    }

    [Fact]
    public void Rows_beyond_the_budget_are_subsampled_evenly()
    {
        int k = 4096; // K²/2 = 8 Mi multiply-adds per vector: 4 of 10 rows fit the budget
        Assert.Equal(4, InputMoments.VectorsPerSample(k, 1, 10));
        Assert.Equal(10, InputMoments.VectorsPerSample(8, 1, 10));
        Assert.Equal(1, InputMoments.VectorsPerSample(1 << 16, 1, 10));
    }

    [SharedFact]
    public void Quantizer_rounds_with_compensation_when_asked()
    {
        static Dictionary<string, long[]> Weights(Graph g) => g.Nodes.Where(n => n.OpType is "QLinearConv" or "ConvInteger")
            .ToDictionary(n => n.Name, n => g.Constants[n.Inputs[n.OpType == "QLinearConv" ? 3 : 1]].ToLongs());
        Assert.False(new QuantizerOptions().CompensatedRounding);
        var off = Weights(_m.Result.Graph);
        var onResult = _m.Again(new QuantizerOptions { CompensatedRounding = true }, new DiagnosticBag());
        var on = Weights(onResult.Graph);
        Assert.Equal(off.Keys, on.Keys);
        // The same calibration gives the same integers.
        var again = Weights(_m.Again(new QuantizerOptions { CompensatedRounding = true }, new DiagnosticBag()).Graph);
        foreach (var name in on.Keys) Assert.Equal(on[name], again[name]);
        // Every layer changes some weights, and no weight moves by more than a few steps.
        foreach (var name in off.Keys)
        {
            Assert.NotEqual(off[name], on[name]);
            Assert.All(off[name].Zip(on[name]), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 20));
        }
        // Layers with too few input vectors per weight keep round-to-nearest.
        var limited = Weights(_m.Again(new QuantizerOptions { CompensatedRounding = true, CompensatedMinVectorsPerInput = 1e9 }, new DiagnosticBag()).Graph);
        foreach (var name in off.Keys) Assert.Equal(off[name], limited[name]);
        // Pair-safe and compensated: the QConvNchw layers stay pair-safe.
        var both = _m.Again(new QuantizerOptions { CompensatedRounding = true, PairSafeWeights = PairSafeWeightsMode.Always }, new DiagnosticBag()).Graph;
        foreach (var n in both.Nodes.Where(n => n.OpType == "QLinearConv"))
        {
            var wt = both.Constants[n.Inputs[3]];
            if (!PairSafeLayers.TakesNchw(both.TypeOf(n.Inputs[0]).Shape, wt.Shape, both.TypeOf(n.Outputs[0]).Shape)) continue;
            Assert.True(QConvWeights.AllPairSafe(wt.ToLongs().Select(v => (int)v).ToArray(), wt.Shape[0], wt.Shape.ElementCount / wt.Shape[0]), n.Name);
        }
    }
}
