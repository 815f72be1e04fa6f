using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Compensated rounding (<see cref="CompensatedRounding"/>, QC_QUANT_MEASURE=1) against round-to-nearest on the image
/// models (QC_ACC_MODEL, default ppocr and mobilenet for the layers, all four for the model): per layer the weight output
/// error ‖W·X − Ŵ·X‖² on the calibration set's float inputs as SQNR (from the layer's input moments H: Σ wᵀHw / Σ δᵀHδ),
/// plain and pair-safe; per model the simulated int8 model's output SQNR on the calibration set and the test sets.
/// </summary>
public sealed class CompensatedRoundingMeasurements : ImageModelMeasurement
{
    public CompensatedRoundingMeasurements(ITestOutputHelper output) : base(output) { }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [MeasurementFact]
    public void Weight_output_error_per_layer()
    {
        foreach (var folder in ModelsFromEnvironment("ppocr-cls-mobile", "mobilenet-v2-128-0.5"))
        {
            var g = ImageModelGraphs.Unfused(folder);
            var set = CalibrationDataSet.Open(CalibrationFolder(folder).Folder, g.Inputs);
            var runs = new FloatRuns(g, set);
            var sw = Stopwatch.StartNew();
            var moments = InputMoments.Collect(g, runs.Pass("moments"));
            double collectS = sw.Elapsed.TotalSeconds;
            sw.Restart();
            var totals = new double[5]; // signal, rtn, comp, safe rtn, safe comp
            var safeTotals = new double[4]; // signal, pair-safe RTN, pair-safe comp, plain RTN (same layers)
            Out.WriteLine($"{folder}: moments of {moments.Count} layers in {collectS:F1} s");
            foreach (var n in g.Nodes.Where(n => moments.ContainsKey(n.Name)))
            {
                var h = moments[n.Name];
                var (w, channels) = Rows(g, n);
                int k = h.K;
                var rtn = WeightQuantizer.PerChannel(w, channels, k);
                var comp = CompensatedRounding.Round(w, channels, k, rtn.Scales, h.H, h.Groups, pairSafe: false);
                var (signal, eRtn) = h.OutputError(w, Delta(w, rtn.Values, rtn.Scales, k), channels);
                var (_, eComp) = h.OutputError(w, Delta(w, comp, rtn.Scales, k), channels);
                totals[0] += signal; totals[1] += eRtn; totals[2] += eComp;
                string line = string.Format(Inv, "  {0,-36} {1,-6} {2,4}x{3,-5} g{4,-4} vectors/K {5,7:F1}: RTN {6,6:F2} comp {7,6:F2} dB",
                    n.Name, n.OpType, channels, k, h.Groups, (double)h.Vectors / k, Db(signal, eRtn), Db(signal, eComp));
                if (n.OpType == "Conv" && PairSafeLayers.TakesNchw(g.TypeOf(n.Inputs[0]).Shape, g.Constants[n.Inputs[1]].Shape, g.TypeOf(n.Outputs[0]).Shape))
                {
                    var safe = WeightQuantizer.PairSafePerChannel(w, channels, k);
                    var safeComp = CompensatedRounding.Round(w, channels, k, safe.Scales, h.H, h.Groups, pairSafe: true);
                    Assert.True(Ops.QConv.QConvWeights.AllPairSafe(safeComp.Select(v => (int)v).ToArray(), channels, k));
                    var (_, eSafe) = h.OutputError(w, Delta(w, safe.Values, safe.Scales, k), channels);
                    var (_, eSafeComp) = h.OutputError(w, Delta(w, safeComp, safe.Scales, k), channels);
                    // Compensated rounding on the plain per-channel scales, pair-safe by projection alone.
                    var safeOwn = CompensatedRounding.Round(w, channels, k, rtn.Scales, h.H, h.Groups, pairSafe: true);
                    var (_, eSafeOwn) = h.OutputError(w, Delta(w, safeOwn, rtn.Scales, k), channels);
                    safeTotals[0] += signal; safeTotals[1] += eSafe; safeTotals[2] += eSafeComp; safeTotals[3] += eRtn;
                    totals[3] += eSafe; totals[4] += eSafeComp;
                    line += string.Format(Inv, "; pair-safe RTN {0,6:F2} comp {1,6:F2} (comp on plain scales {2,6:F2}) dB",
                        Db(signal, eSafe), Db(signal, eSafeComp), Db(signal, eSafeOwn));
                }
                Out.WriteLine(line);
            }
            Out.WriteLine(string.Format(Inv, "{0}: all layers RTN {1:F2} → comp {2:F2} dB; pair-safe layers: RTN {3:F2}, pair-safe RTN {4:F2} → pair-safe comp {5:F2} dB; rounding {6:F1} s",
                folder, Db(totals[0], totals[1]), Db(totals[0], totals[2]), Db(safeTotals[0], safeTotals[3]), Db(safeTotals[0], safeTotals[1]), Db(safeTotals[0], safeTotals[2]),
                sw.Elapsed.TotalSeconds));
        }
    }

