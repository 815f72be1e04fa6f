using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Ir;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Census of pair-safety (QC_QUANT_MEASURE=1): per model, the convolutions that lower to QConvNchw
/// (<see cref="PairSafeLayers.TakesNchw"/>; float-output heads included, since that is decided by the quantizer), how many of
/// their channels and weight pairs violate the pair bound with plain per-channel int8, and what the pair-safe quantization
/// costs in weight SQNR (Σw² / Σ(w − s·q)², per layer and over all such layers) and in time. Weights only: no calibration.
/// </summary>
public sealed class PairSafeMeasurements
{
    private readonly ITestOutputHelper _out;
    public PairSafeMeasurements(ITestOutputHelper output) => _out = output;

    [MeasurementFact]
    public void Census_of_pair_safety()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = ImageModels.Folders.Select(f => (f, ImageModelGraphs.Unfused(f)))
            .Concat(new[] { ("mnist-8", QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx")), ("kws-m", QuantizerFixtures.OptimizedGraph("kws-m/model.onnx")) });
        foreach (var (name, g) in models)
        {
            int convs = 0, nchw = 0, badLayers = 0, channels = 0, badChannels = 0, changedAfter = 0;
            long pairs = 0, badPairs = 0;
            double signal = 0, noisePlain = 0, noiseSafe = 0;
            var plainTime = new Stopwatch();
            var safeTime = new Stopwatch();
            var lines = new List<string>();
            foreach (var n in g.Nodes.Where(n => n.OpType == "Conv" && g.IsConstant(n.Inputs[1])))
            {
                convs++;
                var wt = g.Constants[n.Inputs[1]];
                if (!PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, wt.Shape, g.TypeOf(n.Outputs[0]).Shape)) continue;
                nchw++;
                var w = wt.ToFloats();
                int m = wt.Shape[0], k = w.Length / m;
                plainTime.Start();
                var plain = WeightQuantizer.PerChannel(w, m, k);
                plainTime.Stop();
                safeTime.Start();
                var safe = WeightQuantizer.PairSafePerChannel(w, m, k);
                safeTime.Stop();
                int layerBad = 0;
                long layerBadPairs = 0;
                double s = 0, ep = 0, es = 0;
                for (int c = 0; c < m; c++)
                {
                    var q = plain.Values.AsSpan(c * k, k).ToArray().Select(v => (int)v).ToArray();
                    int bad = 0;
                    for (int i = 0; i < k; i += 2)
                        if (!QConvWeights.IsPairSafe(q, i, Math.Min(2, k - i))) bad++;
                    pairs += (k + 1) / 2;
                    layerBadPairs += bad;
                    if (bad > 0) layerBad++;
                    if (safe.Scales[c] != plain.Scales[c]) changedAfter++;
                    var qs = safe.Values.AsSpan(c * k, k).ToArray().Select(v => (int)v).ToArray();
                    Assert.True(QConvWeights.IsPairSafe(qs, 0, k));
                    for (int i = 0; i < k; i++)
                    {
                        double x = w[c * k + i];
                        s += x * x;
                        ep += Math.Pow(x - (double)plain.Scales[c] * q[i], 2);
                        es += Math.Pow(x - (double)safe.Scales[c] * qs[i], 2);
                    }
                }
                channels += m; badChannels += layerBad; badPairs += layerBadPairs;
                if (layerBad > 0) badLayers++;
                signal += s; noisePlain += ep; noiseSafe += es;
                lines.Add(string.Format(inv, "    {0,-40} {1}x{2} k={3,5}: {4,4}/{5,4} channels, {6,6} pairs violate; weight SQNR {7:F2} → {8:F2} dB",
                    n.Name, m, k, k, layerBad, m, layerBadPairs, Db(s, ep), Db(s, es)));
            }
            _out.WriteLine(string.Format(inv,
                "{0}: {1} Conv, {2} take QConvNchw, {3} of them violate; channels {4}/{5} violate ({6} rescaled), pairs {7}/{8}; "
                + "weight SQNR over these layers {9:F2} → {10:F2} dB; PerChannel {11:F1} ms, PairSafePerChannel {12:F1} ms",
                name, convs, nchw, badLayers, badChannels, channels, changedAfter, badPairs, pairs, Db(signal, noisePlain), Db(signal, noiseSafe),
                plainTime.Elapsed.TotalMilliseconds, safeTime.Elapsed.TotalMilliseconds));
            foreach (var l in lines) _out.WriteLine(l);
        }
    }

    /// <summary>
    /// Weight SQNR over each model's QConvNchw convolutions for several grids of scale factors (the choice of
    /// <see cref="WeightQuantizer.PairSafeScaleFactors"/>): plain int8, then pair-safe with 8, 16, 32 and 64 steps up to 127/64,
    /// and 16 steps plus factors below 1 (clipping the largest weights).
    /// </summary>
    [MeasurementFact]
    public void Scale_factor_grids()
    {
        var inv = CultureInfo.InvariantCulture;
        var below = new[] { 0.8, 0.85, 0.9, 0.95 }.Concat(WeightQuantizer.ScaleFactors(16)).ToArray();
        var grids = new (string Name, double[] Factors)[]
        {
            ("8 steps", WeightQuantizer.ScaleFactors(8)), ("16", WeightQuantizer.ScaleFactors(16)),
            ("32", WeightQuantizer.ScaleFactors(32)), ("64", WeightQuantizer.ScaleFactors(64)), ("16 + t<1", below),
        };
        var models = ImageModels.Folders.Select(f => (f, ImageModelGraphs.Unfused(f)))
            .Concat(new[] { ("mnist-8", QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx")), ("kws-m", QuantizerFixtures.OptimizedGraph("kws-m/model.onnx")) });
        foreach (var (name, g) in models)
        {
            var layers = g.Nodes.Where(n => n.OpType == "Conv" && g.IsConstant(n.Inputs[1])
                && PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, g.Constants[n.Inputs[1]].Shape, g.TypeOf(n.Outputs[0]).Shape))
                .Select(n => g.Constants[n.Inputs[1]]).Select(t => (W: t.ToFloats(), M: t.Shape[0])).ToList();
            double signal = layers.Sum(l => l.W.Sum(x => (double)x * x));
            double Noise(Func<float[], int, int, QuantizedWeights> quantize) => layers.Sum(l =>
            {
                int k = l.W.Length / l.M;
                var q = quantize(l.W, l.M, k);
                double e = 0;
                for (int i = 0; i < l.W.Length; i++) e += Math.Pow(l.W[i] - (double)q.Scales[i / k] * q.Values[i], 2);
                return e;
            });
            var parts = new List<string> { string.Format(inv, "plain {0:F2}", Db(signal, Noise(WeightQuantizer.PerChannel))) };
            foreach (var (gridName, factors) in grids)
            {
                var sw = Stopwatch.StartNew();
                double noise = Noise((w, m, k) => WeightQuantizer.PairSafePerChannel(w, m, k, factors));
                parts.Add(string.Format(inv, "{0} {1:F2} ({2:F0} ms)", gridName, Db(signal, noise), sw.Elapsed.TotalMilliseconds));
            }
            _out.WriteLine(name + ": weight SQNR dB, " + string.Join(", ", parts));
        }
    }

    /// <summary>
    /// mnist-8 (calibrated on digits 0..999, Mse, evaluated on the other 9,000) and kws-m (200 normal inputs, evaluated on
    /// 200 others and its test sets) quantized with and without <see cref="QuantizerOptions.PairSafeWeights"/> in the
    /// same process: output SQNR against float of the simulated int8 model, top-1 agreement, mnist accuracy.
    /// </summary>
    [MeasurementFact]
    public void Small_models_with_and_without_pair_safe_weights()
    {
        var mnist = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        Compare("mnist-8", mnist, QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(0, 1000)).ToList(),
            QuantizerFixtures.MnistDigits(1000, 9000), QuantizerFixtures.MnistLabelBytes(1000, 9000));
        var kws = QuantizerFixtures.OptimizedGraph("kws-m/model.onnx");
        var shape = kws.Inputs[0].Type.Shape;
        var test = QuantizerFixtures.NormalInputs(200, shape, 11);
        test.AddRange(TestData.Sets(SharedData.Model("kws-m")).Select(s => TestData.Inputs(s)[0]));
        Compare("kws-m", kws, QuantizerFixtures.AsSamples(QuantizerFixtures.NormalInputs(200, shape, 7)).ToList(), test, null);
    }

    private void Compare(string model, Graph g, List<IReadOnlyList<Tensor>> samples, List<Tensor> test, byte[]? labels)
    {
        var calibration = Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.Mse });
        var reference = test.Select(x => Q.Compiler.Interpreter.FloatInterpreter.Run(g, new[] { x })[0].ToFloats()).ToList();
        foreach (bool pairSafe in new[] { false, true })
        {
            var sw = Stopwatch.StartNew();
            var q = GraphQuantizer.Quantize(g, calibration, samples.Take(200), new QuantizerOptions { PairSafeWeights = pairSafe ? PairSafeWeightsMode.Always : PairSafeWeightsMode.Never },
                new Q.Compiler.Diagnostics.DiagnosticBag());
            double quantizeMs = sw.Elapsed.TotalMilliseconds;
            var (signal, noise, agree, correct, correctFloat) = QuantizerFixtures.CompareWithFloat(q, test, reference, labels);
            _out.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "{0} pair-safe {1}: output SQNR {2:F2} dB, top-1 agreement {3:F2}% ({4} of {5}){6}; GraphQuantizer.Quantize {7:F0} ms",
                model, pairSafe ? "on " : "off", Db(signal, noise), 100.0 * agree / test.Count, agree, test.Count,
                labels is null ? "" : string.Format(CultureInfo.InvariantCulture, ", accuracy {0:F2}% (float {1:F2}%)", 100.0 * correct / labels.Length, 100.0 * correctFloat / labels.Length),
                quantizeMs));
        }
    }

    private static double Db(double signal, double noise) => noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
}
