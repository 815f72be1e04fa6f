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
/// Mixed precision on an image model (QC_QUANT_MEASURE=1, QC_ACC_MODEL, default ppocr-cls-mobile): per int8 layer, the
/// calibration set's output SQNR with that layer alone computed in float (sensitivity), then layers put in float
/// cumulatively in the order of their gain, each step with the extra weight bytes (3 per weight of a float compute layer)
/// and the output SQNR on the calibration set and on every shared test set. Decisions look at the calibration set only;
/// the test sets are printed to see what the decisions do. QC_ACC_STEPS (default 12) bounds the cumulative steps;
/// QC_ACC_SENS=1 adds the per-layer sensitivity; QC_ACC_WEIGHTONLY=1 keeps the chosen layers weight-only instead
/// (float activations, integer weights: no extra weight bytes).
/// </summary>
public sealed class MixedPrecisionMeasurements : IDisposable
{
    private readonly ITestOutputHelper _out;
    private readonly List<string> _temp = new();

    public MixedPrecisionMeasurements(ITestOutputHelper output) => _out = output;

    public void Dispose()
    {
        foreach (var d in _temp) try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    [MeasurementFact]
    public void Output_sqnr_by_layers_kept_float()
    {
        var inv = CultureInfo.InvariantCulture;
        string folder = Environment.GetEnvironmentVariable("QC_ACC_MODEL") is { Length: > 0 } m ? m : "ppocr-cls-mobile";
        int steps = Environment.GetEnvironmentVariable("QC_ACC_STEPS") is { Length: > 0 } st ? int.Parse(st, inv) : 12;
        var calibFolder = CalibrationFolders.Images(folder);
        _temp.Add(calibFolder.Folder);
        var g = ImageModelGraphs.Unfused(folder);
        var set = CalibrationDataSet.Open(calibFolder.Folder, g.Inputs);
        var calib = Calibrator.Run(g, set, new CalibrationOptions { Method = ImageModelGraphs.MethodFromEnvironment() });
        var q = GraphQuantizer.Quantize(g, calib, set, new QuantizerOptions(), new Q.Compiler.Diagnostics.DiagnosticBag());
        var calibSamples = set.Select(s => s.ToArray()).ToList();
        var tests = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
        var calibRef = calibSamples.Select(x => FloatInterpreter.Run(g, x)).ToList();
        var testRef = tests.Select(x => FloatInterpreter.Run(g, x)).ToList();
        var nodes = g.Nodes.ToDictionary(n => n.Name);
        bool weightOnly = Environment.GetEnvironmentVariable("QC_ACC_WEIGHTONLY") == "1";
        long ExtraBytes(string name)
        {
            var n = nodes[name];
            if (weightOnly) return 0;
            return n.OpType is "Conv" or "Gemm" or "MatMul" && n.Inputs.Count > 1 && g.Constants.TryGetValue(n.Inputs[1], out var w) ? 3L * w.Length : 0;
        }
        // Output SQNR over a whole set (signal and noise summed over samples), first output.
        double SetSqnr(List<Tensor[]> xs, List<IReadOnlyList<Tensor>> refs, Func<string, bool> asFloat)
        {
            double s = 0, e = 0;
            for (int i = 0; i < xs.Count; i++)
            {
                var a = refs[i][0].ToDoubles();
                var b = Sim(xs[i], asFloat)[0].ToDoubles();
                for (int j = 0; j < a.Length; j++) { s += a[j] * a[j]; e += (a[j] - b[j]) * (a[j] - b[j]); }
            }
            return 10 * Math.Log10(s / e);
        }
        IReadOnlyList<Tensor> Sim(Tensor[] x, Func<string, bool> chosen) =>
            weightOnly ? q.SimulateMixed(x, _ => false, chosen) : q.SimulateWithFloat(x, chosen);
        string Tests(Func<string, bool> asFloat) =>
            string.Join(" ", tests.Select((x, i) => FloatVsInt8.SqnrDb(testRef[i][0], Sim(x, asFloat)[0]).ToString("F1", inv)));
        var sw = Stopwatch.StartNew();
        double baseCalib = SetSqnr(calibSamples, calibRef, _ => false);
        _out.WriteLine($"{folder}: {calibSamples.Count} calibration samples; all int8: calibration {baseCalib:F1} dB, tests {Tests(_ => false)} ({sw.Elapsed.TotalSeconds:F0} s per pass)");
        var layers = q.Report.Layers.Where(l => l.Quantized).Select(l => l.Name).ToList();
        // Float regions: the first (prefix) or last (suffix) k int8 layers in graph order all in float, every 5 layers.
        foreach (var (label, suffix) in new[] { ("prefix", false), ("suffix", true) })
        {
            _out.WriteLine($"float {label} of the {layers.Count} int8 layers:");
            for (int k = 5; k < layers.Count; k += 5)
            {
                var chosen = new HashSet<string>(suffix ? layers.Skip(layers.Count - k) : layers.Take(k), StringComparer.Ordinal);
                _out.WriteLine(string.Format(inv, "  {0,3} layers (to {1,-22}) calibration {2,5:F1} dB, tests {3}, +{4:N0} B", k, suffix ? layers[layers.Count - k] : layers[k - 1],
                    SetSqnr(calibSamples, calibRef, chosen.Contains), Tests(chosen.Contains), chosen.Sum(ExtraBytes)));
            }
        }
        if (Environment.GetEnvironmentVariable("QC_ACC_SENS") != "1") return;
        var gain = new List<(string Name, double Db)>();
        foreach (var name in layers) gain.Add((name, SetSqnr(calibSamples, calibRef, n => n == name) - baseCalib));
        _out.WriteLine($"sensitivity ({sw.Elapsed.TotalSeconds:F0} s): calibration-set output SQNR gain with the layer alone in float");
        foreach (var (name, db) in gain.OrderByDescending(x => x.Db).Take(25))
            _out.WriteLine(string.Format(inv, "  {0,-40} {1,-18} {2,6:+0.0;-0.0} dB  +{3:N0} B", name, nodes[name].OpType, db, ExtraBytes(name)));
        foreach (var (label, pool) in new[] { ("any layer", gain), ("weight-free layers", gain.Where(x => ExtraBytes(x.Name) == 0).ToList()) })
        {
            var chosen = new HashSet<string>(StringComparer.Ordinal);
            long bytes = 0;
            _out.WriteLine($"cumulative, {label}, in order of single-layer gain:");
            foreach (var (name, _) in pool.OrderByDescending(x => x.Db).Take(steps))
            {
                chosen.Add(name);
                bytes += ExtraBytes(name);
                _out.WriteLine(string.Format(inv, "  +{0,-40} calibration {1,5:F1} dB, tests {2}, +{3:N0} B", name, SetSqnr(calibSamples, calibRef, chosen.Contains), Tests(chosen.Contains), bytes));
            }
        }
    }
}