    /// <summary>
    /// Held-out per layer: the moments of the even calibration samples choose the weights, the odd samples' moments measure
    /// the output error (RTN vs compensated, plain weights), so that a layer with too few input vectors shows its
    /// over-fitting. Totals per bucket of vectors/K (of the even half).
    /// </summary>
    [MeasurementFact]
    public void Weight_output_error_held_out()
    {
        foreach (var folder in ModelsFromEnvironment("ppocr-cls-mobile", "mobilenet-v2-128-0.5"))
        {
            var g = ImageModelGraphs.Unfused(folder);
            var set = CalibrationDataSet.Open(CalibrationFolder(folder).Folder, g.Inputs);
            var runs = new FloatRuns(g, set);
            var fit = InputMoments.Collect(g, runs.Pass("fit").Where((_, i) => i % 2 == 0));
            var check = InputMoments.Collect(g, runs.Pass("check").Where((_, i) => i % 2 == 1));
            var buckets = new SortedDictionary<double, double[]>();
            foreach (var n in g.Nodes.Where(n => fit.ContainsKey(n.Name)))
            {
                var (w, channels) = Rows(g, n);
                var hf = fit[n.Name];
                var hc = check[n.Name];
                int k = hf.K;
                var rtn = WeightQuantizer.PerChannel(w, channels, k);
                var comp = CompensatedRounding.Round(w, channels, k, rtn.Scales, hf.H, hf.Groups, pairSafe: false);
                var (signal, eRtn) = hc.OutputError(w, Delta(w, rtn.Values, rtn.Scales, k), channels);
                var (_, eComp) = hc.OutputError(w, Delta(w, comp, rtn.Scales, k), channels);
                var (_, eCompIn) = hf.OutputError(w, Delta(w, comp, rtn.Scales, k), channels);
                var (signalIn, eRtnIn) = hf.OutputError(w, Delta(w, rtn.Values, rtn.Scales, k), channels);
                double ratio = (double)hf.Vectors / k;
                double bucket = ratio < 1 ? 0 : ratio < 4 ? 1 : ratio < 16 ? 4 : ratio < 64 ? 16 : 64;
                if (!buckets.TryGetValue(bucket, out var b)) buckets[bucket] = b = new double[3];
                b[0] += signal; b[1] += eRtn; b[2] += eComp;
                Out.WriteLine(string.Format(Inv, "  {0,-36} vectors/K {1,7:F1}: fit half RTN {2,6:F2} comp {3,6:F2}; held-out half RTN {4,6:F2} comp {5,6:F2} dB",
                    n.Name, ratio, Db(signalIn, eRtnIn), Db(signalIn, eCompIn), Db(signal, eRtn), Db(signal, eComp)));
            }
            foreach (var (bucket, b) in buckets)
                Out.WriteLine(string.Format(Inv, "{0}: layers with vectors/K ≥ {1}: held-out RTN {2:F2} → comp {3:F2} dB", folder, bucket, Db(b[0], b[1]), Db(b[0], b[2])));
        }
    }

