using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// <see cref="WeightQuantizer.QuadSafePerChannel"/> and <see cref="QConvWeights.IsQuadSafe"/>: every channel quad-safe (and so
/// pair-safe), channels that already were keep their weights bit for bit, the error is never above the plain 6-bit
/// quantization's (scale max|w|/32), the block flags then pair quads in every block in unsigned mode, and
/// <see cref="GraphQuantizer"/> with <see cref="PairSafeWeightsMode.Quad"/> gives a real model's QConvNchw convolutions
/// quad-safe weights.
/// </summary>
public sealed class QuadSafeWeightTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    public QuadSafeWeightTests(MnistQuantized m) => _m = m;

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

    /// <summary>The quad bound written out from the kernel's lanes, independently of <see cref="QConvWeights.QuadSafeGroups"/>.</summary>
    private static bool QuadSafeByLanes(int[] w, int k)
    {
        int At(int i) => i < k ? w[i] : 0;
        int quads = (k + 3) / 4;
        for (int q = 0; q < quads; q++)
            for (int t = 0; t < 4; t += 2)
            {
                // Quads 2j and 2j + 1 share a lane; an odd last quad has its pair alone.
                var lane = q % 2 == 0 && q + 1 < quads ? new[] { At(4 * q + t), At(4 * q + t + 1), At(4 * q + 4 + t), At(4 * q + 5 + t) }
                    : q % 2 == 0 ? new[] { At(4 * q + t), At(4 * q + t + 1) } : Array.Empty<int>();
                if (lane.Where(v => v > 0).Sum() > 128 || lane.Where(v => v < 0).Sum() < -128) return false;
            }
        return true;
    }

    /// <summary>The checks every test applies: all channels quad-safe, safe channels unchanged, error ≤ 6-bit's.</summary>
    private static QuantizedWeights CheckAll(float[] w, int channels, int k)
    {
        var plain = WeightQuantizer.PerChannel(w, channels, k);
        var safe = WeightQuantizer.QuadSafePerChannel(w, channels, k);
        Assert.Equal(w.Length, safe.Values.Length);
        for (int c = 0; c < channels; c++)
        {
            var q = Channel(safe.Values, c, k);
            Assert.True(QConvWeights.IsQuadSafe(q, 0, k), $"channel {c} is not quad-safe");
            Assert.True(QuadSafeByLanes(q, k), $"channel {c} breaks a lane bound");
            Assert.True(QConvWeights.IsPairSafe(q, 0, k), $"channel {c} is not pair-safe");
            Assert.All(q, v => Assert.InRange(v, -127, 127));
            if (QConvWeights.IsQuadSafe(Channel(plain.Values, c, k), 0, k))
            {
                Assert.Equal(plain.Scales[c], safe.Scales[c]);
                Assert.Equal(Channel(plain.Values, c, k), q);
                continue;
            }
            double amax = Enumerable.Range(0, k).Max(i => Math.Abs(w[c * k + i]));
            if (amax == 0) continue;
            float s6 = (float)(amax / 32.0);
            double e6 = Error(w, c * k, k, i => QuantMath.Quantize(w[c * k + i], s6, 0, -127, 127), s6);
            double e = Error(w, c * k, k, i => safe.Values[c * k + i], safe.Scales[c]);
            Assert.True(e <= e6, $"channel {c}: error {e} above the 6-bit quantization's {e6}");
        }
        return safe;
    }

    [Theory]
    [InlineData(1, 8, 27)]
    [InlineData(2, 16, 9)]
    [InlineData(3, 4, 144)]
    [InlineData(4, 32, 1)]
    [InlineData(5, 3, 2)]
    [InlineData(6, 8, 12)]   // three quads: the last one alone, pair-safe only
    [InlineData(7, 8, 16)]
    [InlineData(8, 5, 6)]
    public void Random_channels_become_quad_safe(int seed, int channels, int k)
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
        if (k > 1) Assert.Contains(Enumerable.Range(0, channels), c => !QConvWeights.IsQuadSafe(Channel(WeightQuantizer.PerChannel(w, channels, k).Values, c, k), 0, k));
        Assert.Equal(safe.Values, WeightQuantizer.QuadSafePerChannel(w, channels, k).Values); // deterministic
        Assert.Equal(safe.Scales, WeightQuantizer.QuadSafePerChannel(w, channels, k).Scales);
    }

    [Fact]
    public void Adversarial_channels_become_quad_safe()
    {
        const int k = 10; // two full quads and a pair in the third
        var w = new float[]
        {
            1.0f, 0.99f, 0.98f, 0.97f, 0.5f, 0.4f, 1.0f, 0.9f, 1.0f, 1.0f,   // large positives everywhere
            -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,                          // all at −127
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                    // all zero
            1.0f, -1.0f, 1.0f, -1.0f, 0, 0, 0, 0, 0.3f, -0.3f,              // safe: the lanes' parts stay at ±127
            0.26f, 0.26f, 0, 0, 0.26f, 0.26f, 0, 0, 1.0f, 0.01f,            // one lane at 4 · 33 = 132, just over
            1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, 1e-30f, // tiny
        };
        int channels = w.Length / k;
        var safe = CheckAll(w, channels, k);
        Assert.Equal(1f, safe.Scales[2]);
        Assert.All(Channel(safe.Values, 2, k), v => Assert.Equal(0, v));
        Assert.Equal(new[] { 127, -127, 127, -127, 0, 0, 0, 0, 38, -38 }, Channel(safe.Values, 3, k));
        // A channel of equal weights: every lane of four sums to exactly −128 (−32 each), whatever the scale.
        Assert.All(Channel(safe.Values, 1, k).Take(8), v => Assert.Equal(-32, v));
    }

    [Fact]
    public void One_lane_over_the_bound_costs_at_most_its_best_projection()
    {
        // One lane at 4 · 33 = 132 in a channel whose other lanes are fine: the result is at least as good as the best
        // integer point on the bound at the plain scale (found here by trying them all), and that point is what the
        // projection gives at factor 1.
        var w = new float[] { 33.4f / 127, 32.9f / 127, 0, -0.1f, 33.2f / 127, 33.1f / 127, -0.2f, 1.0f };
        var plain = WeightQuantizer.PerChannel(w, 1, w.Length);
        var q0 = Channel(plain.Values, 0, w.Length);
        Assert.Equal(new[] { 33, 33, 33, 33 }, new[] { q0[0], q0[1], q0[4], q0[5] });
        float s = plain.Scales[0];
        double best = double.PositiveInfinity;
        int[] lane = { 0, 1, 4, 5 };
        for (int a = 0; a <= 33; a++) for (int b = 0; b <= 33; b++) for (int c = 0; c <= 33; c++)
        {
            int d = 128 - a - b - c;
            if (d < 0 || d > 33) continue;
            var q = (int[])q0.Clone();
            q[0] = a; q[1] = b; q[4] = c; q[5] = d;
            best = Math.Min(best, Error(w, 0, w.Length, i => q[i], s));
        }
        var safe = CheckAll(w, 1, w.Length);
        double e = Error(w, 0, w.Length, i => safe.Values[i], safe.Scales[0]);
        Assert.True(e <= best * (1 + 1e-12), $"error {e} above the best projection's {best}");
        var only = WeightQuantizer.QuadSafePerChannel(w, 1, w.Length, new[] { 1.0 });
        Assert.Equal(best, Error(w, 0, w.Length, i => only.Values[i], only.Scales[0]), 12);
        Assert.Equal(128, lane.Sum(i => (int)only.Values[i]));
    }

    /// <summary>
    /// <see cref="QConvWeights.IsQuadSafe"/> is exactly the condition under which <see cref="QConvWeights.NchwBlockFlags"/>
    /// sets <see cref="QConvWeights.NchwPairQuads"/> in unsigned mode (for an even quad count, where no quad is left alone):
    /// checked on random small weights around the bound, row by row.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(7)]
    public void Quad_safety_is_what_the_block_flags_require(int k)
    {
        var rng = new Random(k);
        int agreeSafe = 0, agreeUnsafe = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var row = new int[k];
            for (int i = 0; i < k; i++) row[i] = rng.Next(-50, 51);
            if (!QConvWeights.IsPairSafe(row, 0, k)) continue;
            var (packed, _, _) = QConvWeights.PackNchw(row, 1, k);
            var flags = QConvWeights.NchwBlockFlags(packed, 1, k, new[] { 0 }, new[] { 1e-9f }, unsignedActivations: true);
            bool paired = (flags[0] & QConvWeights.NchwPairQuads) != 0;
            Assert.Equal(paired, QConvWeights.IsQuadSafe(row, 0, k));
            if (paired) agreeSafe++; else agreeUnsafe++;
        }
        Assert.True(agreeSafe > 10 && agreeUnsafe > 10, $"{agreeSafe} safe, {agreeUnsafe} unsafe rows: the sample does not reach both sides");
    }

    [Theory]
    [InlineData(11, 8, 32)]
    [InlineData(12, 6, 27)]
    [InlineData(13, 16, 144)]
    public void Quad_safe_weights_pair_quads_in_every_block(int seed, int channels, int k)
    {
        var rng = new Random(seed);
        var w = new float[channels * k];
        for (int i = 0; i < w.Length; i++)
        {
            double g = rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5;
            w[i] = (float)(i % 5 == 0 ? g * g * g : g);
        }
        int[] Ints(QuantizedWeights q) => Array.ConvertAll(q.Values, v => (int)v);
        byte[] Flags(QuantizedWeights q)
        {
            var (packed, _, _) = QConvWeights.PackNchw(Ints(q), channels, k);
            return QConvWeights.NchwBlockFlags(packed, channels, k, new int[channels], Enumerable.Repeat(1e-9f, channels).ToArray(), unsignedActivations: true);
        }
        var quad = WeightQuantizer.QuadSafePerChannel(w, channels, k);
        Assert.True(QConvWeights.AllQuadSafe(Ints(quad), channels, k));
        Assert.All(Flags(quad), f => Assert.Equal(QConvWeights.NchwPairQuads, f & QConvWeights.NchwPairQuads));
        // Pair-safe weights of the same layer leave some block unpaired (so the check above can fail).
        var pair = WeightQuantizer.PairSafePerChannel(w, channels, k);
        Assert.True(QConvWeights.AllPairSafe(Ints(pair), channels, k));
        Assert.Contains(Flags(pair), f => (f & QConvWeights.NchwPairQuads) == 0);
    }

    [SharedFact]
    public void Mnist_QConvNchw_layers_get_quad_safe_weights()
    {
        static List<(Node Conv, bool Nchw, bool Safe, long[] Weights)> Convs(Graph g)
        {
            var r = new List<(Node, bool, bool, long[])>();
            foreach (var n in g.Nodes.Where(n => n.OpType == "QLinearConv"))
            {
                var wt = g.Constants[n.Inputs[3]];
                int k = wt.Shape.ElementCount / wt.Shape[0];
                var w = wt.ToLongs().Select(v => (int)v).ToArray();
                r.Add((n, PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, wt.Shape, g.TypeOf(n.Outputs[0]).Shape),
                    QConvWeights.AllQuadSafe(w, wt.Shape[0], k), wt.ToLongs()));
            }
            return r;
        }
        var quad = _m.Again(new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Quad }, new DiagnosticBag());
        var on = Convs(quad.Graph);
        Assert.Contains(on, c => c.Nchw);
        Assert.All(on.Where(c => c.Nchw), c => Assert.True(c.Safe, $"{c.Conv.Name} lowers to QConvNchw but its weights are not quad-safe"));
        Assert.Contains(", quad-safe conv weights", quad.Report.SummaryLine);
        // Pair-safe weights are not quad-safe on mnist's first convolution (so the check above can fail).
        var pair = Convs(_m.Again(new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Always }, new DiagnosticBag()).Graph);
        Assert.Contains(pair, c => c.Nchw && !c.Safe);
        var off = Convs(_m.Result.Graph);
        foreach (var (conv, _, _, weights) in on.Where(c => !c.Nchw))
            Assert.Equal(off.Single(o => o.Conv.Name == conv.Name).Weights, weights);
    }
}
