using System.Globalization;
using Q.Compiler.Interpreter;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Which groups of int8 layers carry an image model's output error (QC_QUANT_MEASURE=1, QC_ACC_MODEL, default
/// ppocr-cls-mobile; QC_ACC_METHOD; QC_ACC_VARIANTS=default,nobc for bias correction off): the output SQNR over the
/// calibration set, and with QC_ACC_GROUPS=1 the simulated model with one group of layers (by op type, depthwise /
/// pointwise / squeeze-excite convolutions) computed in float (its output still rounded where the next int8 layer reads
/// it), on every shared test set and the calibration set's first 8 samples.
/// </summary>
public sealed class LayerGroupMeasurements : ImageModelMeasurement
{
    public LayerGroupMeasurements(ITestOutputHelper output) : base(output) { }

    [MeasurementFact]
    public void Output_sqnr_with_layer_groups_in_float()
    {
        var inv = CultureInfo.InvariantCulture;
        string folder = ModelFromEnvironment("ppocr-cls-mobile");
        var calibFolder = CalibrationFolder(folder);
        var g = ImageModelGraphs.Unfused(folder);
        var set = CalibrationDataSet.Open(calibFolder.Folder, g.Inputs);
        var method = ImageModelGraphs.MethodFromEnvironment();
        var calib = Calibrator.Run(g, set, new CalibrationOptions { Method = method });
        var sets = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
        sets.AddRange(set.Take(8).Select(s => s.ToArray()));
        var reference = sets.Select(x => FloatInterpreter.Run(g, x)).ToList();
        var nodes = g.Nodes.ToDictionary(n => n.Name);
        bool Depthwise(string n) => nodes[n].OpType == "Conv" && nodes[n].Attributes.TryGetValue("group", out var a) && a.I > 1;
        bool Se(string n) => nodes[n].OpType == "Conv" && g.TypeOf(nodes[n].Outputs[0]).Shape.ElementCount == g.TypeOf(nodes[n].Outputs[0]).Shape[1];
        var groups = new (string Name, Func<string, bool> AsFloat)[]
        {
            ("none", _ => false),
            ("HardSwish", n => nodes[n].OpType == "HardSwish"),
            ("HardSigmoid", n => nodes[n].OpType == "HardSigmoid"),
            ("Mul", n => nodes[n].OpType == "Mul"),
            ("GlobalAveragePool", n => nodes[n].OpType == "GlobalAveragePool"),
            ("Add", n => nodes[n].OpType == "Add"),
            ("SE convs", Se),
            ("depthwise", Depthwise),
            ("pointwise", n => nodes[n].OpType == "Conv" && !Depthwise(n) && !Se(n)),
            ("head (Gemm)", n => nodes[n].OpType is "Gemm" or "MatMul"),
        };
        foreach (var variant in (Environment.GetEnvironmentVariable("QC_ACC_VARIANTS") ?? "default").Split(','))
        {
            var qo = new QuantizerOptions { BiasCorrection = !variant.Contains("nobc") };
            var q = GraphQuantizer.Quantize(g, calib, set, qo, new Q.Compiler.Diagnostics.DiagnosticBag());
            Out.WriteLine($"{folder} {variant}: calibration-set output SQNR {string.Join(" ", q.Report.OutputSqnrDb.Values.Select(x => x.ToString("F1", inv)))} dB");
            foreach (var (name, asFloat) in Environment.GetEnvironmentVariable("QC_ACC_GROUPS") == "1" ? groups : groups.Take(1))
            {
                var v = sets.Select((x, i) => FloatVsInt8.SqnrDb(reference[i][0], q.SimulateWithFloat(x, asFloat)[0])).ToArray();
                Out.WriteLine($"{folder} {variant} float {name,-18}: tests {string.Join(" ", v.Take(4).Select(x => x.ToString("F1", inv)))} | calib {string.Join(" ", v.Skip(4).Select(x => x.ToString("F1", inv)))}");
            }
        }
    }
}
