using System.Globalization;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Where an image model's int8 weight bytes and output error come from (QC_QUANT_MEASURE=1, model in QC_ACC_MODEL, all
/// four by default; QC_ACC_PLANDIR writes both plans there; QC_WO_TARGET sets MinOutputSqnrDb): weight bytes by constant kind and by layer, the quantization report, and the output SQNR of the
/// quantized graph's integer reference against the float graph on every shared test set. No C# is compiled.
/// </summary>
public sealed class ImageModelBreakdown : ImageModelMeasurement
{
    public ImageModelBreakdown(ITestOutputHelper output) : base(output) { }

    [MeasurementFact]
    public void Weight_bytes_and_output_sqnr_by_layer()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = ModelsFromEnvironment(ImageModels.Folders);
        foreach (var folder in models)
        {
            var calib = CalibrationFolder(folder);
            string onnx = SharedData.Model(folder + "/model.onnx");
            var shapes = ImageModels.InputShapes(folder);
            var f = ModelCompiler.Compile(new CompileOptions { ModelPath = onnx, ClassName = "F", Namespace = "T", InputShapes = shapes });
            var options = new CompileOptions { ModelPath = onnx, ClassName = "Q", Namespace = "T", InputShapes = shapes, Quantize = QuantizeMode.Int8, Calibration = calib.Folder };
            options.CalibrationMethod = ImageModelGraphs.MethodFromEnvironment();
            if (Environment.GetEnvironmentVariable("QC_ACC_KEEP") is { Length: > 0 } keep) options.KeepFloat = keep.Split(';');
            if (Environment.GetEnvironmentVariable("QC_ACC_SQNR") is { Length: > 0 } s) options.MinLayerSqnrDb = double.Parse(s, inv);
            if (Environment.GetEnvironmentVariable("QC_WO_TARGET") is { Length: > 0 } wo) options.MinOutputSqnrDb = double.Parse(wo, inv);
            var q = ModelCompiler.Compile(options);
            Assert.True(q.Success, string.Join("\n", q.Diagnostics));
            Out.WriteLine($"== {folder}: {q.QuantizationReport!.SummaryLine}");
            if (Environment.GetEnvironmentVariable("QC_ACC_REPORT") == "1") Out.WriteLine(q.QuantizationReport.ToMarkdown());
            Bytes(f.Plan!, q.Plan!);
            if (Environment.GetEnvironmentVariable("QC_ACC_PLANDIR") is { Length: > 0 } planDir)
            {
                File.WriteAllText(Path.Combine(planDir, folder + ".f32.qplan"), f.PlanText!);
                File.WriteAllText(Path.Combine(planDir, folder + ".int8.qplan"), q.PlanText!);
            }
            PackingPadding(q.Plan!, q.Graph!);
            foreach (var set in TestData.Sets(SharedData.Model(folder)))
            {
                var inputs = TestData.Inputs(set);
                var a = FloatInterpreter.Run(f.Graph!, inputs);
                var b = FloatInterpreter.Run(q.Graph!, inputs);
                for (int o = 0; o < a.Count; o++)
                    Out.WriteLine(string.Format(inv, "{0} {1} output {2}: SQNR {3:F1} dB, argmax {4} / {5}, max {6:G4} / {7:G4}", folder, Path.GetFileName(set), o,
                        FloatVsInt8.SqnrDb(a[o], b[o]), FloatVsInt8.ArgMax(a[o]), FloatVsInt8.ArgMax(b[o]), a[o].ToDoubles().Max(), b[o].ToDoubles().Max()));
            }
        }
    }

    /// <summary>
    /// Which int8 layers cost the most output SQNR on the test sets: the simulated model with each one alone in float
    /// (QC_QUANT_MEASURE=1, QC_ACC_MODEL, QC_ACC_METHOD).
    /// </summary>
    [MeasurementFact]
    public void Output_sqnr_gain_per_layer_kept_float()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = ModelsFromEnvironment(ImageModels.Folders);
        foreach (var folder in models)
        {
            var calibFolder = CalibrationFolder(folder);
            var g = ImageModelGraphs.Unfused(folder);
            var set = Q.Compiler.Quantization.CalibrationDataSet.Open(calibFolder.Folder, g.Inputs);
            var method = ImageModelGraphs.MethodFromEnvironment();
            var calib = Q.Compiler.Quantization.Calibrator.Run(g, set, new Q.Compiler.Quantization.CalibrationOptions { Method = method });
            var sets = TestData.Sets(SharedData.Model(folder)).Select(TestData.Inputs).ToList();
            var reference = sets.Select(x => FloatInterpreter.Run(g, x)).ToList();
            Q.Compiler.Quantization.QuantizedGraph q = null!;
            double[] Sqnr(Func<string, bool> asFloat) => sets.Select((x, i) => FloatVsInt8.SqnrDb(reference[i][0], q.SimulateWithFloat(x, asFloat)[0])).ToArray();
            foreach (var variant in (Environment.GetEnvironmentVariable("QC_ACC_VARIANTS") ?? "default").Split(','))
            {
                var qo = new Q.Compiler.Quantization.QuantizerOptions { FullRangeHeads = !variant.Contains("nohead") };
                q = Q.Compiler.Quantization.GraphQuantizer.Quantize(g, calib, set, qo, new Q.Compiler.Diagnostics.DiagnosticBag());
                if (Environment.GetEnvironmentVariable("QC_ACC_LAYERSQNR") == "1")
                    Out.WriteLine(string.Join(" ", q.Report.Layers.Where(l => l.SqnrDb is not null).Select(l => l.SqnrDb!.Value.ToString("F1", inv))));
                Out.WriteLine($"== {folder} {variant}: all int8 {string.Join(" ", Sqnr(_ => false).Select(v => v.ToString("F1", inv)))}; calibration output {string.Join(" ", q.Report.OutputSqnrDb.Values.Select(v => v.ToString("F1", inv)))}, {q.Report.Layers.Count(l => l.Quantized)} int8 layers");
            }
            if (Environment.GetEnvironmentVariable("QC_ACC_SENS") != "1") continue;
            var rows = new List<(string Layer, double[] Sqnr)>();
            foreach (var layer in q.Report.Layers.Where(l => l.Quantized && l.SqnrDb is not null))
                rows.Add((layer.Name + " (" + layer.OpType + ")", Sqnr(n => n == layer.Name)));
            foreach (var (layer, v) in rows.OrderByDescending(r => r.Sqnr.Min()).Take(12))
                Out.WriteLine($"  {layer}: {string.Join(" ", v.Select(x => x.ToString("F1", inv)))}");
        }
    }

    private void Bytes(ModelPlan f, ModelPlan q)
    {
        var inv = CultureInfo.InvariantCulture;
        int ElementBytes(PlanBuffer b) => b.Type switch { "f32" or "i32" => 4, "i16" or "u16" or "f16" => 2, "i64" or "f64" => 8, _ => 1 };
        long Plain(PlanBuffer b) => (long)b.Elements * ElementBytes(b);
        // What the buffer takes in the blob (the binary): its coded length when it is stored coded.
        long Size(PlanBuffer b) => b.Coding?.StoredLength(b.Elements, ElementBytes(b)) ?? Plain(b);
        var weights = q.Buffers.Where(b => b.Kind == BufferKind.Weight).GroupBy(b => b.Offset).Select(g => g.First()).ToList();
        long total = weights.Sum(Size);
        var fWeights = f.Buffers.Where(b => b.Kind == BufferKind.Weight).GroupBy(b => b.Offset).Select(g => g.First()).ToList();
        Out.WriteLine(string.Format(inv, "weights in the binary: float {0:N0}, int8 {1:N0} ({2:P1}); int8 buffers {3:N0} + alignment {4:N0}; in memory after expansion: float {5:N0}, int8 {6:N0} ({7:P1})",
            f.Weights.Length, q.Weights.Length, (double)q.Weights.Length / f.Weights.Length, total, q.Weights.Length - total,
            fWeights.Sum(Plain), weights.Sum(Plain), (double)weights.Sum(Plain) / fWeights.Sum(Plain)));
        foreach (var (plan, label) in new[] { (f, "float"), (q, "int8") })
            foreach (var g in plan.Buffers.Where(b => b.Kind == BufferKind.Weight && b.Coding is not null).GroupBy(b => b.Offset).Select(g => g.First())
                         .GroupBy(b => b.Type + " " + b.Coding!.Kind).OrderBy(g => g.Key, StringComparer.Ordinal))
                Out.WriteLine(string.Format(inv, "  {0} coded {1,-16} {2,9:N0} → {3,9:N0} bytes in {4} buffers", label, g.Key, g.Sum(Plain), g.Sum(Size), g.Count()));
        foreach (var g in weights.GroupBy(b => Kind(b)).OrderByDescending(g => g.Sum(Size)))
            Out.WriteLine(string.Format(inv, "  {0,-12} {1,9:N0} bytes in {2} buffers (plain {3:N0})", g.Key, g.Sum(Size), g.Count(), g.Sum(Plain)));
        if (Environment.GetEnvironmentVariable("QC_ACC_LAYERS") != "1") return;
        var byId = weights.ToDictionary(b => b.Id);
        foreach (var layer in q.Layers)
        {
            var used = layer.Calls.SelectMany(c => c.Args).Where(a => a.Kind == ArgKind.In && byId.ContainsKey(a.Buffer)).Select(a => byId[a.Buffer]).Distinct().ToList();
            if (used.Count == 0) continue;
            Out.WriteLine(string.Format(inv, "  L{0} {1} {2}: {3}", layer.Index, layer.Method, layer.Detail,
                string.Join(", ", used.Select(b => Kind(b) + " " + Size(b).ToString("N0", inv)))));
        }
    }

    /// <summary>
    /// How many bytes of the packed int8 weights are padding: packed bytes minus the weights the layer's node holds
    /// (K rounded up to 4 and M to 4 in QConvNchw, panels of 16 columns in QGemm).
    /// </summary>
    private void PackingPadding(ModelPlan q, Graph g)
    {
        var inv = CultureInfo.InvariantCulture;
        var nodes = g.Nodes.ToDictionary(n => n.Name);
        var byId = q.Buffers.Where(b => b.Kind == BufferKind.Weight).GroupBy(b => b.Offset).Select(x => x.First()).ToDictionary(b => b.Id);
        long packed = 0, weights = 0;
        var rows = new List<string>();
        foreach (var layer in q.Layers)
        {
            var buffers = layer.Calls.SelectMany(c => c.Args).Where(a => a.Kind == ArgKind.In && byId.ContainsKey(a.Buffer)).Select(a => byId[a.Buffer])
                .Where(b => Kind(b).StartsWith("packed", StringComparison.Ordinal)).Distinct().ToList();
            if (buffers.Count == 0) continue;
            // The weight of the layer's quantized node: QLinearConv/QLinearMatMul input 3, ConvInteger/MatMulInteger input 1.
            long w = 0;
            foreach (var name in layer.Nodes)
                if (nodes.TryGetValue(name, out var n))
                {
                    int wi = n.OpType is "QLinearConv" or "QLinearMatMul" ? 3 : n.OpType is "ConvInteger" or "MatMulInteger" ? 1 : -1;
                    if (wi >= 0 && g.Constants.TryGetValue(n.Inputs[wi], out var t)) w += t.Length;
                }
            if (w == 0) continue;
            long p = buffers.Sum(b => (long)b.Elements);
            packed += p; weights += w;
            if (p > w) rows.Add(string.Format(inv, "    L{0} {1}: {2:N0} packed for {3:N0} weights ({4:N0} padding)", layer.Index, layer.Detail, p, w, p - w));
        }
        Out.WriteLine(string.Format(inv, "packed int8 weights: {0:N0} bytes for {1:N0} weights: {2:N0} bytes of padding ({3:P1})", packed, weights, packed - weights, packed == 0 ? 0 : (double)(packed - weights) / packed));
        if (Environment.GetEnvironmentVariable("QC_ACC_LAYERS") == "1") foreach (var r in rows) Out.WriteLine(r);
    }

    private static string Kind(PlanBuffer b)
    {
        string n = b.Name;
        foreach (var k in new[] { "packed", "colsum", "bias", "scale", "wdw", "wzp" })
            if (n.EndsWith(k, StringComparison.Ordinal) || n.Contains("_" + k, StringComparison.Ordinal)) return k + " " + b.Type;
        return "other " + b.Type;
    }
}
