using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Convolutions with a fused activation that is not a clamp (HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu): the
/// quantizer unfuses them before calibration, requantizes the convolution's own output and runs the activation on uint8
/// by a lookup table; pairs that stay float are fused again.
/// </summary>
public sealed class QuantizerActivationTests : SmallModelQuantizerTests
{
    /// <summary>x [1,8,12,12] → Conv 3×3 (16 channels) → activation → Conv 1×1 → y: 200 KMACs, well above the segment rule.</summary>
    private string Model(string activation) => Save(new OnnxModelBuilder()
        .Input("x", DataType.Float, 1, 8, 12, 12)
        .Initializer("w1", OnnxModelBuilder.Random(1, -0.3f, 0.3f, 16, 8, 3, 3))
        .Initializer("b1", OnnxModelBuilder.Random(2, -0.5f, 0.5f, 16))
        .Initializer("w2", OnnxModelBuilder.Random(3, -0.3f, 0.3f, 16, 16, 1, 1))
        .Node("Conv", new[] { "x", "w1", "b1" }, new[] { "c1" }, ("pads", new long[] { 1, 1, 1, 1 }))
        .Node(activation, new[] { "c1" }, new[] { "a1" })
        .Node("Conv", new[] { "a1", "w2" }, new[] { "y" })
        .Output("y"), "qc-act-");

    [Theory]
    [InlineData("HardSwish", "QLinearHardSwish", "ai.q-compiler")]
    [InlineData("HardSigmoid", "QLinearHardSigmoid", "ai.q-compiler")]
    [InlineData("Tanh", "QLinearTanh", "ai.q-compiler")]
    [InlineData("Sigmoid", "QLinearSigmoid", "com.microsoft")]
    [InlineData("LeakyRelu", "QLinearLeakyRelu", "com.microsoft")]
    public void A_fused_activation_becomes_a_uint8_lookup_between_int8_convolutions(string activation, string lookup, string domain)
    {
        var optimized = Optimized(Model(activation));
        Assert.Equal("Conv+" + activation + " Conv", Ops(optimized));
        Assert.Equal("Conv " + activation + " Conv", Ops(GraphQuantizer.Unfuse(optimized)));

        var q = Quantize(optimized);
        // The second convolution is the head: int32 accumulation, float output (no DequantizeLinear).
        Assert.Equal("QuantizeLinear QLinearConv " + lookup + " ConvInteger DynamicDequantize", Ops(q.Graph));
        Assert.Equal(domain, q.Graph.Nodes[2].Domain);
        // The first convolution requantizes its own (pre-activation) output, not the activation's.
        var conv = q.Report.Layers.Single(l => l.OpType == "Conv" && l.Name == optimized.Nodes[0].Name);
        var act = q.Report.Layers.Single(l => l.OpType == activation);
        Assert.True(act.Quantized);
        Assert.Equal(conv.OutputScale, act.InputScale);

        // The integer reference of the rewritten graph is close to float on held-out inputs.
        double sqnr = SqnrDb(optimized, q.Graph, Samples(50, 4));
        Assert.True(sqnr > 25, $"SQNR {sqnr:F1} dB");
    }

    [Fact]
    public void A_convolution_kept_float_takes_its_activation_back()
    {
        var optimized = Optimized(Model("HardSwish"));
        var q = Quantize(optimized, new QuantizerOptions { KeepFloat = new[] { optimized.Nodes[0].Name } });
        Assert.Equal("Conv+HardSwish QuantizeLinear ConvInteger DynamicDequantize", Ops(q.Graph));
    }

    [Fact]
    public void The_compiled_lookup_matches_the_integer_reference()
    {
        var r = CompileInt8(Model("HardSwish"), "Act", "qc-act-calib-");
        // HardSwish's table is built by the kernel from the quantization parameters: no 256-byte table among the weights.
        Assert.Contains(r.Plan!.Layers, l => l.Calls.Any(c => c.Target == "QLookup.Activation"));
        Assert.DoesNotContain(r.Plan.Buffers, b => b.Kind == BufferKind.Weight && b.Type == "u8" && b.Elements == 256);
        AssertCompiledMatchesReference(r, PlanText.Read(r.PlanText!));
    }

    /// <summary>
    /// Without float heads, the last layer's output (here the model output) keeps its full calibrated range: no clipping
    /// of the answer.
    /// </summary>
    [Fact]
    public void The_last_layer_output_is_quantized_with_its_full_calibrated_range()
    {
        var optimized = Optimized(Model("Relu"));
        var g = GraphQuantizer.Unfuse(optimized);
        var samples = Samples(0, 8);
        var calibration = Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.Percentile, Percentile = 99 });
        var last = g.Nodes[^1].Outputs[0];
        var h = calibration.Histograms[last];
        var full = QuantParams.AsymmetricUInt8(h.Min, h.Max);
        var clipped = QuantParams.AsymmetricUInt8(calibration.Ranges[last].Min, calibration.Ranges[last].Max);
        Assert.NotEqual(full.Scale, clipped.Scale);

        var heads = GraphQuantizer.Quantize(g, calibration, samples, new QuantizerOptions { FloatHeads = false }, new DiagnosticBag());
        Assert.Equal((double)full.Scale, heads.Report.Layers[^1].OutputScale);
        // The first layer's output feeds a convolution: it keeps the method's range.
        var first = g.Nodes[0].Outputs[0];
        Assert.Equal((double)QuantParams.AsymmetricUInt8(calibration.Ranges[first].Min, calibration.Ranges[first].Max).Scale, heads.Report.Layers[0].OutputScale);

        var methodOnly = GraphQuantizer.Quantize(g, calibration, samples, new QuantizerOptions { FullRangeHeads = false, FloatHeads = false }, new DiagnosticBag());
        Assert.Equal((double)clipped.Scale, methodOnly.Report.Layers[^1].OutputScale);
    }
}
