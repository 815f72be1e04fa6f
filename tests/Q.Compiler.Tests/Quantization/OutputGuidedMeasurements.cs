using System.Globalization;
using Q.Compiler.Diagnostics;
using Q.Compiler.Interpreter;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Quantizer variants on an image model (QC_QUANT_MEASURE=1, QC_ACC_MODEL, default squeezenet-1.0-fp16; QC_ACC_VARIANTS a
/// comma list): simulated output SQNR on every shared test set and on the calibration set, from one calibration.
/// </summary>
public sealed class OutputGuidedMeasurements : ImageModelMeasurement
{
    public OutputGuidedMeasurements(ITestOutputHelper output) : base(output) { }

    [MeasurementFact]
    public void Quantizer_variants_on_an_image_model()
    {
        var inv = CultureInfo.InvariantCulture;
        string folder = ModelFromEnvironment("squeezenet-1.0-fp16");
        var calibFolder = CalibrationFolder(folder);
        var g = ImageModelGraphs.Unfused(folder);
        var set = CalibrationDataSet.Open(calibFolder.Folder, g.Inputs);
        var runs = new FloatRuns(g, set, FloatRuns.DefaultBudgetBytes);
        var stats = Calibrator.Collect(runs, new CalibrationOptions(), histograms: true);
        var sets = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
        var reference = sets.Select(x => FloatInterpreter.Run(g, x)).ToList();
        foreach (var input in g.Inputs)
            Out.WriteLine($"input {input.Name}: min {stats.Histograms[input.Name].Min}, max {stats.Histograms[input.Name].Max}");
        foreach (var variant in (Environment.GetEnvironmentVariable("QC_ACC_VARIANTS") ?? "default").Split(','))
        {
            var method = variant.Contains("minmax") ? CalibrationMethod.MinMax : CalibrationMethod.Mse;
            var ranges = new SortedDictionary<string, TensorRange>(Calibrator.Ranges(stats, new CalibrationOptions { Method = method }).ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
            if (variant.Contains("inmm")) foreach (var input in g.Inputs) ranges[input.Name] = new TensorRange(stats.Histograms[input.Name].Min, stats.Histograms[input.Name].Max);
            var calib = new CalibrationResult(stats.Histograms, ranges, stats.Samples);
            var qo = new QuantizerOptions();
            Configure(qo, variant);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var q = GraphQuantizer.Quantize(g, calib, runs, qo, new DiagnosticBag());
            double seconds = sw.Elapsed.TotalSeconds;
            var sqnr = sets.Select((x, i) => FloatVsInt8.SqnrDb(reference[i][0], q.Simulate(x)[0])).ToArray();
            var top = sets.Select((x, i) => FloatVsInt8.ArgMax(reference[i][0]) == FloatVsInt8.ArgMax(q.Simulate(x)[0])).ToArray();
            var first = q.Report.Layers.First(l => l.Quantized);
            var perSample = new List<double>();
            double cs = 0, cn = 0;
            foreach (var run in runs.Pass("measure"))
            {
                var f = run.Outputs[0].ToFloats(); var y = q.Simulate(run.Inputs)[0].ToFloats();
                double s1 = 0, n1 = 0;
                for (int j = 0; j < f.Length; j++) { s1 += (double)f[j] * f[j]; n1 += (double)(f[j] - y[j]) * (f[j] - y[j]); }
                cs += s1; cn += n1; perSample.Add(10 * Math.Log10(s1 / n1));
            }
            foreach (var note in q.Report.Notes.Where(n => n.StartsWith("clip margin", StringComparison.Ordinal))) Out.WriteLine("   " + note);
            Out.WriteLine(string.Format(inv, "   calibration: aggregate {0:F1} dB, mean {1:F1}, min {2:F1}; per sample {3}", 10 * Math.Log10(cs / cn), perSample.Average(), perSample.Min(),
                string.Join(" ", perSample.Select(v => v.ToString("F1", inv)))));
            Out.WriteLine(string.Format(inv, "== {0} {1}: test sets {2} (top-1 same: {3}); calibration output {4}; {5} int8 layers; quantized in {6:F1} s; first layer input scale {7:G4} zp {8}",
                folder, variant, string.Join(" ", sqnr.Select(v => v.ToString("F1", inv))), string.Join(" ", top),
                string.Join(" ", q.Report.OutputSqnrDb.Values.Select(v => v.ToString("F1", inv))), q.Report.Layers.Count(l => l.Quantized), seconds,
                first.InputScale, first.InputZeroPoint));
        }
    }

    private static void Configure(QuantizerOptions o, string variant)
    {
        if (variant.Contains("nobc")) o.BiasCorrection = false;
        if (variant.Contains("mse")) o.ClipMargins = new[] { 0.0 };
        if (variant.IndexOf("mid", StringComparison.Ordinal) is int m and >= 0)
            o.ClipMargins = new[] { int.Parse(variant.Substring(m + 3, 2), CultureInfo.InvariantCulture) / 100.0 };
    }
}
