using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Diagnostics;
using Q.Compiler.Interpreter;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// What the weight-only rule (MinOutputSqnrDb) chooses on the image models (QC_QUANT_MEASURE=1; QC_ACC_MODEL, default
/// ppocr-cls-mobile; QC_WO_TARGETS, default "0,30": 0 is the build without the rule): per target, the calibration-set
/// output SQNR, the prefix and the SQNR of every prefix the bisection tried, the weight bytes against float, the build
/// time (ModelCompiler.Compile, float build for the weight ratio included), and the output SQNR of the built graph's
/// integer reference against the float graph on every shared test set (✗ where top-1 differs). The rule looks at the
/// calibration set only; the test sets are printed to see what it does.
/// </summary>
public sealed class WeightOnlyMeasurements : ImageModelMeasurement
{
    public WeightOnlyMeasurements(ITestOutputHelper output) : base(output) { }

    [MeasurementFact]
    public void Weight_only_prefix_by_output_sqnr()
    {
        var inv = CultureInfo.InvariantCulture;
        var targets = (Environment.GetEnvironmentVariable("QC_WO_TARGETS") is { Length: > 0 } t ? t : "0,30").Split(',').Select(v => double.Parse(v, inv)).ToList();
        foreach (var folder in ModelsFromEnvironment("ppocr-cls-mobile"))
        {
            var calib = CalibrationFolder(folder);
            string onnx = SharedData.Model(folder + "/model.onnx");
            var shapes = ImageModels.InputShapes(folder);
            var f = ModelCompiler.Compile(new CompileOptions { ModelPath = onnx, ClassName = "F", Namespace = "T", InputShapes = shapes });
            var sets = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
            var reference = sets.Select(x => FloatInterpreter.Run(f.Graph!, x)).ToList();
            string? basePlan = null;
            foreach (double target in targets)
            {
                var clock = Stopwatch.StartNew();
                var q = ModelCompiler.Compile(new CompileOptions
                {
                    ModelPath = onnx, ClassName = "Q", Namespace = "T", InputShapes = shapes, Quantize = QuantizeMode.Int8, Calibration = calib.Folder,
                    MinOutputSqnrDb = target,
                });
                double seconds = clock.Elapsed.TotalSeconds;
                Assert.True(q.Success, string.Join("\n", q.Diagnostics));
                var r = q.QuantizationReport!;
                Out.WriteLine(string.Format(inv, "== {0}, MinOutputSqnrDb {1}: {2:F0} s; {3}", folder, target, seconds, r.SummaryLine));
                foreach (var note in r.Notes.Where(n => n.StartsWith("weight-only", StringComparison.Ordinal) || n.StartsWith("no weight-only", StringComparison.Ordinal))) Out.WriteLine("   " + note);
                foreach (var d in q.Diagnostics.Where(d => d.Id is DiagnosticIds.WeightOnlyLayers or DiagnosticIds.WeightOnlyTargetMissed)) Out.WriteLine("   " + d);
                int weightOnly = r.Layers.Count(l => l.WeightOnly);
                Out.WriteLine(string.Format(inv, "   weight-only compute layers {0}, int8 layers {1}; weights {2:N0} B = {3:P2} of float {4:N0} B",
                    weightOnly, r.Layers.Count(l => l.Quantized), r.WeightBytes, (double)r.WeightBytes / r.FloatWeightBytes, r.FloatWeightBytes));
                var line = new List<string>();
                for (int i = 0; i < sets.Count; i++)
                {
                    var b = FloatInterpreter.Run(q.Graph!, sets[i]);
                    line.Add(string.Join(" / ", Enumerable.Range(0, b.Count).Select(o => FloatVsInt8.SqnrDb(reference[i][o], b[o]).ToString("F1", inv)
                        + (FloatVsInt8.ArgMax(reference[i][o]) == FloatVsInt8.ArgMax(b[o]) ? "" : " ✗"))));
                }
                Out.WriteLine("   test sets (integer reference vs float): " + string.Join(", ", line));
                if (weightOnly == 0)
                {
                    basePlan ??= q.PlanText;
                    Out.WriteLine("   plan identical to the first rule-free build: " + (basePlan == q.PlanText));
                }
            }
        }
    }
}
