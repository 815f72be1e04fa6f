using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// What quad-safe weights cost in weight SQNR (QC_QUANT_MEASURE=1): per model, over the convolutions that lower to QConvNchw
/// (<see cref="PairSafeLayers.TakesNchw"/>), Σw² / Σ(w − s·q)² for plain int8, pair-safe and quad-safe weights (the latter
/// with 16, 32 and 64 scale-factor steps up to 127/32), how many channels plain and pair-safe weights leave not quad-safe,
/// and the time of each quantization. Weights only: no calibration.
/// </summary>
public sealed class QuadSafeMeasurements
{
    private readonly ITestOutputHelper _out;
    public QuadSafeMeasurements(ITestOutputHelper output) => _out = output;

    private static double Db(double s, double n) => 10 * Math.Log10(s / n);

    [MeasurementFact]
    public void Weight_sqnr_of_quad_safe_weights()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = ImageModels.Folders.Select(f => (f, ImageModelGraphs.Unfused(f)))
            .Concat(new[] { ("mnist-8", QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx")), ("kws-m", QuantizerFixtures.OptimizedGraph("kws-m/model.onnx")) });
        var grids = new (string Name, double[] Factors)[]
        {
            ("16", WeightQuantizer.ScaleFactors(16, 127.0 / 32)), ("32", WeightQuantizer.QuadSafeScaleFactors), ("64", WeightQuantizer.ScaleFactors(64, 127.0 / 32)),
        };
        foreach (var (name, g) in models)
        {
            double signal = 0, plainNoise = 0, pairNoise = 0;
            var quadNoise = new double[grids.Length];
            int layers = 0, channels = 0, plainBad = 0, pairBad = 0;
            var pairTime = new Stopwatch();
            var quadTime = new Stopwatch();
            var lines = new List<string>();
            foreach (var n in g.Nodes.Where(n => n.OpType == "Conv" && g.IsConstant(n.Inputs[1])))
            {
                var wt = g.Constants[n.Inputs[1]];
                if (!PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, wt.Shape, g.TypeOf(n.Outputs[0]).Shape)) continue;
                var w = wt.ToFloats();
                int m = wt.Shape[0], k = w.Length / m;
                layers++; channels += m;
                var plain = WeightQuantizer.PerChannel(w, m, k);
                pairTime.Start();
                var pair = WeightQuantizer.PairSafePerChannel(w, m, k);
                pairTime.Stop();
                quadTime.Start();
                var quad = WeightQuantizer.QuadSafePerChannel(w, m, k);
                quadTime.Stop();
                int[] Ints(QuantizedWeights q) => Array.ConvertAll(q.Values, v => (int)v);
                for (int c = 0; c < m; c++)
                {
                    if (!QConvWeights.IsQuadSafe(Ints(plain), c * k, k)) plainBad++;
                    if (!QConvWeights.IsQuadSafe(Ints(pair), c * k, k)) pairBad++;
                }
                Assert.True(QConvWeights.AllQuadSafe(Ints(quad), m, k));
                double Noise(QuantizedWeights q)
                {
                    double e = 0;
                    for (int i = 0; i < w.Length; i++) e += Math.Pow(w[i] - (double)q.Scales[i / k] * q.Values[i], 2);
                    return e;
                }
                double s = w.Sum(v => (double)v * v), ep = Noise(plain), es = Noise(pair), eq = Noise(quad);
                signal += s; plainNoise += ep; pairNoise += es;
                for (int i = 0; i < grids.Length; i++)
                    quadNoise[i] += grids[i].Name == "32" ? eq : Noise(WeightQuantizer.QuadSafePerChannel(w, m, k, grids[i].Factors));
                lines.Add(string.Format(inv, "    {0,-40} {1}x{2}: weight SQNR {3:F2} plain, {4:F2} pair-safe, {5:F2} quad-safe dB", n.Name, m, k, Db(s, ep), Db(s, es), Db(s, eq)));
            }
            _out.WriteLine(string.Format(inv,
                "{0}: {1} QConvNchw convolutions, {2} channels; not quad-safe: {3} plain, {4} pair-safe; weight SQNR over them {5:F2} plain, {6:F2} pair-safe, quad-safe {7}; PairSafePerChannel {8:F1} ms, QuadSafePerChannel {9:F1} ms",
                name, layers, channels, plainBad, pairBad, Db(signal, plainNoise), Db(signal, pairNoise),
                string.Join(", ", grids.Select((gr, i) => string.Format(inv, "{0:F2} ({1} steps)", Db(signal, quadNoise[i]), gr.Name))),
                pairTime.Elapsed.TotalMilliseconds, quadTime.Elapsed.TotalMilliseconds));
            foreach (var l in lines) _out.WriteLine(l);
        }
    }
}
