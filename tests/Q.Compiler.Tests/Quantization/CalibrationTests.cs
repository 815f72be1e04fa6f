using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>Range methods on synthetic distributions with known answers, the histogram, and the calibrator driver.</summary>
public class CalibrationTests
{
    private static float[] Uniform(int n, double lo, double hi, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(lo + rng.NextDouble() * (hi - lo))).ToArray();
    }

    private static float[] Gaussian(int n, double sigma, int seed)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            r[i] = (float)(sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return r;
    }

    /// <summary>N(0,1) with 20 outliers at ±40..50 among 200,000 values.</summary>
    private static float[] GaussianWithOutliers()
    {
        var g = Gaussian(200_000, 1.0, 42);
        for (int i = 0; i < 20; i++) g[i * 9973] = (i % 2 == 0 ? 1 : -1) * (40f + i / 2f);
        return g;
    }

    private static TensorHistogram Hist(float[] x, int bins = 2048)
    {
        var h = new TensorHistogram(bins, x.Max(v => Math.Abs(v)));
        h.Add(x);
        return h;
    }

    [Fact]
    public void Uniform_data_keeps_nearly_its_full_range_with_every_method()
    {
        var x = Uniform(200_000, -1, 1, 1);
        var h = Hist(x);
        var mm = CalibrationMethods.Compute(h, CalibrationMethod.MinMax);
        Assert.Equal(x.Min(), mm.Min);
        Assert.Equal(x.Max(), mm.Max);
        foreach (var m in new[] { CalibrationMethod.Percentile, CalibrationMethod.Entropy, CalibrationMethod.Mse })
        {
            var r = CalibrationMethods.Compute(h, m);
            Assert.InRange(r.Max, 0.9, 1.0);
            Assert.InRange(r.Min, -1.0, -0.9);
        }
        var p = CalibrationMethods.Compute(h, CalibrationMethod.Percentile, percentile: 99.999);
        Assert.InRange(p.Max, 0.998, 1.0);
    }

    [Fact]
    public void Gaussian_with_outliers_clips_well_below_the_max_except_minmax()
    {
        var h = Hist(GaussianWithOutliers());
        Assert.InRange(CalibrationMethods.Compute(h, CalibrationMethod.MinMax).Max, 49.0, 50.0);
        var ent = CalibrationMethods.Compute(h, CalibrationMethod.Entropy);
        var mse = CalibrationMethods.Compute(h, CalibrationMethod.Mse);
        var pct = CalibrationMethods.Compute(h, CalibrationMethod.Percentile, percentile: 99.9);
        // Two-sided 99.9%: 100 values cut per tail, 10 of them outliers; 90 of 200,000 Gaussian values is |z| ≈ 3.3.
        Assert.InRange(pct.Max, 3.1, 3.6);
        Assert.InRange(pct.Min, -3.6, -3.1);
        Assert.InRange(ent.Max, 3.0, 6.0);
        Assert.InRange(ent.Min, -6.0, -3.0);
        // MSE is the one that keeps them, rightly for 8 bits: clipping 20 values at ~45 costs 20·41² ≈ 34,000, while the
        // rounding noise of the full range is only 200,000·(90/255)²/12 ≈ 2,100.
        Assert.True(mse.Max > 40);
        // Symmetric percentile on |x|: 200 cut, 180 of them Gaussian: P(|z| > 3.3) ≈ 0.09%.
        var sym = CalibrationMethods.Compute(h, CalibrationMethod.Percentile, symmetric: true, percentile: 99.9);
        Assert.Equal(-sym.Max, sym.Min);
        Assert.InRange(sym.Max, 3.1, 3.6);
    }

    [Fact]
    public void Relu_outputs_keep_zero_as_the_lower_end()
    {
        var x = Gaussian(100_000, 2.0, 3).Select(v => Math.Max(0f, v)).ToArray();
        var h = Hist(x);
        foreach (var m in Enum.GetValues<CalibrationMethod>())
        {
            var r = CalibrationMethods.Compute(h, m);
            Assert.Equal(0.0, r.Min);
            // σ = 2: no method should clip below 3σ; the exact zeros (half the values) must not pull entropy down.
            Assert.InRange(r.Max, 6.0, x.Max());
        }
    }

    [Fact]
    public void Mse_finds_the_analytic_8_bit_clipping_optimum()
    {
        // Banner et al. (ACIQ): for 8-bit uniform quantization the MSE-optimal clip is about 9.89·b for Laplace(0, b)
        // and about 4σ for a Gaussian; MinMax would take the sample's extreme (≈ 12 and ≈ 4.6 here).
        var rng = new Random(9);
        var laplace = Enumerable.Range(0, 200_000).Select(_ => { double u = rng.NextDouble() - 0.5; return (float)(-Math.Sign(u) * Math.Log(1 - 2 * Math.Abs(u))); }).ToArray();
        Assert.InRange(CalibrationMethods.Compute(Hist(laplace), CalibrationMethod.Mse, symmetric: true).Max, 9.0, 10.8);
        Assert.InRange(CalibrationMethods.Compute(Hist(Gaussian(200_000, 1.0, 4)), CalibrationMethod.Mse, symmetric: true).Max, 3.6, 4.5);
    }

    [Fact]
    public void Growing_histogram_merges_bins_exactly()
    {
        var a = Uniform(10_000, -1, 1, 5);
        var b = Uniform(10_000, -3.5, 3.5, 6);
        var grown = new TensorHistogram(64);
        grown.Add(a);
        grown.Add(b);
        Assert.Equal(4 * a.Max(v => Math.Abs(v)) * (1 + 1.0 / 1024), grown.Threshold, 12);
        var fixedRange = new TensorHistogram(64, grown.Threshold);
        fixedRange.Add(a);
        fixedRange.Add(b);
        Assert.Equal(fixedRange.Counts.ToArray(), grown.Counts.ToArray());
        Assert.Equal(20_000, grown.Count);
        Assert.Equal(Math.Min(a.Min(), b.Min()), grown.Min);
        // All-zero data before any range is known still lands in the bin at 0.
        var z = new TensorHistogram(8);
        z.Add(new float[5]);
        Assert.Equal(5, z.Counts[4]);
        z.Add(new[] { 1f, float.NaN });
        Assert.Equal(5, z.Counts[4]);
        Assert.Equal(1, z.NonFinite);
    }

    [Fact]
    public void Methods_are_deterministic()
    {
        var x = GaussianWithOutliers();
        foreach (var m in Enum.GetValues<CalibrationMethod>())
            Assert.Equal(CalibrationMethods.Compute(Hist(x), m).ToString(), CalibrationMethods.Compute(Hist(x), m).ToString());
    }

    /// <summary>y = Relu(x): a one-node graph for the calibrator.</summary>
    private static Graph ReluGraph()
    {
        var t = new TensorType(DataType.Float, new Shape(1, 1000));
        var info = new ModelInfo("relu.onnx", "", "test", 8, new Dictionary<string, long> { [""] = 13 });
        return new Graph(info, new[] { new ValueInfo("x", t) }, new[] { new ValueInfo("y", t) },
            new[] { new Node("relu", "Relu", "", new[] { "x" }, new[] { "y" }) },
            new Dictionary<string, Tensor>(), new Dictionary<string, TensorType> { ["x"] = t, ["y"] = t });
    }

    private static List<IReadOnlyList<Tensor>> Samples(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => (IReadOnlyList<Tensor>)new[] { Tensor.FromFloats(new Shape(1, 1000), Gaussian(1000, 1 + i, seed + i)) }).ToList();

    [Fact]
    public void Calibrator_observes_inputs_and_node_outputs_and_is_order_independent()
    {
        var g = ReluGraph();
        var samples = Samples(6, 100);
        var r = Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.MinMax });
        Assert.Equal(6, r.Samples);
        Assert.Equal(new[] { "x", "y" }, r.Ranges.Keys);
        Assert.Equal(0.0, r.Ranges["y"].Min);
        Assert.Equal(r.Ranges["x"].Max, r.Ranges["y"].Max);
        Assert.Equal(samples.Min(s => s[0].As<float>().Min()), r.Ranges["x"].Min);

        var e1 = Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.Entropy });
        var reversed = samples.AsEnumerable().Reverse().ToList();
        var e2 = Calibrator.Run(g, reversed, new CalibrationOptions { Method = CalibrationMethod.Entropy });
        Assert.Equal(e1.Ranges["y"].ToString(), e2.Ranges["y"].ToString());
        Assert.True(e1.Ranges["y"].Max <= r.Ranges["y"].Max);
    }

    [Fact]
    public void Calibrator_reports_empty_sets_and_non_finite_values()
    {
        var g = ReluGraph();
        var e = Assert.Throws<QcException>(() => Calibrator.Run(g, new List<IReadOnlyList<Tensor>>(), new CalibrationOptions()));
        Assert.Equal(DiagnosticIds.CalibrationEmpty, e.Diagnostic.Id);
        var bad = Gaussian(1000, 1, 1);
        bad[10] = float.NaN;
        e = Assert.Throws<QcException>(() => Calibrator.Run(g, new List<IReadOnlyList<Tensor>> { new[] { Tensor.FromFloats(new Shape(1, 1000), bad) } }, new CalibrationOptions()));
        Assert.Equal(DiagnosticIds.CalibrationNonFinite, e.Diagnostic.Id);
    }
}
