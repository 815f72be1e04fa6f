using System.Globalization;
using Q.Compiler.Diagnostics;
using Q.Compiler.Export;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Issue-3 acceptance on real models: the int8 build (Quantize=Int8, calibrated on ../shared/datasets/images) against the float build on every shared test set. Figures go to the test output.
/// The int8 build is also checked against an independent implementation: its graph exported as ONNX (uint8 weights, so that
/// ORT runs its exact U8U8 kernels) and run by ONNX Runtime; each quantized op of ours, on ORT's inputs, is within one step of ORT's.
/// </summary>
public sealed class ImageModelQuantizationTests : IDisposable
{
    private const double MinSqnrDb = 25;
    private const double MaxWeightRatio = 0.27;

    /// <summary>
    /// Where a model misses the issue's targets today: the bound the test holds it to instead (the measured figure with a
    /// small margin, so a regression still fails) and why. Top-1 agreement is never relaxed. Each entry is an open item
    /// in the README's "What is not done yet".
    /// </summary>
    private static readonly Dictionary<string, (double MinSqnrDb, double MaxWeightRatio, string Why)> KnownGaps = new()
    {
        // None today. ppocr-cls-mobile was one until its weight-only layers: all int8, 38.6 / 20.3 / 28.6 / 15.7 dB on sets
        // 0-3 (17.2 dB on the 36 calibration strips: accumulated uint8 activation noise, a low-confidence two-class
        // softmax). With MinOutputSqnrDb (default 30) its first 94 of 109 int8 layers run weight-only, their weights
        // rounded with error compensation (CompensatedWeightOnly): 38.2 / 56.9 / 46.1 / 27.6 dB, weights 26.5%
        // (round-to-nearest weight-only layers gave 41.5 / 33.2 / 24.1 / 41.4).
        // mobilenet-v2-128-0.5 (26.1%, 30.2 dB or more) and ultraface-rfb-320 (25.4%, 38.9 dB or more; both with the pair-safe
        // weights PairSafeWeights="auto" picks for them) meet both targets
        // since weight coding, int8 depthwise weights, folded column sums and bias correction.
        // squeezenet-1.0-fp16 (23.1%, 46.3 / 25.6 dB) meets both since the clip margin search (it takes margin 0.25; with
        // the Mse ranges alone, 42.1 / 19.7 dB); with MinOutputSqnrDb 30, 23 of its 37 int8 layers weight-only (compensated), 62.6 / 42.3 dB.
    };

    private readonly ITestOutputHelper _out;
    private readonly List<string> _temp = new();

    public ImageModelQuantizationTests(ITestOutputHelper output) => _out = output;

