using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// <see cref="WeightQuantizer.PairSafePerChannel"/>: every channel pair-safe (the rule of <see cref="QConvWeights.IsPairSafe"/>),
/// channels that already were keep their weights bit for bit, the error is never above the plain 7-bit quantization's, and
/// <see cref="GraphQuantizer"/>, asked to, gives the QConvNchw convolutions of a real model pair-safe weights.
/// </summary>
public sealed class PairSafeWeightTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    public PairSafeWeightTests(MnistQuantized m) => _m = m;

    private static int[] Channel(sbyte[] q, int c, int k) => q.AsSpan(c * k, k).ToArray().Select(v => (int)v).ToArray();

    private static double Error(float[] w, int offset, int k, Func<int, int> q, float s)
    {
        double e = 0;
        for (int i = 0; i < k; i++)
        {
            double d = w[offset + i] - (double)s * q(i);
            e += d * d;
        }
        return e;
    }

    /// <summary>The checks every test applies: all channels safe, safe channels unchanged, error ≤ 7-bit's.</summary>
    private static QuantizedWeights CheckAll(float[] w, int channels, int k)
    {
        var plain = WeightQuantizer.PerChannel(w, channels, k);
        var safe = WeightQuantizer.PairSafePerChannel(w, channels, k);
        Assert.Equal(w.Length, safe.Values.Length);
        for (int c = 0; c < channels; c++)
        {
            Assert.True(QConvWeights.IsPairSafe(Channel(safe.Values, c, k), 0, k), $"channel {c} is not pair-safe");
            Assert.All(Channel(safe.Values, c, k), v => Assert.InRange(v, -127, 127));
            if (QConvWeights.IsPairSafe(Channel(plain.Values, c, k), 0, k))
            {
                Assert.Equal(plain.Scales[c], safe.Scales[c]);
                Assert.Equal(Channel(plain.Values, c, k), Channel(safe.Values, c, k));
                continue;
            }
            double amax = Enumerable.Range(0, k).Max(i => Math.Abs(w[c * k + i]));
            if (amax == 0) continue;
            float s7 = (float)(amax / 64.0);
            double e7 = Error(w, c * k, k, i => QuantMath.Quantize(w[c * k + i], s7, 0, -127, 127), s7);
            double e = Error(w, c * k, k, i => safe.Values[c * k + i], safe.Scales[c]);
            Assert.True(e <= e7, $"channel {c}: error {e} above the 7-bit quantization's {e7}");
        }
        return safe;
    }

    [Theory]
    [InlineData(1, 8, 27)]
    [InlineData(2, 16, 9)]
    [InlineData(3, 4, 144)]
    [InlineData(4, 32, 1)]
    [InlineData(5, 3, 2)]
    public void Random_channels_become_pair_safe(int seed, int channels, int k)
    {
        var rng = new Random(seed);
        var w = new float[channels * k];
        // Mixed distributions: gaussian-like, one heavy tail, and channels of same-signed weights (the worst case).
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < k; i++)
            {
                double g = rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5;
                w[c * k + i] = (float)(c % 3 == 0 ? g : c % 3 == 1 ? g * g * g : Math.Abs(g) + 0.5);
            }
        var safe = CheckAll(w, channels, k);
        if (k > 1) Assert.Contains(Enumerable.Range(0, channels), c => !QConvWeights.IsPairSafe(Channel(WeightQuantizer.PerChannel(w, channels, k).Values, c, k), 0, k));
        Assert.Equal(safe.Values, WeightQuantizer.PairSafePerChannel(w, channels, k).Values); // deterministic
    }

    [Fact]
    public void Adversarial_channels_become_pair_safe()
    {
        const int k = 7; // odd: the last weight pairs with 0
        var w = new float[]
        {
            1.0f, 0.99f, 0.98f, 0.97f, 0.5f, 0.4f, 1.0f,         // +127 paired with large positives
            -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f,     // all at −127
            0, 0, 0, 0, 0, 0, 0,                                  // all zero
            1.0f, -1.0f, 1.0f, -1.0f, 0.3f, -0.3f, 1.0f,          // safe: opposite signs
            0.51f, 0.51f, 1.0f, 0.01f, -0.6f, -0.6f, -0.2f,       // 65 + 65 just over the bound, then −76 − 76
            1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, // tiny
        };
        int channels = w.Length / k;
        var safe = CheckAll(w, channels, k);
        // The all-zero and the opposite-sign channels were already safe.
        Assert.Equal(1f, safe.Scales[2]);
        Assert.All(Channel(safe.Values, 2, k), v => Assert.Equal(0, v));
        Assert.Equal(new[] { 127, -127, 127, -127, 38, -38, 127 }, Channel(safe.Values, 3, k));
        // A channel of equal weights: every pair sums to exactly ±128 (64 each), whatever the scale.
        Assert.All(Channel(safe.Values, 1, k).Take(6), v => Assert.Equal(-64, v));
    }

    [Fact]
    public void One_pair_over_the_bound_costs_at_most_its_projection()
    {
        // One pair at 65 + 65 in a channel whose other pairs are fine: the result is at least as good as moving it to 64 + 64.
        var w = new float[] { 1.0f, -0.1f, 65f / 127, 65f / 127, -0.3f, 0.2f, 0.05f, 0.0f };
        var plain = WeightQuantizer.PerChannel(w, 1, w.Length);
        Assert.Equal(new[] { 65, 65 }, Channel(plain.Values, 0, w.Length).Skip(2).Take(2));
        var safe = CheckAll(w, 1, w.Length);
        var projected = Channel(plain.Values, 0, w.Length);
        projected[2] = 64; projected[3] = 64;
        Assert.True(Error(w, 0, w.Length, i => safe.Values[i], safe.Scales[0]) <= Error(w, 0, w.Length, i => projected[i], plain.Scales[0]));
        Assert.True(safe.Values[2] + safe.Values[3] <= 128);
    }

    [SharedFact]
    public void Mnist_QConvNchw_layers_get_pair_safe_weights()
    {
        static List<(Node Conv, bool Nchw, bool Safe, long[] Weights)> Convs(Graph g)
        {
            var r = new List<(Node, bool, bool, long[])>();
            foreach (var n in g.Nodes.Where(n => n.OpType == "QLinearConv"))
            {
                var wt = g.Constants[n.Inputs[3]];
                int k = wt.Shape.ElementCount / wt.Shape[0];
                var w = wt.ToLongs().Select(v => (int)v).ToArray();
                bool safe = Enumerable.Range(0, wt.Shape[0]).All(c => QConvWeights.IsPairSafe(w, c * k, k));
                r.Add((n, PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, wt.Shape, g.TypeOf(n.Outputs[0]).Shape), safe, wt.ToLongs()));
            }
            return r;
        }
        var on = Convs(_m.Again(new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Always }, new DiagnosticBag()).Graph);
        Assert.Contains(on, c => c.Nchw);
        Assert.All(on.Where(c => c.Nchw), c => Assert.True(c.Safe, $"{c.Conv.Name} lowers to QConvNchw but its weights are not pair-safe"));
        // Off (the default), mnist's first convolution is not pair-safe (so the check above can fail).
        Assert.Equal(PairSafeWeightsMode.Never, new QuantizerOptions().PairSafeWeights);
        var off = Convs(_m.Result.Graph);
        Assert.Contains(off, c => c.Nchw && !c.Safe);
        // Layers that do not take QConvNchw keep their weights.
        foreach (var (conv, _, _, weights) in on.Where(c => !c.Nchw))
            Assert.Equal(off.Single(o => o.Conv.Name == conv.Name).Weights, weights);
        // A loss limit below the layer's weight SQNR loss (3.5 dB for mnist's first convolution) keeps the plain weights.
        var limited = Convs(_m.Again(new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Always, PairSafeMaxLossDb = 1 }, new DiagnosticBag()).Graph);
        foreach (var c in limited) Assert.Equal(off.Single(o => o.Conv.Name == c.Conv.Name).Weights, c.Weights);
    }
}
