using System.Text;
using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>mnist-8 quantized once (Entropy, 40 digits) for the structural tests.</summary>
public sealed class MnistQuantized
{
    public MnistQuantized()
    {
        if (!SharedData.Exists) return;
        Float = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        Samples = QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(0, 40)).ToList();
        Calibration = Calibrator.Run(Float, Samples, new CalibrationOptions { Method = CalibrationMethod.Entropy });
        Result = GraphQuantizer.Quantize(Float, Calibration, Samples, new QuantizerOptions(), Diagnostics);
    }

    public Graph Float { get; } = null!;
    public List<IReadOnlyList<Tensor>> Samples { get; } = null!;
    public CalibrationResult Calibration { get; } = null!;
    public QuantizedGraph Result { get; } = null!;
    public DiagnosticBag Diagnostics { get; } = new();

    public QuantizedGraph Again(QuantizerOptions options, DiagnosticBag bag) => GraphQuantizer.Quantize(Float, Calibration, Samples, options, bag);
}

public sealed class GraphQuantizerTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    public GraphQuantizerTests(MnistQuantized m) => _m = m;

    private static string Ops(Graph g) => string.Join(" ", g.Nodes.Select(n => n.OpType + (n.Activation is null ? "" : "+" + n.Activation.Op)));

    [SharedFact]
    public void Mnist8_becomes_QOperator_ops_between_one_quantize_and_one_dequantize()
    {
        var g = _m.Result.Graph;
        // The logits layer (Gemm) is a float-output head: int32 accumulation, then one float epilogue; nothing is rounded after it.
        Assert.Equal("QuantizeLinear QLinearConv+Relu MaxPool QLinearConv+Relu MaxPool Reshape Reshape ConvInteger DynamicDequantize Reshape", Ops(g));
        // The public interface is unchanged: same float input and output.
        Assert.Equal(_m.Float.Inputs.Select(i => i.ToString()), g.Inputs.Select(i => i.ToString()));
        Assert.Equal(_m.Float.Outputs.Select(i => i.ToString()), g.Outputs.Select(i => i.ToString()));
        // Every value has a type; activations between the boundary ops are uint8.
        foreach (var n in g.Nodes)
            foreach (var v in n.Inputs.Concat(n.Outputs).Where(v => v.Length > 0))
                Assert.True(g.Types.ContainsKey(v), v);
        foreach (var n in g.Nodes.Where(n => n.OpType is "QLinearConv" or "MaxPool" or "Reshape").SkipLast(1))
        {
            Assert.Equal(DataType.UInt8, g.TypeOf(n.Inputs[0]).ElementType);
            Assert.Equal(DataType.UInt8, g.TypeOf(n.Outputs[0]).ElementType);
        }
        // Pixels 0..255 calibrate to exactly scale 1, zero point 0.
        var q = g.Nodes[0];
        Assert.Equal(1f, g.Constants[q.Inputs[1]].As<float>()[0]);
        Assert.Equal((byte)0, g.Constants[q.Inputs[2]].As<byte>()[0]);
    }

    [SharedFact]
    public void QLinearConv_has_symmetric_per_channel_int8_weights_and_int32_bias_in_accumulator_scale()
    {
        // Without bias correction the int32 bias is exactly the float bias in accumulator scale (QuantizerHeadTests checks the correction).
        var g = _m.Again(new QuantizerOptions { BiasCorrection = false }, new DiagnosticBag()).Graph;
        var conv = g.Nodes.First(n => n.OpType == "QLinearConv");
        var floatConv = _m.Float.Nodes.First(n => n.Name == conv.Name);
        Assert.Equal(floatConv.Attributes.Keys.OrderBy(k => k), conv.Attributes.Keys.OrderBy(k => k));
        var w = g.Constants[conv.Inputs[3]];
        var ws = g.Constants[conv.Inputs[4]].As<float>();
        var wz = g.Constants[conv.Inputs[5]];
        var fw = _m.Float.Constants[floatConv.Inputs[1]].ToFloats();
        Assert.Equal(DataType.Int8, w.ElementType);
        Assert.Equal(_m.Float.Constants[floatConv.Inputs[1]].Shape, w.Shape);
        Assert.Equal(w.Shape[0], ws.Length);
        Assert.Equal(DataType.Int8, wz.ElementType);
        Assert.All(wz.As<sbyte>(), z => Assert.Equal(0, z));
        int inner = fw.Length / ws.Length;
        for (int c = 0; c < ws.Length; c++)
        {
            var ch = Enumerable.Range(c * inner, inner);
            Assert.Equal(ch.Max(i => Math.Abs(fw[i])) / 127.0, ws[c], 5);
            Assert.Contains(ch, i => Math.Abs(w.As<sbyte>()[i]) == 127);
            Assert.All(ch, i => Assert.InRange(w.As<sbyte>()[i] * ws[c] - fw[i], -ws[c] / 2 - 1e-6, ws[c] / 2 + 1e-6));
        }
        float sx = g.Constants[conv.Inputs[1]].As<float>()[0];
        var bias = g.Constants[conv.Inputs[8]];
        var fb = _m.Float.Constants[floatConv.Inputs[2]].ToFloats();
        Assert.Equal(DataType.Int32, bias.ElementType);
        for (int c = 0; c < fb.Length; c++) Assert.Equal(Math.Round(fb[c] / ((double)sx * ws[c]), MidpointRounding.ToEven), bias.As<int>()[c]);
        Assert.Equal("Relu", conv.Activation?.Op);
    }

    [SharedFact]
    public void Pass_through_ops_keep_their_input_parameters_and_Gemm_is_a_1x1_QLinearConv()
    {
        // Without float heads the logits Gemm requantizes like the other layers.
        var g = _m.Again(new QuantizerOptions { FloatHeads = false }, new DiagnosticBag()).Graph;
        // MaxPool (and Reshape) between two int8 layers: the consumer reads with the producer's output parameters.
        var convs = g.Nodes.Where(n => n.OpType == "QLinearConv").ToList();
        float C(string name) => g.Constants[name].As<float>()[0];
        byte Z(string name) => g.Constants[name].As<byte>()[0];
        for (int i = 0; i + 1 < convs.Count; i++)
        {
            Assert.Equal(C(convs[i].Inputs[6]), C(convs[i + 1].Inputs[1]));
            Assert.Equal(Z(convs[i].Inputs[7]), Z(convs[i + 1].Inputs[2]));
        }
        var gemm = g.Nodes.Single(n => n.Name == "Times212");
        Assert.Equal("QLinearConv", gemm.OpType);
        Assert.Equal(new Shape(10, 256, 1, 1), g.Constants[gemm.Inputs[3]].Shape);
        Assert.Equal(new Shape(1, 256, 1, 1), g.TypeOf(gemm.Inputs[0]).Shape);
        Assert.Equal(9, gemm.Inputs.Count); // with its int32 bias
        // Gemm's B is [K, N]: the quantized weight row n is column n of B.
        var floatGemm = _m.Float.Nodes.Single(n => n.Name == "Times212");
        var b = _m.Float.Constants[floatGemm.Inputs[1]];
        var ws = g.Constants[gemm.Inputs[4]].As<float>();
        var wq = g.Constants[gemm.Inputs[3]].As<sbyte>();
        for (int n = 0; n < 10; n++)
            for (int k = 0; k < 256; k += 37)
                Assert.Equal(QuantMath.Quantize(b.ToFloats()[k * 10 + n], ws[n], 0, -127, 127), wq[n * 256 + k]);
    }

    [SharedFact]
    public void Report_has_every_layer_with_parameters_SQNR_and_model_output_SQNR()
    {
        var r = _m.Result.Report;
        Assert.Equal(_m.Float.Nodes.Select(n => n.Name), r.Layers.Select(l => l.Name));
        Assert.Equal("Int8", r.Mode);
        Assert.Empty(r.KeptFloat);
        foreach (var l in r.Layers.Where(l => l.OpType is "Conv" or "Gemm"))
        {
            Assert.True(l.Quantized);
            Assert.StartsWith("u8 × s8 per-channel", l.Scheme);
            Assert.NotNull(l.WeightScaleMin);
            Assert.True(l.WeightScaleMin <= l.WeightScaleMax);
            Assert.InRange(l.SqnrDb!.Value, 15, 60);
        }
        Assert.Equal("u8 (input's parameters)", r.Layers.Single(l => l.Name == "Pooling66").Scheme);
        var sqnr = Assert.Single(r.OutputSqnrDb);
        Assert.Equal("Plus214_Output_0", sqnr.Key);
        Assert.InRange(sqnr.Value, 15, 60);
        Assert.Contains("| Convolution28 | Conv | u8 × s8 per-channel → u8, Relu as clamp |", r.ToMarkdown());
        Assert.Contains("\"notes\": [", r.ToJson());
    }

    [SharedFact]
    public void Layer_SQNR_reflects_the_int8_error_and_the_simulated_model_agrees_with_float()
    {
        // The simulation is the quantized model in float: its argmax agrees with float on held-out digits.
        var g = _m.Float;
        int agree = 0, n = 30;
        foreach (var x in QuantizerFixtures.MnistDigits(5000, n))
        {
            var f = Interpreter.FloatInterpreter.Run(g, new[] { x })[0].ToFloats();
            var s = _m.Result.Simulate(new[] { x })[0].ToFloats();
            if (QuantizerFixtures.ArgMax(f) == QuantizerFixtures.ArgMax(s)) agree++;
            Assert.NotEqual(f, s); // quantization does change the logits
        }
        Assert.True(agree >= n - 1, $"{agree}/{n}");
    }

    [SharedFact]
    public void Weight_only_simulation_rounds_the_weights_but_not_the_activations()
    {
        // Mixed-precision measurements: every layer weight-only lies strictly between float and the int8 model.
        var layers = _m.Result.Report.Layers.Where(l => l.Quantized).Select(l => l.Name).ToHashSet();
        double s = 0, eInt8 = 0, eWeightOnly = 0, eFloat = 0;
        foreach (var x in QuantizerFixtures.MnistDigits(5000, 10))
        {
            var f = Interpreter.FloatInterpreter.Run(_m.Float, new[] { x })[0].ToFloats();
            var q = _m.Result.Simulate(new[] { x })[0].ToFloats();
            var w = _m.Result.SimulateMixed(new[] { x }, _ => false, layers.Contains)[0].ToFloats();
            var a = _m.Result.SimulateMixed(new[] { x }, layers.Contains, _ => false)[0].ToFloats();
            for (int i = 0; i < f.Length; i++)
            {
                s += (double)f[i] * f[i];
                eInt8 += Math.Pow(f[i] - q[i], 2);
                eWeightOnly += Math.Pow(f[i] - w[i], 2);
                eFloat += Math.Pow(f[i] - a[i], 2);
            }
        }
        Assert.True(eFloat <= 1e-9 * s, $"all layers in float: noise {eFloat} for signal {s}");
        Assert.True(eWeightOnly > 1e-9 * s, "weight-only layers must read the integer weights");
        Assert.True(eWeightOnly < eInt8 / 2, $"weight-only noise {eWeightOnly} should be well below int8's {eInt8}");
    }

    [SharedFact]
    public void Layers_below_MinLayerSqnrDb_stay_float_with_QC3006()
    {
        var bag = new DiagnosticBag();
        var r = _m.Again(new QuantizerOptions { MinLayerSqnrDb = 200 }, bag);
        Assert.DoesNotContain(r.Graph.Nodes, n => n.OpType.StartsWith("QLinear", StringComparison.Ordinal) || n.OpType.EndsWith("QuantizeLinear", StringComparison.Ordinal));
        Assert.Equal(Ops(_m.Float), Ops(r.Graph));
        var infos = bag.Items.Where(d => d.Id == DiagnosticIds.LayerKeptFloatSqnr).ToList();
        Assert.Equal(new[] { "Convolution28", "Convolution110", "Times212" }, infos.Select(d => d.Node));
        Assert.All(infos, d => Assert.Equal(Severity.Info, d.Severity));
        Assert.Contains("below MinLayerSqnrDb (200 dB)", infos[0].Message);
        Assert.Equal(3, r.Report.KeptFloat.Count(l => l.KeptFloatReason!.StartsWith("SQNR", StringComparison.Ordinal)));
        // With every layer float, the "quantized" model is the float model.
        Assert.True(double.IsPositiveInfinity(r.Report.OutputSqnrDb.Single().Value));
        // A threshold between two layers' SQNR keeps exactly the worse ones float.
        var sqnrs = _m.Result.Report.Layers.Where(l => l.SqnrDb is not null).Select(l => l.SqnrDb!.Value).OrderBy(v => v).ToList();
        var mid = _m.Again(new QuantizerOptions { MinLayerSqnrDb = (sqnrs[0] + sqnrs[1]) / 2 }, new DiagnosticBag());
        Assert.Single(mid.Report.KeptFloat, l => l.KeptFloatReason!.StartsWith("SQNR", StringComparison.Ordinal));
    }

    [SharedFact]
    public void KeepFloat_keeps_named_nodes_float_and_warns_about_unknown_names()
    {
        var bag = new DiagnosticBag();
        // ReLU114 is fused into Convolution110: naming the activation keeps the fused node float too.
        var r = _m.Again(new QuantizerOptions { KeepFloat = new[] { "ReLU114", "Convolution2" } }, bag);
        Assert.Equal("QuantizeLinear QLinearConv+Relu DequantizeLinear MaxPool Conv+Relu MaxPool QuantizeLinear Reshape Reshape ConvInteger DynamicDequantize Reshape",
            Ops(r.Graph));
        var keep = Assert.Single(bag.Items, d => d.Id == DiagnosticIds.LayerKeptFloatByUser);
        Assert.Equal("Convolution110", keep.Node);
        var unknown = Assert.Single(bag.Items, d => d.Id == DiagnosticIds.KeepFloatUnknownNode);
        Assert.Equal(Severity.Warning, unknown.Severity);
        Assert.Contains("'Convolution2'", unknown.Message);
        Assert.Contains("did you mean 'Convolution28'", unknown.Message);
        Assert.Equal("KeepFloat", r.Report.Layers.Single(l => l.Name == "Convolution110").KeptFloatReason);
        // The MaxPool after the first conv ends its segment, so it runs in float before the float conv.
        Assert.Equal("ends an int8 segment", r.Report.Layers.Single(l => l.Name == "Pooling66").KeptFloatReason);
    }

    [SharedFact]
    public void QuantizedIO_exposes_the_uint8_boundary_tensors()
    {
        var r = _m.Again(new QuantizerOptions { QuantizedIO = true }, new DiagnosticBag());
        Assert.Equal("QLinearConv+Relu MaxPool QLinearConv+Relu MaxPool Reshape Reshape QLinearConv Reshape", Ops(r.Graph));
        Assert.Equal("Input3_quantized: u8[1,1,28,28]", r.Graph.Inputs.Single().ToString());
        Assert.Equal(DataType.UInt8, r.Graph.Outputs.Single().Type.ElementType);
        Assert.Equal("Plus214_Output_0_quantized", r.Graph.Outputs.Single().Name);
        Assert.Contains(r.Report.Notes, n => n.StartsWith("input `Input3_quantized` is u8 scale=1 zp=0", StringComparison.Ordinal));
        Assert.Contains(r.Report.Notes, n => n.StartsWith("output `Plus214_Output_0_quantized` is u8 scale=", StringComparison.Ordinal));
    }

    [SharedFact]
    public void Same_inputs_give_an_identical_graph_and_report()
    {
        var a = _m.Again(new QuantizerOptions(), new DiagnosticBag());
        Assert.Equal(Dump(_m.Result.Graph), Dump(a.Graph));
        Assert.Equal(_m.Result.Report.ToJson(), a.Report.ToJson());
        Assert.Equal(_m.Result.Report.ToMarkdown(), a.Report.ToMarkdown());
    }

    internal static string Dump(Graph g)
    {
        var sb = new StringBuilder();
        foreach (var n in g.Nodes)
            sb.Append(n.Domain).Append('.').Append(n.OpType).Append(' ').Append(n.Name).Append('(').Append(string.Join(",", n.Inputs)).Append(")->")
              .Append(string.Join(",", n.Outputs)).Append(' ').Append(string.Join(";", n.Attributes.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value)))
              .Append(' ').Append(n.Activation?.Op).Append('\n');
        foreach (var kv in g.Constants.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sb.Append(kv.Key).Append(' ').Append(kv.Value.Type).Append(' ').Append(Convert.ToBase64String(kv.Value.ToBytes())).Append('\n');
        foreach (var kv in g.Types.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sb.Append(kv.Key).Append(':').Append(kv.Value).Append('\n');
        return sb.ToString();
    }
}

