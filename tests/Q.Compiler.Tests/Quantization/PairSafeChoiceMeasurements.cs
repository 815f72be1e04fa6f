using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The calibration-set scores <see cref="PairSafeChoice"/> decides on (QC_QUANT_MEASURE=1): every image model (calibrated
/// on ../shared/datasets/images as the acceptance test does), mnist-8 (first 1,000 digits) and kws-m (64 standard-normal
/// vectors, as the benchmark), built as a calibrated Int8 model with PairSafeWeights false and auto, alternately timed;
/// prints the auto build's note (plain and pair-safe output SQNR on the calibration set, the decision) and the extra
/// build time. Only calibration data is used.
/// </summary>
public sealed class PairSafeChoiceMeasurements
{
    private readonly ITestOutputHelper _out;
    public PairSafeChoiceMeasurements(ITestOutputHelper output) => _out = output;

    [MeasurementFact]
    public void Calibration_scores_of_plain_and_pair_safe_builds()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = new List<(string Name, string Path, string? Shapes, Func<CalibrationFolders.Result> Calibration)>();
        foreach (var f in ImageModels.Folders)
            models.Add((f, SharedData.Model(f + "/model.onnx"), ImageModels.InputShapes(f), () => CalibrationFolders.Images(f)));
        models.Add(("mnist-8", SharedData.Model("mnist-8/model.onnx"), null, () =>
        {
            string dir = Directory.CreateTempSubdirectory("qc-mnist-calib-").FullName;
            MnistCalibrationTests.WriteDigitsNpy(Path.Combine(SharedData.Root, "datasets", "mnist", "images-idx3-ubyte"), 1000, Path.Combine(dir, "digits.npy"));
            return new CalibrationFolders.Result(dir, 1000, Array.Empty<string>(), Array.Empty<string>());
        }));
        models.Add(("kws-m", SharedData.Model("kws-m/model.onnx"), null, () => CalibrationFolders.StandardNormal(new[] { 1, 1960 }, 64, seed: 20260301)));
        string? only = Environment.GetEnvironmentVariable("QC_ACC_MODEL");
        foreach (var (name, path, shapes, calibration) in models.Where(m => only is null || m.Name == only))
        {
            var calib = calibration();
            try
            {
                var ms = new Dictionary<PairSafeWeightsMode, long>();
                CompileResult? auto = null;
                foreach (var mode in new[] { PairSafeWeightsMode.Never, PairSafeWeightsMode.Auto })
                {
                    var clock = Stopwatch.StartNew();
                    var r = ModelCompiler.Compile(new CompileOptions
                    {
                        ModelPath = path, ClassName = "M", Namespace = "T", InputShapes = shapes,
                        Quantize = QuantizeMode.Int8, Calibration = calib.Folder, PairSafeWeights = mode,
                    });
                    ms[mode] = clock.ElapsedMilliseconds;
                    Assert.True(r.Success, string.Join("\n", r.Diagnostics));
                    if (mode == PairSafeWeightsMode.Auto) auto = r;
                }
                _out.WriteLine(string.Format(inv, "{0} ({1} calibration samples): build {2} ms plain, {3} ms auto (+{4} ms)", name, calib.Samples,
                    ms[PairSafeWeightsMode.Never], ms[PairSafeWeightsMode.Auto], ms[PairSafeWeightsMode.Auto] - ms[PairSafeWeightsMode.Never]));
                foreach (var note in auto!.QuantizationReport!.Notes.Where(n => n.StartsWith("pair-safe", StringComparison.Ordinal) || n.StartsWith("quad-safe", StringComparison.Ordinal) || n.StartsWith("clip margin", StringComparison.Ordinal)))
                    _out.WriteLine("  " + note);
            }
            finally { try { Directory.Delete(calib.Folder, true); } catch (IOException) { } }
        }
    }
}
