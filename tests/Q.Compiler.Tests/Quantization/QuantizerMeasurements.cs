using Q.Compiler.Diagnostics;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>A measurement that takes minutes: runs only with QC_QUANT_MEASURE=1 (its numbers go to docs/quantization.md).</summary>
public sealed class MeasurementFactAttribute : FactAttribute
{
    public MeasurementFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("QC_QUANT_MEASURE") != "1") Skip = "measurement; set QC_QUANT_MEASURE=1 to run it";
        else if (!SharedData.Exists) Skip = SharedData.MissingMessage;
    }
}

/// <summary>
/// Compares the calibration methods with fake quantization (<see cref="QuantizedGraph.Simulate"/>): output SQNR against
/// float, top-1 agreement and accuracy on held-out data. This is how the default CalibrationMethod was chosen.
/// </summary>
public sealed class QuantizerMeasurements
{
    private readonly ITestOutputHelper _out;
    public QuantizerMeasurements(ITestOutputHelper output) => _out = output;

    private static int Count(string name, int dflt) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) ? v : dflt;

    [MeasurementFact]
    public void Calibration_methods_on_mnist8()
    {
        int calib = Count("QC_QUANT_CALIB", 1000), eval = Count("QC_QUANT_EVAL", 1000);
        var g = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        var samples = QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(0, calib)).ToList();
        var test = QuantizerFixtures.MnistDigits(10000 - eval, eval);
        var labels = QuantizerFixtures.MnistLabelBytes(10000 - eval, eval);
        Compare("mnist-8", g, samples, test, labels);
    }

    [MeasurementFact]
    public void Calibration_methods_on_kws_m()
    {
        var g = QuantizerFixtures.OptimizedGraph("kws-m/model.onnx");
        var shape = g.Inputs[0].Type.Shape;
        var samples = QuantizerFixtures.AsSamples(QuantizerFixtures.NormalInputs(Count("QC_QUANT_CALIB", 200), shape, 7)).ToList();
        var test = QuantizerFixtures.NormalInputs(Count("QC_QUANT_EVAL", 200), shape, 11);
        test.AddRange(TestData.Sets(SharedData.Model("kws-m")).Select(s => TestData.Inputs(s)[0]));
        Compare("kws-m", g, samples, test, null);
    }

    private void Compare(string model, Graph g, List<IReadOnlyList<Tensor>> samples, List<Tensor> test, byte[]? labels)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var stats = Calibrator.Collect(g, samples, new CalibrationOptions(), histograms: true);
        var reference = test.Select(x => FloatInterpreter.Run(g, new[] { x })[0].ToFloats()).ToList();
        _out.WriteLine($"{model}: {samples.Count} calibration samples, {test.Count} evaluated ({sw.Elapsed.TotalSeconds:0} s for statistics and float)");
        _out.WriteLine("| method | output SQNR (dB), held out | top-1 agreement | accuracy (float) | min layer SQNR (dB) |");
        var sqnrSubset = samples.Take(200).ToList();
        foreach (var method in new[] { CalibrationMethod.MinMax, CalibrationMethod.Percentile, CalibrationMethod.Entropy, CalibrationMethod.Mse })
        {
            var options = new CalibrationOptions { Method = method };
            var ranges = new CalibrationResult(stats.Histograms, Calibrator.Ranges(stats, options), stats.Samples);
            var q = GraphQuantizer.Quantize(g, ranges, sqnrSubset, new QuantizerOptions { MinLayerSqnrDb = 0 }, new DiagnosticBag());
            var (signal, noise, agree, correct, correctFloat) = QuantizerFixtures.CompareWithFloat(q, test, reference, labels);
            double minLayer = q.Report.Layers.Where(l => l.SqnrDb is not null).Min(l => l.SqnrDb!.Value);
            _out.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "| {0} | {1:0.00} | {2:0.00}% | {3} | {4:0.0} |", method, 10 * Math.Log10(signal / noise), 100.0 * agree / test.Count,
                labels is null ? "n/a" : $"{100.0 * correct / labels.Length:0.00}% ({100.0 * correctFloat / labels.Length:0.00}%)", minLayer));
        }
        _out.WriteLine($"total {sw.Elapsed.TotalSeconds:0} s");
    }
}
