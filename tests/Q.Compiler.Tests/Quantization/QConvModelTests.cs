using Onnx;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Layout;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QLinearConv and ConvInteger through the whole pipeline and the real emitter: the generated code (x at run time, the
/// rest initializers) against the op's Evaluate (everything an initializer, so import folds the node), bit for bit.
/// </summary>
public class QConvModelTests
{
    private static Tensor U8(Shape s, Random rng) => new(DataType.UInt8, s, Enumerable.Range(0, s.ElementCount).Select(_ => (byte)rng.Next(256)).ToArray());
    private static Tensor U8(params byte[] v) => new(DataType.UInt8, new Shape(v.Length == 1 ? Array.Empty<int>() : new[] { v.Length }), v);
    private static Tensor I8(Shape s, Random rng, int lo = -127) => new(DataType.Int8, s, Enumerable.Range(0, s.ElementCount).Select(_ => (sbyte)rng.Next(lo, 128)).ToArray());
    private static Tensor I8(params sbyte[] v) => new(DataType.Int8, new Shape(v.Length == 1 ? Array.Empty<int>() : new[] { v.Length }), v);
    private static Tensor F(params float[] v) => Tensor.FromFloats(new Shape(v.Length == 1 ? Array.Empty<int>() : new[] { v.Length }), v);
    private static Tensor I32(params int[] v) => new(DataType.Int32, new Shape(v.Length), v);
    private static NodeInput K(Tensor t) => new(t, Constant: true);

    /// <summary>QLinearConv inputs: x at run time, every parameter an initializer.</summary>
    private static NodeInput?[] QLinear(Tensor x, float xs, Tensor xz, Tensor w, Tensor ws, Tensor wz, float ys, Tensor yz, int[]? bias) =>
        new NodeInput?[] { x, K(F(xs)), K(xz), K(w), K(ws), K(wz), K(F(ys)), K(yz), bias is null ? null : K(I32(bias)) };

    [Fact]
    public void QLinearConv_first_layer_3x3_stride_2_per_channel_int8_weights()
    {
        var rng = new Random(1);
        var ws = F(Enumerable.Range(0, 8).Select(i => 0.002f + 0.001f * i).ToArray());
        var inputs = QLinear(U8(new Shape(1, 3, 19, 18), rng), 0.02f, U8(121), I8(new Shape(8, 3, 3, 3), rng), ws, I8(new sbyte[8]),
            0.05f, U8(7), Enumerable.Range(0, 8).Select(i => rng.Next(-3000, 3000)).ToArray());
        var y = AssertKernelMatchesReference("QLinearConv", inputs, new[] { DataType.UInt8 }, 10,
            Attr("strides", 2, 2), Attr("pads", 1, 1, 0, 1), Attr("kernel_shape", 3, 3));
        Assert.Equal(new Shape(1, 8, 9, 9), y[0].Shape);
        Assert.True(((byte[])y[0].Data).Distinct().Count() > 20, "a degenerate test: the output is nearly constant");
    }

    [Fact]
    public void QLinearConv_depthwise_with_uint8_weights_and_a_multiplier_above_one()
    {
        var rng = new Random(2);
        // Per-tensor weight scale; s_x·s_w/s_y = 0.05·0.01/0.0004 = 1.25 > 1 (saturating).
        // Values near their zero points keep most accumulators small enough not to saturate.
        Tensor Near(Shape s, int center, int spread) =>
            new(DataType.UInt8, s, Enumerable.Range(0, s.ElementCount).Select(_ => (byte)(center + rng.Next(-spread, spread + 1))).ToArray());
        var inputs = QLinear(Near(new Shape(1, 16, 11, 20), 100, 6), 0.05f, U8(100), Near(new Shape(16, 1, 3, 3), 131, 6), F(0.01f), U8(131),
            0.0004f, U8(128), Enumerable.Range(0, 16).Select(i => rng.Next(-20, 20)).ToArray());
        var y = AssertKernelMatchesReference("QLinearConv", inputs, new[] { DataType.UInt8 }, 10,
            Attr("group", 16L), Attr("pads", 1, 1, 1, 1), Attr("strides", 2, 1));
        var v = (byte[])y[0].Data;
        Assert.Contains((byte)0, v);
        Assert.Contains((byte)255, v);
        Assert.True(v.Distinct().Count() > 20, "M > 1 should saturate some outputs, not all");
    }

    [Fact]
    public void QLinearConv_pointwise_grouped_and_1d()
    {
        var rng = new Random(3);
        var pw = QLinear(U8(new Shape(1, 24, 9, 13), rng), 0.03f, U8(0), I8(new Shape(40, 24, 1, 1), rng, -128),
            F(Enumerable.Range(0, 40).Select(i => i % 5 == 0 ? 0.2f : 0.003f).ToArray()), I8(Enumerable.Range(0, 40).Select(i => (sbyte)(i % 3 - 1)).ToArray()),
            0.08f, U8(30), null);
        AssertKernelMatchesReference("QLinearConv", pw, new[] { DataType.UInt8 }, 10);

        var grouped = QLinear(U8(new Shape(2, 8, 10, 10), rng), 0.03f, U8(255), I8(new Shape(12, 2, 3, 3), rng), F(0.004f), I8(0),
            0.02f, U8(128), Enumerable.Range(0, 12).Select(i => rng.Next(-500, 500)).ToArray());
        AssertKernelMatchesReference("QLinearConv", grouped, new[] { DataType.UInt8 }, 10,
            Attr("group", 4L), Attr("dilations", 2, 2), Attr("auto_pad", "SAME_UPPER"));

        var oneD = QLinear(U8(new Shape(1, 6, 37), rng), 0.1f, U8(3), I8(new Shape(5, 6, 4), rng), F(0.01f, 0.02f, 0.03f, 0.04f, 0.05f),
            I8(0, 0, 0, 0, 0), 0.5f, U8(200), null);
        AssertKernelMatchesReference("QLinearConv", oneD, new[] { DataType.UInt8 }, 10, Attr("strides", 3L), Attr("pads", 2, 1));
    }

    [Fact]
    public void ConvInteger_with_and_without_zero_points()
    {
        var rng = new Random(4);
        var withZp = new NodeInput?[]
        {
            U8(new Shape(1, 4, 12, 9), rng), K(U8(new Shape(6, 4, 3, 3), rng)), K(U8(99)), K(U8(new byte[] { 0, 128, 255, 1, 77, 128 })),
        };
        var y = AssertKernelMatchesReference("ConvInteger", withZp, new[] { DataType.Int32 }, 10, Attr("pads", 1, 1, 1, 1));
        Assert.Equal(DataType.Int32, y[0].ElementType);
        var plain = new NodeInput?[] { U8(new Shape(2, 3, 5, 6), rng), K(I8(new Shape(4, 3, 2, 2), rng, -128)) };
        AssertKernelMatchesReference("ConvInteger", plain, new[] { DataType.Int32 }, 10, Attr("strides", 1, 2));
        var depthwise = new NodeInput?[] { U8(new Shape(1, 5, 7, 7), rng), K(I8(new Shape(5, 1, 3, 3), rng)), K(U8(128)) };
        AssertKernelMatchesReference("ConvInteger", depthwise, new[] { DataType.Int32 }, 10, Attr("group", 5L));
    }

    /// <summary>
    /// ONNX's own node tests feed the weights as graph inputs (the conformance suite refuses them, QC2008); here they
    /// become initializers from the test data, and the generated code must reproduce ONNX's reference output exactly.
    /// </summary>
    [SharedTheory]
    [InlineData("test_qlinearconv")]
    [InlineData("test_convinteger_with_padding")]
    [InlineData("test_convinteger_without_padding")]
    public void Onnx_node_tests_with_their_weights_as_initializers(string name)
    {
        string dir = Path.Combine(SharedData.Root, "onnx-backend", "node", name);
        var model = OnnxBuilder.Load(Path.Combine(dir, "model.onnx"));
        var inputs = TestData.Inputs(Path.Combine(dir, "test_data_set_0"));
        for (int i = model.Graph.Input.Count - 1; i >= 1; i--)
        {
            var proto = ToProto(model.Graph.Input[i].Name, inputs[i]);
            model.Graph.Initializer.Add(proto);
            model.Graph.Input.RemoveAt(i);
        }
        using var tmp = new TempDir();
        var (asm, _) = CompiledModels.CompileModel(OnnxBuilder.Save(model, tmp.Path));
        var actual = asm.Create().Run(inputs[0]);
        var expected = TestData.Outputs(Path.Combine(dir, "test_data_set_0"));
        AssertSame(expected[0], actual[0]);
    }

    private static CompileResult CompileOneNode(string op, NodeInput?[] inputs, DataType output, params AttributeProto[] attributes)
    {
        string path = Write(op, inputs, new[] { output }, 10, allConstant: false, attributes);
        try { return ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", Namespace = "T" }); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Refusals_name_the_reason()
    {
        var rng = new Random(5);
        // int8 activations with constant zero points are converted to uint8 before lowering (Int8ActivationsToUInt8Pass),
        // so they compile; QC2010 is left for a graph that reaches lowering with int8 anyway.
        var int8 = QLinear(I8(new Shape(1, 2, 4, 4), rng), 0.1f, I8(0), I8(new Shape(3, 2, 1, 1), rng), F(0.1f), I8(0), 0.1f, I8(0), null);
        var r = CompileOneNode("QLinearConv", int8, DataType.Int8);
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        // Weights at run time.
        var weightsIn = QLinear(U8(new Shape(1, 2, 4, 4), rng), 0.1f, U8(0), I8(new Shape(3, 2, 1, 1), rng), F(0.1f), I8(0), 0.1f, U8(0), null);
        weightsIn[3] = new NodeInput(weightsIn[3]!.Value);
        r = CompileOneNode("QLinearConv", weightsIn, DataType.UInt8);
        Assert.Contains(r.Diagnostics, d => d.Id == DiagnosticIds.NotConstant && d.Message.Contains("input 3 (w)", StringComparison.Ordinal));
        // A zero weight scale.
        var zeroScale = QLinear(U8(new Shape(1, 2, 4, 4), rng), 0.1f, U8(0), I8(new Shape(3, 2, 1, 1), rng), F(0.1f, 0f, 0.1f), I8(0, 0, 0), 0.1f, U8(0), null);
        r = CompileOneNode("QLinearConv", zeroScale, DataType.UInt8);
        Assert.Contains(r.Diagnostics, d => d.Id == DiagnosticIds.QuantMultiplierOutOfRange && d.Message.Contains("output channel 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Fused_relu_and_clip_become_the_clamp_bounds()
    {
        var node = new Node("c", "QLinearConv", "", new[] { "x" }, new[] { "y" });
        var ctx = new OpContext(node, Array.Empty<TensorType?>(), Array.Empty<Tensor?>(), 10);
        Assert.Equal((0, 255), QuantizedClamp.Bounds(ctx, null, 0.1f, 20, DataType.UInt8));
        Assert.Equal((20, 255), QuantizedClamp.Bounds(ctx, new FusedActivation("Relu"), 0.1f, 20, DataType.UInt8));
        // Clip(0, 6) with scale 0.05, zp 10: lo = 10, hi = 10 + 120 = 130.
        Assert.Equal((10, 130), QuantizedClamp.Bounds(ctx, new FusedActivation("Clip", 0f, 6f), 0.05f, 10, DataType.UInt8));
        // Bounds outside the type's range saturate to it; int8 output range.
        Assert.Equal((-128, 127), QuantizedClamp.Bounds(ctx, new FusedActivation("Clip", -100f, 100f), 0.1f, 0, DataType.Int8));
        Assert.Equal((0, 127), QuantizedClamp.Bounds(ctx, new FusedActivation("Relu"), 0.1f, 0, DataType.Int8));
        var e = Assert.Throws<QcException>(() => QuantizedClamp.Bounds(ctx, new FusedActivation("Sigmoid"), 0.1f, 0, DataType.UInt8));
        Assert.Equal(DiagnosticIds.UnsupportedAttribute, e.Diagnostic.Id);
    }
}
