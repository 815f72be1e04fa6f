using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The image models' int8 accuracy on test sets the calibration has not seen (QC_QUANT_MEASURE=1; QC_ACC_MODEL picks
/// models, all four by default; QC_HOLD_LOO=0 leaves out the leave-one-out builds). Each shared test set was made from a
/// photo of ../shared/datasets/images (<see cref="TestSetPhotos"/>), and the acceptance test calibrates on all of them.
/// Here each model is calibrated three ways: on all photos (the acceptance figure), on the photos no test set was made
/// from ("held-out"), and without just the set's own photo ("leave-one-out"); for each, the output SQNR of the int8
/// graph's integer reference (Evaluate, no C# compiled, as <see cref="ImageModelBreakdown"/>) against the float graph,
/// top-1 agreement and the weight ratio. A control separates "unseen" from "fewer samples": calibrated without as many
/// photos as held-out leaves out, but photos no test set was made from (the first ones in ordinal order). The Markdown
/// table at the end goes to docs/quantization.md.
/// </summary>
public sealed class HeldOutMeasurements : ImageModelMeasurement
{
    public HeldOutMeasurements(ITestOutputHelper output) : base(output) { }

    /// <summary>One calibration choice: its sample count, weight ratio and, per test set, the SQNR of each output and top-1.</summary>
    private sealed record Variant(int Samples, double WeightRatio, IReadOnlyList<(double[] SqnrDb, bool SameTop1)> Sets)
    {
        public string Cell(int set)
        {
            var (sqnr, same) = Sets[set];
            return string.Join(" / ", sqnr.Select(v => v.ToString("F1", CultureInfo.InvariantCulture))) + (same ? "" : " ✗");
        }
    }

    [MeasurementFact]
    public void Int8_accuracy_calibrated_with_and_without_the_test_photos()
    {
        var inv = CultureInfo.InvariantCulture;
        bool leaveOneOut = Environment.GetEnvironmentVariable("QC_HOLD_LOO") != "0";
        var models = ModelsFromEnvironment(ImageModels.Folders);
        var table = new List<string>
        {
            "| Model | Set (photo) | All photos | Held-out | Leave-one-out | Control: as many other photos left out |",
            "|---|---|---|---|---|---|",
        };
        var total = Stopwatch.StartNew();
        foreach (var folder in models)
        {
            var clock = Stopwatch.StartNew();
            var photos = TestSetPhotos.Of(folder);
            var testPhotos = TestSetPhotos.All(folder);
            string onnx = SharedData.Model(folder + "/model.onnx");
            string shapes = ImageModels.InputShapes(folder);
            var f = ModelCompiler.Compile(new CompileOptions { ModelPath = onnx, ClassName = "F", Namespace = "T", InputShapes = shapes });
            Assert.True(f.Success, string.Join("\n", f.Diagnostics));
            var sets = TestData.Sets(SharedData.Model(folder)).Select(s => (Name: Path.GetFileName(s), Inputs: TestData.Inputs(s))).ToList();
            var reference = sets.Select(s => FloatInterpreter.Run(f.Graph!, s.Inputs)).ToList();

            Variant Measure(string label, IReadOnlyCollection<string> exclude)
            {
                var calib = CalibrationFolder(folder, exclude);
                var q = ModelCompiler.Compile(new CompileOptions
                {
                    ModelPath = onnx, ClassName = "Q", Namespace = "T", InputShapes = shapes,
                    Quantize = QuantizeMode.Int8, Calibration = calib.Folder,
                });
                Assert.True(q.Success, string.Join("\n", q.Diagnostics));
                var results = new List<(double[], bool)>();
                for (int i = 0; i < sets.Count; i++)
                {
                    var outputs = FloatInterpreter.Run(q.Graph!, sets[i].Inputs);
                    var sqnr = reference[i].Select((r, o) => FloatVsInt8.SqnrDb(r, outputs[o])).ToArray();
                    var top1 = FloatVsInt8.CompareTop1(folder, reference[i], outputs);
                    results.Add((sqnr, top1.Same));
                    Out.WriteLine(string.Format(inv, "{0} [{1}] {2} ({3}): SQNR {4} dB; float top-1 {5}, int8 top-1 {6}", folder, label, sets[i].Name,
                        photos[sets[i].Name], string.Join(" / ", sqnr.Select(v => v.ToString("F1", inv))), top1.Float, top1.Int8));
                }
                var variant = new Variant(calib.Samples, (double)q.Plan!.Weights.Length / f.Plan!.Weights.Length, results);
                Out.WriteLine(string.Format(inv, "{0} [{1}]: {2} samples from {3}; weights {4:F1}%", folder, label, calib.Samples,
                    string.Join(", ", calib.Used), 100 * variant.WeightRatio));
                return variant;
            }

            var all = Measure("all photos", Array.Empty<string>());
            var held = Measure("held-out", testPhotos);
            var others = Directory.GetFiles(ImageModels.ImagesFolder).Select(p => Path.GetFileName(p)).Except(testPhotos)
                .OrderBy(p => p, StringComparer.Ordinal).Take(testPhotos.Count).ToList();
            var control = Measure("control: without " + string.Join(", ", others), others);
            var without = leaveOneOut ? testPhotos.ToDictionary(p => p, p => Measure("without " + p, new[] { p })) : new Dictionary<string, Variant>();
            for (int i = 0; i < sets.Count; i++)
            {
                string photo = photos[sets[i].Name];
                table.Add($"| {folder} | {sets[i].Name.Replace("test_data_set_", "set ", StringComparison.Ordinal)} ({photo}) | {all.Cell(i)} | {held.Cell(i)} | {(without.TryGetValue(photo, out var loo) ? loo.Cell(i) : "—")} | {control.Cell(i)} |");
            }
            string Samples(Variant v) => string.Format(inv, "{0} samples, weights {1:F1}%", v.Samples, 100 * v.WeightRatio);
            table.Add($"| {folder} | calibration | {Samples(all)} | {Samples(held)} | " +
                (leaveOneOut ? string.Join("; ", without.Values.Select(v => v.Samples).Distinct().Select(s => s.ToString(inv))) + " samples" : "—") +
                $" | {Samples(control)} (without {string.Join(", ", others)}) |");
            Out.WriteLine(string.Format(inv, "{0}: measured in {1:F0} s", folder, clock.Elapsed.TotalSeconds));
        }
        Out.WriteLine(string.Format(inv, "all models: {0:F0} s. Output SQNR against float in dB (one figure an output), ✗ where top-1 differs from float:", total.Elapsed.TotalSeconds));
        foreach (var line in table) Out.WriteLine(line);
    }
}
