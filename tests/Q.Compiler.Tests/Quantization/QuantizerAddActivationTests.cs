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
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// UltraFace's RFB block, two ways. A residual Add followed by Relu or Clip (two convolution branches, Add, Relu): the
/// quantizer takes the activation into a QLinearAdd as its output clamp, so the int8 segment goes on through it; an Add
/// kept float gets its activation node back. Branches joined by a Concat: each branch convolution requantizes onto the
/// Concat's grid, so QLinearConcat is a byte copy.
/// </summary>
public sealed class QuantizerAddActivationTests : SmallModelQuantizerTests
{
    /// <summary>x [1,8,12,12] → (Conv 3×3 ‖ Conv 1×1, 16 channels each) → Add → activation → Conv 1×1 → y.</summary>
    private string Model(string activation)
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 8, 12, 12)
            .Initializer("w1", OnnxModelBuilder.Random(1, -0.3f, 0.3f, 16, 8, 3, 3))
            .Initializer("b1", OnnxModelBuilder.Random(2, -0.5f, 0.5f, 16))
            .Initializer("w2", OnnxModelBuilder.Random(3, -0.3f, 0.3f, 16, 8, 1, 1))
            .Initializer("w3", OnnxModelBuilder.Random(4, -0.3f, 0.3f, 16, 16, 1, 1))
            .Node("Conv", new[] { "x", "w1", "b1" }, new[] { "c1" }, ("pads", new long[] { 1, 1, 1, 1 }))
            .Node("Conv", new[] { "x", "w2" }, new[] { "c2" })
            .Node("Add", new[] { "c1", "c2" }, new[] { "s" });
        if (activation == "Clip")
            b.Initializer("lo", Tensor.Scalar(0f)).Initializer("hi", Tensor.Scalar(1.5f)).Node("Clip", new[] { "s", "lo", "hi" }, new[] { "a" });
        else
            b.Node(activation, new[] { "s" }, new[] { "a" });
        b.Node("Conv", new[] { "a", "w3" }, new[] { "y" }).Output("y");
        return Save(b, "qc-addact-");
    }

    [Theory]
    [InlineData("Relu")]
    [InlineData("Clip")]
    public void Add_then_activation_becomes_one_QLinearAdd_with_the_activation_as_clamp(string activation)
    {
        var optimized = Optimized(Model(activation));
        Assert.Equal("Conv Conv Add " + activation + " Conv", Ops(optimized));
        var q = Quantize(optimized);
        Assert.Equal("QuantizeLinear QLinearConv QLinearConv QLinearAdd+" + activation + " ConvInteger DynamicDequantize", Ops(q.Graph));
        var add = q.Report.Layers.Single(l => l.OpType == "Add");
        Assert.True(add.Quantized);
        Assert.Contains(activation + " as clamp", add.Scheme);
        // The clamp keeps the activation's bounds (Clip: 0 to 1.5).
        var fused = q.Graph.Nodes.Single(n => n.OpType == "QLinearAdd").Activation!;
        if (activation == "Clip") Assert.Equal((0f, 1.5f), (fused.Alpha, fused.Beta));

        // The integer reference of the rewritten graph is close to float on held-out inputs, and the simulated model agrees.
        double sqnr = SqnrDb(optimized, q.Graph, Samples(50, 4));
        Assert.True(sqnr > 25, $"SQNR {sqnr:F1} dB");
        Assert.True(q.Report.OutputSqnrDb.Single().Value > 25, $"report SQNR {q.Report.OutputSqnrDb.Single().Value:F1} dB");
    }

    [Fact]
    public void An_Add_kept_float_gets_its_Relu_back()
    {
        var optimized = Optimized(Model("Relu"));
        string addName = optimized.Nodes.Single(n => n.OpType == "Add").Name;
        var q = Quantize(optimized, new QuantizerOptions { KeepFloat = new[] { addName } });
        var ops = Ops(q.Graph).Split(' ').ToList();
        Assert.DoesNotContain("QLinearAdd", ops.Select(o => o.Split('+')[0]));
        int add = ops.IndexOf("Add");
        Assert.True(add >= 0 && ops[add + 1] == "Relu", string.Join(" ", ops));
        var layer = q.Report.Layers.Single(l => l.OpType == "Add");
        Assert.False(layer.Quantized);
        Assert.Equal("KeepFloat", layer.KeptFloatReason);
        // Same function as the float model, up to the int8 convolutions around it.
        foreach (var s in Samples(70, 2))
            Assert.True(SqnrDb(optimized, q.Graph, new[] { s }) > 25);
    }

    [Fact]
    public void Convolutions_read_only_by_a_Concat_requantize_onto_its_grid()
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 8, 12, 12)
            .Initializer("w1", OnnxModelBuilder.Random(1, -0.3f, 0.3f, 16, 8, 3, 3))
            .Initializer("w2", OnnxModelBuilder.Random(3, -0.1f, 0.1f, 8, 8, 1, 1))
            .Initializer("w3", OnnxModelBuilder.Random(4, -0.3f, 0.3f, 16, 24, 1, 1))
            .Node("Conv", new[] { "x", "w1" }, new[] { "c1" }, ("pads", new long[] { 1, 1, 1, 1 }))
            .Node("Conv", new[] { "x", "w2" }, new[] { "c2" })
            .Node("Concat", new[] { "c1", "c2" }, new[] { "cat" }, ("axis", 1L))
            .Node("Conv", new[] { "cat", "w3" }, new[] { "y" })
            .Output("y");
        var optimized = Optimized(Save(b, "qc-concat-"));
        var q = Quantize(optimized);
        Assert.Equal("QuantizeLinear QLinearConv QLinearConv QLinearConcat ConvInteger DynamicDequantize", Ops(q.Graph));
        var concat = q.Report.Layers.Single(l => l.OpType == "Concat");
        foreach (var conv in q.Report.Layers.Where(l => l.OpType == "Conv").Take(2))
            Assert.Equal((concat.OutputScale, concat.OutputZeroPoint), (conv.OutputScale, conv.OutputZeroPoint));
        // Equal parameters: the lowering copies bytes (no lookup table).
        var lowered = Lowering.Lowerer.Lower(q.Graph);
        var calls = lowered.Layers.SelectMany(l => l.Calls).Select(c => c.Target).ToList();
        Assert.DoesNotContain("QLookup.Rows", calls);
        Assert.Contains("Strided.CopyRows<byte>", calls);
        double sqnr = SqnrDb(optimized, q.Graph, Samples(50, 4));
        Assert.True(sqnr > 25, $"SQNR {sqnr:F1} dB");
    }

    [Fact]
    public void The_compiled_QLinearAdd_with_Relu_matches_the_integer_reference()
    {
        var r = CompileInt8(Model("Relu"), "AddRelu", "qc-addact-calib-");
        var add = Assert.Single(r.Graph!.Nodes, n => n.OpType == "QLinearAdd");
        Assert.Equal("Relu", add.Activation?.Op);
        var plan = PlanText.Read(r.PlanText!);
        Assert.Contains(plan.Layers, l => l.Calls.Any(c => c.Target == "QLinearBinary.Add"));
        AssertCompiledMatchesReference(r, plan);
    }
}