    /// <summary>
    /// The simulated int8 model with and without compensated rounding (QC_ACC_VARIANTS: rtn, comp, safe, safecomp; default
    /// all four), one clip margin (0) unless QC_ACC_SEARCH=1 (the build's {0, 0.25}): output SQNR over the whole
    /// calibration set, per test set, and for QC_ACC_WEIGHTONLY=1 the weight-only simulation (all int8 layers with float
    /// activations) on the calibration set; the time of GraphQuantizer.Quantize.
    /// </summary>
    [MeasurementFact]
    public void Model_output_sqnr()
    {
        var variants = (Environment.GetEnvironmentVariable("QC_ACC_VARIANTS") is { Length: > 0 } v ? v : "rtn,comp,safe,safecomp").Split(',');
        bool search = Environment.GetEnvironmentVariable("QC_ACC_SEARCH") == "1";
        bool weightOnly = Environment.GetEnvironmentVariable("QC_ACC_WEIGHTONLY") == "1";
        double minVectors = Environment.GetEnvironmentVariable("QC_ACC_MINVEC") is { Length: > 0 } mv ? double.Parse(mv, Inv) : 0;
        foreach (var folder in ModelsFromEnvironment(ImageModels.Folders))
        {
            var g = ImageModelGraphs.Unfused(folder);
            var set = CalibrationDataSet.Open(CalibrationFolder(folder).Folder, g.Inputs);
            var runs = new FloatRuns(g, set);
            var calib = Calibrator.Run(runs, new CalibrationOptions { Method = ImageModelGraphs.MethodFromEnvironment() });
            var samples = runs.Samples("samples").Select(s => s.ToArray()).ToList();
            var calibRef = runs.Pass("reference").Select(r => r.Outputs).ToList();
            var tests = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
            var testRef = tests.Select(x => FloatInterpreter.Run(g, x)).ToList();
            foreach (var variant in variants)
            {
                var sw = Stopwatch.StartNew();
                var q = GraphQuantizer.Quantize(g, calib, runs, new QuantizerOptions
                {
                    CompensatedRounding = variant.EndsWith("comp", StringComparison.Ordinal),
                    CompensatedMinVectorsPerInput = minVectors,
                    CompensatedDampening = Environment.GetEnvironmentVariable("QC_ACC_DAMP") is { Length: > 0 } dv ? double.Parse(dv, Inv) : CompensatedRounding.Dampening,
                    PairSafeWeights = variant.StartsWith("safe", StringComparison.Ordinal) ? PairSafeWeightsMode.Always : PairSafeWeightsMode.Never,
                    BiasCorrection = Environment.GetEnvironmentVariable("QC_ACC_NOBC") != "1",
                    ClipMargins = search ? QuantizerOptions.SearchedClipMargins : new[] { 0.0 },
                }, new Q.Compiler.Diagnostics.DiagnosticBag());
                double seconds = sw.Elapsed.TotalSeconds;
                string calibDb = string.Join(" / ", Enumerable.Range(0, g.Outputs.Count).Select(o => SetSqnr(samples, calibRef, o, x => q.Simulate(x)).ToString("F1", Inv)));
                string testDb = string.Join("  ", tests.Select((x, i) => string.Join(" / ",
                    Enumerable.Range(0, g.Outputs.Count).Select(o => FloatVsInt8.SqnrDb(testRef[i][o], q.Simulate(x)[o]).ToString("F1", Inv)))));
                string wo = weightOnly
                    ? ", weight-only calibration " + SetSqnr(samples, calibRef, 0, x => q.SimulateMixed(x, _ => false, _ => true)).ToString("F1", Inv) + " dB"
                    : "";
                string margin = search ? " (" + string.Join("; ", q.Report.Notes.Where(n => n.Contains("margin", StringComparison.OrdinalIgnoreCase)).Take(1)) + ")" : "";
                Out.WriteLine($"{folder} {variant,-8}: calibration {calibDb} dB, test sets {testDb}{wo}; quantize {seconds:F1} s{margin}");
            }
        }
    }