    public void Dispose()
    {
        foreach (var d in _temp) try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string> ImageModelFolders => new(ImageModels.Folders);

    /// <summary>The calibration folder reads back through CalibrationDataSet as the stacked samples it was written as.</summary>
    [SharedTheory]
    [MemberData(nameof(ImageModelFolders))]
    public void Calibration_folder_reads_back_as_the_preprocessed_images(string folder)
    {
        var calib = CalibrationFolders.Images(folder);
        _temp.Add(calib.Folder);
        _out.WriteLine($"{folder}: {calib.Samples} samples from {string.Join(", ", calib.Used)}; skipped: {string.Join(", ", calib.Skipped)}");
        var pre = ImageModels.Preprocessing(folder);
        var set = CalibrationDataSet.Open(calib.Folder, new[] { new ValueInfo(pre.InputName, new TensorType(pre.ElementType, pre.InputShape)) });
        Assert.Equal(calib.Samples, set.Count);
        Assert.Empty(calib.Skipped);   // every PNG and JPEG of the folder decodes

        var first = set.First().Single();
        Assert.Equal(pre.InputShape, first.Shape);
        Assert.Equal(pre.ElementType, first.ElementType);
        if (pre.Fit == ImageFit.Stretch)
        {
            var expected = pre.ToTensor(RgbImage.Load(Path.Combine(ImageModels.ImagesFolder, calib.Used[0])));
            Assert.Equal(expected.ToDoubles(), first.ToDoubles());
        }
        // Every sample spans a real part of the normalized range (not a blank or garbled frame).
        foreach (var sample in set)
        {
            var v = sample.Single().ToDoubles();
            Assert.True(v.Max() - v.Min() > 0.25 * (255 * pre.Scale / pre.Std), $"a sample spans only {v.Min():G3}..{v.Max():G3}");
        }
    }

    [SharedTheory]
    [MemberData(nameof(ImageModelFolders))]
    public void Int8_build_matches_float_on_every_test_set(string folder)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var calib = CalibrationFolders.Images(folder);
        _temp.Add(calib.Folder);
        var builds = FloatVsInt8.Build(SharedData.Model(folder + "/model.onnx"), ImageModels.InputShapes(folder),
            new CompileOptions { Quantize = QuantizeMode.Int8, Calibration = calib.Folder });
        Report(folder, calib.Samples, builds, clock.ElapsedMilliseconds);

        var inv = CultureInfo.InvariantCulture;
        var failures = new List<string>();
        double minSqnr = MinSqnrDb, maxRatio = MaxWeightRatio;
        if (KnownGaps.TryGetValue(folder, out var gap))
        {
            (minSqnr, maxRatio) = (gap.MinSqnrDb, gap.MaxWeightRatio);
            _out.WriteLine($"{folder}: known gap, held to SQNR ≥ {minSqnr} dB and weights ≤ {maxRatio:P0}: {gap.Why}");
        }
        // Our integer semantics against an independent implementation: each quantized op of the int8 graph, on the inputs
        // ONNX Runtime computed for it from the exported graph (uint8 weights: its exact U8U8 kernels), within one step of ORT.
        var graph = builds.Int8Result.Graph!;
        var sets = TestData.Sets(SharedData.Model(folder));
        var ops = Export.OnnxExportTests.CompareQuantizedOps(graph, sets.Select(TestData.Inputs).ToList());
        _out.WriteLine(string.Format(inv, "{0}: each quantized op on ONNX Runtime's inputs: {1} of {2} ops identical to ORT, {3:N0} of {4:N0} values differ, largest difference {5} steps ({6})",
            folder, ops.Identical, ops.Total, ops.DifferingValues, ops.Values, ops.MaxSteps, ops.Worst));
        if (ops.MaxSteps > 1) failures.Add(string.Format(inv, "{0}: ONNX Runtime's result differs from our Evaluate by {1} steps on the same inputs", ops.Worst, ops.MaxSteps));
        using var ort = new OrtRunner(OnnxWriter.Write(graph, new OnnxExportOptions { UInt8Weights = true }));
        var steps = Export.OnnxExportTests.OutputSteps(graph);
        foreach (var set in sets)
        {
            var inputs = TestData.Inputs(set);
            var f = builds.Float.Run(inputs);
            var q = builds.Int8.Run(inputs);
            string name = Path.GetFileName(set);
            var o8 = ort.Run(inputs);
            for (int o = 0; o < q.Length; o++)
            {
                // Within one output step where a DequantizeLinear gives the output; float layers after the last one are reported.
                var (maxAbs, _, _) = TestData.Compare(q[o], o8[o], double.PositiveInfinity);
                _out.WriteLine(string.Format(inv, "{0} {1} output {2}: ONNX Runtime's run of our int8 graph differs by {3:G3}{4}", folder, name, o, maxAbs,
                    steps[o] is double s1 ? string.Format(inv, " ({0:F3} steps)", maxAbs / s1) : " (float layers after the last quantized one)"));
                if (steps[o] is double step && maxAbs > step * 1.001)
                    failures.Add(string.Format(inv, "{0} output {1}: ONNX Runtime's int8 run differs from ours by {2:G3} (> one step, {3:G3})", name, o, maxAbs, step));
            }
            for (int o = 0; o < f.Length; o++)
            {
                double sqnr = FloatVsInt8.SqnrDb(f[o], q[o]);
                _out.WriteLine(string.Format(inv, "{0} {1} output {2}: SQNR {3:F1} dB", folder, name, builds.FloatPlan.Outputs[o].Name, sqnr));
                if (!(sqnr >= minSqnr)) failures.Add(string.Format(inv, "{0} output {1}: SQNR {2:F1} dB < {3} dB", name, o, sqnr, minSqnr));
            }
            var (floatTop, int8Top, same) = FloatVsInt8.CompareTop1(folder, f, q);
            _out.WriteLine($"{folder} {name}: float top-1 {floatTop}, int8 top-1 {int8Top}");
            if (!same) failures.Add($"{name}: top-1 {int8Top} instead of {floatTop}");
        }
        _out.WriteLine(string.Format(inv, "{0}: weights {1:N0} → {2:N0} bytes ({3:P1})", folder,
            builds.FloatPlan.Weights.Length, builds.Int8Plan.Weights.Length, builds.WeightRatio));
        if (builds.WeightRatio > maxRatio) failures.Add(string.Format(inv, "int8 weights are {0:P1} of float's (at most {1:P0})", builds.WeightRatio, maxRatio));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private void Report(string model, int samples, FloatVsInt8 builds, long ms)
    {
        _out.WriteLine($"{model}: calibrated on {samples} samples, both builds compiled in {ms} ms");
        if (builds.Int8Result.QuantizationReport is { } report)
        {
            _out.WriteLine(report.SummaryLine);
            foreach (var note in report.Notes.Where(n => n.StartsWith("clip margin", StringComparison.Ordinal) || n.StartsWith("pair-safe", StringComparison.Ordinal) || n.StartsWith("quad-safe", StringComparison.Ordinal))) _out.WriteLine(note);
        }
        foreach (var d in builds.Int8Result.Diagnostics) _out.WriteLine(d.ToString());
    }
}