/// <summary>The segment rule on small synthetic models: an int8 op alone between float ops must pay for its boundary passes.</summary>
public sealed class QuantizerSegmentTests
{
    private static Graph Build(int width)
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, width)
            .Initializer("w", OnnxModelBuilder.Random(1, -1, 1, width, width))
            .Node("Sigmoid", new[] { "x" }, new[] { "s" })
            .Node("MatMul", new[] { "s", "w" }, new[] { "m" })
            .Node("Softmax", new[] { "m" }, new[] { "y" })
            .Output("y");
        string path = Path.Combine(Path.GetTempPath(), "qc-segment-" + Guid.NewGuid().ToString("N") + ".onnx");
        b.Save(path);
        try
        {
            var bag = new DiagnosticBag();
            return PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(path), new Dictionary<string, int[]>(), bag), bag);
        }
        finally { File.Delete(path); }
    }

    private static QuantizedGraph Quantize(Graph g)
    {
        var samples = QuantizerFixtures.AsSamples(Enumerable.Range(0, 8).Select(i => OnnxModelBuilder.Random(10 + i, -3, 3, g.Inputs[0].Type.Shape.ToArray()))).ToList();
        return GraphQuantizer.Quantize(g, Calibrator.Run(g, samples, new CalibrationOptions()), samples, new QuantizerOptions(), new DiagnosticBag());
    }

    [Fact]
    public void A_small_MatMul_between_float_ops_stays_float()
    {
        var r = Quantize(Build(4)); // 16 MACs for 8 boundary elements
        Assert.Equal(new[] { "Sigmoid", "MatMul", "Softmax" }, r.Graph.Nodes.Select(n => n.OpType));
        Assert.StartsWith("int8 segment too small (16 MACs for 8 elements", r.Report.Layers[1].KeptFloatReason);
    }

    [Fact]
    public void A_large_MatMul_between_float_ops_is_quantized()
    {
        var r = Quantize(Build(128)); // 16,384 MACs for 256 boundary elements
        // The MatMul is also the head: int32 accumulation, dequantized in float before the Softmax.
        Assert.Equal(new[] { "Sigmoid", "QuantizeLinear", "MatMulInteger", "DynamicDequantize", "Softmax" }, r.Graph.Nodes.Select(n => n.OpType));
        var mm = r.Graph.Nodes[2];
        Assert.Equal(new Shape(128), r.Graph.Constants[r.Graph.Nodes[3].Inputs[2]].Shape); // per-column weight scales
        Assert.Equal(DataType.Int8, r.Graph.Constants[mm.Inputs[1]].ElementType);
        Assert.True(r.Report.Layers[1].Quantized);
    }
}

/// <summary>Option handling in ModelCompiler that needs no int8 kernels.</summary>
public sealed class QuantizeOptionTests
{
    [SharedFact]
    public void Int8_without_calibration_data_is_QC3001()
    {
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = SharedData.Model("mnist-8/model.onnx"), Quantize = QuantizeMode.Int8 });
        Assert.False(r.Success);
        var e = Assert.Single(r.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal(DiagnosticIds.CalibrationEmpty, e.Id);
        Assert.Contains("needs calibration data", e.Message);
    }
}