    /// <summary>mnist-8 calibrated on digits 0..999 (Mse), evaluated on the other 9,000: simulated int8 accuracy, top-1
    /// agreement with float and output SQNR, round-to-nearest vs compensated (plain and pair-safe).</summary>
    [MeasurementFact]
    public void Mnist_held_out()
    {
        var g = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        var samples = QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(0, 1000)).ToList();
        var test = QuantizerFixtures.MnistDigits(1000, 9000);
        var labels = QuantizerFixtures.MnistLabelBytes(1000, 9000);
        var calibration = Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.Mse });
        var reference = test.Select(x => FloatInterpreter.Run(g, new[] { x })[0].ToFloats()).ToList();
        foreach (var (comp, safe) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var sw = Stopwatch.StartNew();
            var q = GraphQuantizer.Quantize(g, calibration, samples, new QuantizerOptions { CompensatedRounding = comp, PairSafeWeights = safe ? PairSafeWeightsMode.Always : PairSafeWeightsMode.Never },
                new Q.Compiler.Diagnostics.DiagnosticBag());
            double seconds = sw.Elapsed.TotalSeconds;
            var (signal, noise, agree, correct, correctFloat) = QuantizerFixtures.CompareWithFloat(q, test, reference, labels);
            Out.WriteLine(string.Format(Inv, "mnist-8 compensated {0,-5} pair-safe {1,-5}: output SQNR {2:F2} dB, agreement {3:F2}% ({4} of {5}), accuracy {6:F2}% (float {7:F2}%); quantize {8:F1} s",
                comp, safe, Db(signal, noise), 100.0 * agree / test.Count, agree, test.Count, 100.0 * correct / test.Count, 100.0 * correctFloat / test.Count, seconds));
        }
    }

    private static double SetSqnr(List<Tensor[]> xs, List<IReadOnlyList<Tensor>> refs, int output, Func<Tensor[], IReadOnlyList<Tensor>> sim)
    {
        double s = 0, e = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            var a = refs[i][output].ToDoubles();
            var b = sim(xs[i])[output].ToDoubles();
            for (int j = 0; j < a.Length; j++) { s += a[j] * a[j]; e += (a[j] - b[j]) * (a[j] - b[j]); }
        }
        return Db(s, e);
    }

    /// <summary>A layer's weights as [channels, K] rows (Gemm folded as the quantizer folds it; MatMul transposed).</summary>
    internal static (float[] W, int Channels) Rows(Graph g, Node n)
    {
        var wt = g.Constants[n.Inputs[1]];
        var w = wt.ToFloats();
        switch (n.OpType)
        {
            case "Conv": return (w, wt.Shape[0]);
            case "Gemm":
            {
                bool transB = n.Attributes.TryGetValue("transB", out var tb) && tb.I != 0;
                float alpha = n.Attributes.TryGetValue("alpha", out var a) ? a.F : 1;
                int k = transB ? wt.Shape[1] : wt.Shape[0], m = transB ? wt.Shape[0] : wt.Shape[1];
                var t = new float[w.Length];
                for (int o = 0; o < m; o++) for (int i = 0; i < k; i++) t[o * k + i] = alpha * (transB ? w[o * k + i] : w[i * m + o]);
                return (t, m);
            }
            default:
            {
                int k = wt.Shape[0], m = wt.Shape[1];
                var t = new float[w.Length];
                for (int o = 0; o < m; o++) for (int i = 0; i < k; i++) t[o * k + i] = w[i * m + o];
                return (t, m);
            }
        }
    }

    internal static double[] Delta(float[] w, sbyte[] q, float[] scales, int k)
    {
        var d = new double[w.Length];
        for (int i = 0; i < w.Length; i++) d[i] = (double)scales[i / k] * q[i] - w[i];
        return d;
    }

    private static double Db(double signal, double noise) => noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
}
