using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Passes;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QdqFusionPass and Int8ActivationsToUInt8Pass on small graphs: each pattern fuses, and the near misses (different
/// parameters, a value read twice, mixed types, a Relu the Q does not clamp for a unary op) do not.
/// </summary>
public sealed class QdqPassTests
{
    private static Tensor U8(int v) => Tensor.FromLongs(DataType.UInt8, Shape.Scalar, new long[] { v });
    private static Tensor I8(int v) => Tensor.FromLongs(DataType.Int8, Shape.Scalar, new long[] { v });
    private static Tensor I8s(int seed, params int[] dims)
    {
        var r = new Random(seed);
        int n = dims.Aggregate(1, (a, b) => a * b);
        return Tensor.FromLongs(DataType.Int8, new Shape(dims), Enumerable.Range(0, n).Select(_ => (long)r.Next(-127, 128)).ToArray());
    }

    /// <summary>Imports the model as the compiler does (DQ of constants kept) and runs the pass pipeline.</summary>
    private static Graph Optimize(OnnxModelBuilder b)
    {
        using var dir = new TempDir();
        var g = Import(b, dir);
        return PassPipeline.Optimize(g, new DiagnosticBag());
    }

    private static Graph Import(OnnxModelBuilder b, TempDir dir)
    {
        var m = Q.Compiler.Onnx.OnnxReader.ReadFile(b.Save(dir.File("m.onnx")));
        return GraphImporter.Import(m, new Dictionary<string, int[]>(), new DiagnosticBag());
    }

    private static string Ops(Graph g) => string.Join(" ", g.Nodes.Select(n => n.OpType));

    /// <summary>x (float) → Q(u8, s 0.05, zp) → DQ → Conv(DQ w, DQ int32 bias) → act → Q(u8, s 0.1, yzp) → DQ → y.</summary>
    private static OnnxModelBuilder ConvGroup(int yZeroPoint, string? act, float clipLo = 0, float clipHi = 6, int opset = 13)
    {
        var b = new OnnxModelBuilder(opset).Input("x", DataType.Float, 1, 2, 5, 5).Output("y")
            .Initializer("xs", Tensor.Scalar(0.05f)).Initializer("xz", U8(128))
            .Initializer("ys", Tensor.Scalar(0.1f)).Initializer("yz", U8(yZeroPoint))
            .Initializer("wq", I8s(1, 3, 2, 3, 3)).Initializer("ws", Tensor.FromFloats(new Shape(3), new[] { 0.01f, 0.02f, 0.03f }))
            .Initializer("wz", Tensor.FromLongs(DataType.Int8, new Shape(3), new long[3]))
            .Initializer("bq", Tensor.FromLongs(DataType.Int32, new Shape(3), new long[] { 100, -200, 300 }))
            .Initializer("bs", Tensor.FromFloats(new Shape(3), new[] { 0.05f * 0.01f, 0.05f * 0.02f, 0.05f * 0.03f }))
            .Initializer("bz", Tensor.FromLongs(DataType.Int32, new Shape(3), new long[3]))
            .Node("QuantizeLinear", new[] { "x", "xs", "xz" }, new[] { "xq" })
            .Node("DequantizeLinear", new[] { "xq", "xs", "xz" }, new[] { "xf" })
            .Node("DequantizeLinear", new[] { "wq", "ws", "wz" }, new[] { "wf" }, ("axis", 0))
            .Node("DequantizeLinear", new[] { "bq", "bs", "bz" }, new[] { "bf" }, ("axis", 0))
            .Node("Conv", new[] { "xf", "wf", "bf" }, new[] { "c" }, ("pads", new[] { 1, 1, 1, 1 }));
        string pre = "c";
        if (act == "Relu") { b.Node("Relu", new[] { "c" }, new[] { "r" }); pre = "r"; }
        if (act == "Clip")
        {
            b.Initializer("lo", Tensor.Scalar(clipLo)).Initializer("hi", Tensor.Scalar(clipHi))
                .Node("Clip", new[] { "c", "lo", "hi" }, new[] { "r" });
            pre = "r";
        }
        return b.Node("QuantizeLinear", new[] { pre, "ys", "yz" }, new[] { "yq" })
            .Node("DequantizeLinear", new[] { "yq", "ys", "yz" }, new[] { "y" });
    }

    [Fact]
    public void Conv_group_becomes_QLinearConv_with_the_int32_bias_as_is()
    {
        var g = Optimize(ConvGroup(128, null));
        Assert.Equal("QuantizeLinear QLinearConv DequantizeLinear", Ops(g));
        var conv = g.Nodes[1];
        Assert.Equal(9, conv.Inputs.Count);
        Assert.Equal(new long[] { 100, -200, 300 }, g.Constants[conv.Inputs[8]].ToLongs());
        Assert.Equal(DataType.Int8, g.Constants[conv.Inputs[3]].ElementType);
        Assert.Equal(new long[] { 1, 1, 1, 1 }, conv.Attributes["pads"].Ints);
        Assert.Null(conv.Activation);
    }

    [Fact]
    public void Relu_is_dropped_when_the_zero_point_is_the_minimum_and_fused_otherwise()
    {
        var dropped = Optimize(ConvGroup(0, "Relu"));
        Assert.Equal("QuantizeLinear QLinearConv DequantizeLinear", Ops(dropped));
        Assert.Null(dropped.Nodes[1].Activation);

        var fused = Optimize(ConvGroup(100, "Relu"));
        Assert.Equal("QuantizeLinear QLinearConv DequantizeLinear", Ops(fused));
        Assert.Equal("Relu", fused.Nodes[1].Activation!.Op);
        Assert.Contains("Relu_5", fused.Nodes[1].SourceNodes);
    }

    [Fact]
    public void Clip_is_dropped_only_when_the_Q_range_is_inside_it()
    {
        // y: scale 0.1, zp 0 → [0, 25.5]; Clip(0, 30) changes nothing, Clip(0, 6) clamps at q = 60.
        Assert.Null(Optimize(ConvGroup(0, "Clip", 0, 30)).Nodes[1].Activation);
        var act = Optimize(ConvGroup(0, "Clip", 0, 6)).Nodes[1].Activation!;
        Assert.Equal(("Clip", 0f, 6f), (act.Op, act.Alpha, act.Beta));
    }

    [Fact]
    public void Float_bias_and_mismatched_bias_scale_are_requantized_to_the_accumulator_scale()
    {
        var b = ConvGroup(128, null);
        var g0 = Optimize(b);
        // Same model with the bias scale doubled: the int32 values must double to keep the real bias.
        var b2 = ConvGroup(128, null).Initializer("bs2", Tensor.FromFloats(new Shape(3), new[] { 0.001f, 0.002f, 0.003f }));
        using var dir = new TempDir();
        var g = Import(b2, dir);
        var dq = g.Nodes.Single(n => n.Outputs[0] == "bf");
        g = g.WithNodes(g.Nodes.Select(n => n == dq ? n.WithInputs(new[] { "bq", "bs2", "bz" }) : n).ToList());
        g = PassPipeline.Optimize(g, new DiagnosticBag());
        Assert.Equal(new long[] { 200, -400, 600 }, g.Constants[g.Nodes[1].Inputs[8]].ToLongs());
        Assert.NotEqual(g0.Nodes[1].Inputs[8], g.Nodes[1].Inputs[8]);
    }

    [Fact]
    public void Conv_whose_float_output_is_read_twice_is_not_fused()
    {
        var g = Optimize(ConvGroup(128, null).Output("c"));
        Assert.Contains("Conv", Ops(g).Split(' '));
        Assert.DoesNotContain("QLinearConv", Ops(g).Split(' '));
        // The weights' DQ was folded into a float constant for the float Conv.
        var conv = g.Nodes.Single(n => n.OpType == "Conv");
        Assert.Equal(DataType.Float, g.Constants[conv.Inputs[1]].ElementType);
    }

    /// <summary>Q → DQ → op → Q → DQ with the op's own parameters on each side.</summary>
    private static OnnxModelBuilder Unary(string op, float outScale, int outZp, DataType type = DataType.UInt8, params (string, object)[] attrs)
    {
        Tensor Zp(int v) => type == DataType.UInt8 ? U8(v) : I8(v);
        return new OnnxModelBuilder(13).Input("x", DataType.Float, 1, 2, 4, 4).Output("y")
            .Initializer("s", Tensor.Scalar(0.05f)).Initializer("z", Zp(type == DataType.UInt8 ? 10 : -3))
            .Initializer("s2", Tensor.Scalar(outScale)).Initializer("z2", Zp(outZp))
            .Node("QuantizeLinear", new[] { "x", "s", "z" }, new[] { "xq" })
            .Node("DequantizeLinear", new[] { "xq", "s", "z" }, new[] { "xf" })
            .Node(op, new[] { "xf" }, new[] { "o" }, attrs)
            .Node("QuantizeLinear", new[] { "o", "s2", "z2" }, new[] { "oq" })
            .Node("DequantizeLinear", new[] { "oq", "s2", "z2" }, new[] { "y" });
    }

    [Fact]
    public void MaxPool_runs_on_the_quantized_tensor_only_when_DQ_and_Q_parameters_are_identical()
    {
        var same = Optimize(Unary("MaxPool", 0.05f, 10, attrs: ("kernel_shape", new[] { 2, 2 })));
        Assert.Equal("QuantizeLinear MaxPool DequantizeLinear", Ops(same));
        Assert.Equal(DataType.UInt8, same.TypeOf(same.Nodes[1].Outputs[0]).ElementType);

        var differentScale = Optimize(Unary("MaxPool", 0.06f, 10, attrs: ("kernel_shape", new[] { 2, 2 })));
        Assert.Equal("QuantizeLinear DequantizeLinear MaxPool QuantizeLinear DequantizeLinear", Ops(differentScale));
        var differentZp = Optimize(Unary("MaxPool", 0.05f, 11, attrs: ("kernel_shape", new[] { 2, 2 })));
        Assert.Equal("QuantizeLinear DequantizeLinear MaxPool QuantizeLinear DequantizeLinear", Ops(differentZp));
    }

    [Theory]
    [InlineData("AveragePool", "QLinearAveragePool")]
    [InlineData("GlobalAveragePool", "QLinearGlobalAveragePool")]
    [InlineData("Softmax", "QLinearSoftmax")]
    public void Unary_groups_become_com_microsoft_ops(string op, string qop)
    {
        var attrs = op == "AveragePool" ? new (string, object)[] { ("kernel_shape", new[] { 2, 2 }) } : Array.Empty<(string, object)>();
        var g = Optimize(Unary(op, 0.07f, 3, DataType.UInt8, attrs));
        Assert.Equal($"QuantizeLinear {qop} DequantizeLinear", Ops(g));
        Assert.Equal("com.microsoft", g.Nodes[1].Domain);
        Assert.Equal(5, g.Nodes[1].Inputs.Count);
        if (op == "Softmax") Assert.Equal((-1L, 13L), (g.Nodes[1].Attributes["axis"].I, g.Nodes[1].Attributes["opset"].I));
        if (op != "Softmax") Assert.Equal(0, g.Nodes[1].Attributes["channels_last"].I);
    }

    [Fact]
    public void Int8_groups_run_as_uint8_with_shifted_zero_points()
    {
        var g = Optimize(Unary("AveragePool", 0.07f, -5, DataType.Int8, ("kernel_shape", new[] { 2, 2 })));
        Assert.Equal("QuantizeLinear QLinearAveragePool DequantizeLinear", Ops(g));
        var pool = g.Nodes[1];
        Assert.Equal(DataType.UInt8, g.TypeOf(pool.Inputs[0]).ElementType);
        Assert.Equal(DataType.UInt8, g.TypeOf(pool.Outputs[0]).ElementType);
        Assert.Equal(new long[] { 125 }, g.Constants[pool.Inputs[2]].ToLongs());   // −3 + 128
        Assert.Equal(new long[] { 123 }, g.Constants[pool.Inputs[4]].ToLongs());   // −5 + 128
        Assert.Equal(pool.Inputs[2], g.Nodes[0].Inputs[2]);                        // the input Q writes uint8 with the same zero point
        Assert.Equal(pool.Inputs[4], g.Nodes[2].Inputs[2]);
    }

    [Fact]
    public void Binary_groups_fuse_only_with_one_element_type()
    {
        OnnxModelBuilder Binary(string op, DataType bType)
        {
            Tensor Zp(DataType t, int v) => t == DataType.UInt8 ? U8(v) : I8(v);
            return new OnnxModelBuilder(13).Input("a", DataType.Float, 1, 4).Input("b", DataType.Float, 1, 4).Output("y")
                .Initializer("s", Tensor.Scalar(0.05f)).Initializer("za", U8(7)).Initializer("zb", Zp(bType, 5)).Initializer("zy", U8(9))
                .Node("QuantizeLinear", new[] { "a", "s", "za" }, new[] { "aq" })
                .Node("QuantizeLinear", new[] { "b", "s", "zb" }, new[] { "bq" })
                .Node("DequantizeLinear", new[] { "aq", "s", "za" }, new[] { "af" })
                .Node("DequantizeLinear", new[] { "bq", "s", "zb" }, new[] { "bf" })
                .Node(op, new[] { "af", "bf" }, new[] { "o" })
                .Node("QuantizeLinear", new[] { "o", "s", "zy" }, new[] { "oq" })
                .Node("DequantizeLinear", new[] { "oq", "s", "zy" }, new[] { "y" });
        }
        var add = Optimize(Binary("Add", DataType.UInt8));
        Assert.Equal("QuantizeLinear QuantizeLinear QLinearAdd DequantizeLinear", Ops(add));
        Assert.Equal("QLinearMul", Optimize(Binary("Mul", DataType.UInt8)).Nodes[2].OpType);
        // Mixed u8/s8 inputs: left as float between DQ and Q (the quantized add needs one type).
        Assert.Contains("Add", Ops(Optimize(Binary("Add", DataType.Int8))).Split(' '));
    }

    [Fact]
    public void MatMul_group_with_per_column_weights_becomes_QLinearMatMul()
    {
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, 2, 3).Output("y")
            .Initializer("s", Tensor.Scalar(0.05f)).Initializer("z", U8(128)).Initializer("sy", Tensor.Scalar(0.2f)).Initializer("zy", U8(120))
            .Initializer("wq", I8s(2, 3, 4)).Initializer("ws", Tensor.FromFloats(new Shape(4), new[] { 0.01f, 0.02f, 0.03f, 0.04f }))
            .Initializer("wz", Tensor.FromLongs(DataType.Int8, new Shape(4), new long[4]))
            .Node("QuantizeLinear", new[] { "x", "s", "z" }, new[] { "xq" })
            .Node("DequantizeLinear", new[] { "xq", "s", "z" }, new[] { "xf" })
            .Node("DequantizeLinear", new[] { "wq", "ws", "wz" }, new[] { "wf" }, ("axis", 1))
            .Node("MatMul", new[] { "xf", "wf" }, new[] { "m" })
            .Node("QuantizeLinear", new[] { "m", "sy", "zy" }, new[] { "mq" })
            .Node("DequantizeLinear", new[] { "mq", "sy", "zy" }, new[] { "y" });
        var g = Optimize(b);
        Assert.Equal("QuantizeLinear QLinearMatMul DequantizeLinear", Ops(g));
        Assert.Equal(4, g.Constants[g.Nodes[1].Inputs[4]].Length);
    }

    [Fact]
    public void Concat_group_becomes_QLinearConcat()
    {
        var b = new OnnxModelBuilder(13).Input("a", DataType.Float, 1, 2).Input("b", DataType.Float, 1, 3).Output("y")
            .Initializer("s", Tensor.Scalar(0.05f)).Initializer("s2", Tensor.Scalar(0.04f)).Initializer("z", U8(128))
            .Node("QuantizeLinear", new[] { "a", "s", "z" }, new[] { "aq" })
            .Node("QuantizeLinear", new[] { "b", "s2", "z" }, new[] { "bq" })
            .Node("DequantizeLinear", new[] { "aq", "s", "z" }, new[] { "af" })
            .Node("DequantizeLinear", new[] { "bq", "s2", "z" }, new[] { "bf" })
            .Node("Concat", new[] { "af", "bf" }, new[] { "c" }, ("axis", 1))
            .Node("QuantizeLinear", new[] { "c", "s", "z" }, new[] { "cq" })
            .Node("DequantizeLinear", new[] { "cq", "s", "z" }, new[] { "y" });
        var g = Optimize(b);
        Assert.Equal("QuantizeLinear QuantizeLinear QLinearConcat DequantizeLinear", Ops(g));
        Assert.Equal(new[] { "s", "z", "aq", "s", "z", "bq", "s2", "z" }, g.Nodes[2].Inputs);
    }

    [Fact]
    public void Dequantize_then_quantize_with_the_same_parameters_cancels()
    {
        // Q → DQ → Q(same) → DQ(other) → y: the middle DQ → Q pair is the identity on q.
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, 1, 4).Output("y")
            .Initializer("s", Tensor.Scalar(0.05f)).Initializer("z", U8(128))
            .Node("QuantizeLinear", new[] { "x", "s", "z" }, new[] { "q1" })
            .Node("DequantizeLinear", new[] { "q1", "s", "z" }, new[] { "f1" })
            .Node("QuantizeLinear", new[] { "f1", "s", "z" }, new[] { "q2" })
            .Node("DequantizeLinear", new[] { "q2", "s", "z" }, new[] { "y" });
        var g = Optimize(b);
        Assert.Equal("QuantizeLinear DequantizeLinear", Ops(g));
        Assert.Equal("q1", g.Nodes[1].Inputs[0]);
    }

    [Fact]
    public void Int8_graph_input_and_output_keep_their_type_through_conversions()
    {
        var b = new OnnxModelBuilder(13).Input("x", DataType.Int8, 1, 1, 4, 4).Output("y", DataType.Int8)
            .Node("Transpose", new[] { "x" }, new[] { "y" }, ("perm", new[] { 0, 1, 3, 2 }));
        // A QDQ-free int8 graph is not "quantized": make it one with a Q/DQ pair on a side branch.
        b.Output("f").Initializer("s", Tensor.Scalar(0.5f)).Initializer("z", I8(-4))
            .Node("DequantizeLinear", new[] { "y", "s", "z" }, new[] { "f" });
        using var dir = new TempDir();
        var before = Import(b, dir);
        var g = PassPipeline.Optimize(before, new DiagnosticBag());
        Assert.Equal(DataType.Int8, g.Inputs[0].Type.ElementType);
        Assert.Equal(DataType.Int8, g.TypeOf("y").ElementType);
        var pool = g.Nodes.Single(n => n.OpType == "Transpose");
        Assert.Equal(DataType.UInt8, g.TypeOf(pool.Inputs[0]).ElementType);
        Assert.Equal(DataType.UInt8, g.TypeOf(pool.Outputs[0]).ElementType);
        var dq = g.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Outputs[0] == "f");
        Assert.Equal(new long[] { 124 }, g.Constants[dq.Inputs[2]].ToLongs());

        // Same results: interpret both graphs with the reference implementations.
        var x = Tensor.FromLongs(DataType.Int8, new Shape(1, 1, 4, 4), Enumerable.Range(0, 16).Select(i => (long)(i * 17 % 256 - 128)).ToArray());
        var r0 = Interpret(before, x);
        var r1 = Interpret(g, x);
        Assert.Equal(r0["y"].ToLongs(), r1["y"].ToLongs());
        Assert.Equal(DataType.Int8, r1["y"].ElementType);
        Assert.Equal(r0["f"].ToDoubles(), r1["f"].ToDoubles());
    }

    /// <summary>
    /// An int8 zero point computed at run time cannot be shifted to uint8 at build time: the pass then leaves the whole
    /// graph as it is (no diagnostic of its own). Quantize/dequantize still compile on int8; a kernel that needs uint8
    /// (here a QLinearConv whose own parameters are all constant) reports QC2010.
    /// </summary>
    [Fact]
    public void Runtime_int8_zero_point_leaves_the_graph_int8_and_a_uint8_kernel_reports_QC2010()
    {
        OnnxModelBuilder SideBranch() => new OnnxModelBuilder(13).Input("x", DataType.Float, 1, 2, 4, 4).Input("zp", DataType.Int8)
            .Output("f").Initializer("s", Tensor.Scalar(0.05f))
            .Node("QuantizeLinear", new[] { "x", "s", "zp" }, new[] { "q2" })
            .Node("DequantizeLinear", new[] { "q2", "s", "zp" }, new[] { "f" });
        using var dir = new TempDir();

        var before = Import(SideBranch(), dir);
        Assert.Same(before, Int8ActivationsToUInt8Pass.Run(before));
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = SideBranch().Save(dir.File("side.onnx")), ClassName = "M", Namespace = "T" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));

        var withConv = SideBranch().Output("y")
            .Initializer("zc", I8(-3)).Initializer("w", I8s(2, 3, 2, 1, 1)).Initializer("ws", Tensor.Scalar(0.02f))
            .Initializer("wz", I8(0)).Initializer("ys", Tensor.Scalar(0.1f)).Initializer("yz", I8(4))
            .Node("QuantizeLinear", new[] { "x", "s", "zc" }, new[] { "xq" })
            .Node("QLinearConv", new[] { "xq", "s", "zc", "w", "ws", "wz", "ys", "yz" }, new[] { "yq" })
            .Node("DequantizeLinear", new[] { "yq", "ys", "yz" }, new[] { "y" });
        r = ModelCompiler.Compile(new CompileOptions { ModelPath = withConv.Save(dir.File("conv.onnx")), ClassName = "M", Namespace = "T" });
        Assert.False(r.Success);
        var error = Assert.Single(r.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal(DiagnosticIds.QuantInt8Activation, error.Id);
        Assert.Contains("QLinearConv", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Runs a graph with the ops' reference implementations.</summary>
    internal static Dictionary<string, Tensor> Interpret(Graph g, params Tensor[] inputs)
    {
        var values = new Dictionary<string, Tensor>(g.Constants, StringComparer.Ordinal);
        for (int i = 0; i < inputs.Length; i++) values[g.Inputs[i].Name] = inputs[i];
        foreach (var n in g.Nodes)
        {
            var def = OpRegistry.Find(n.Domain, n.OpType) ?? throw new InvalidOperationException("no op " + n.OpType);
            var ins = n.Inputs.Select(i => i.Length == 0 ? null : values[i]).ToArray();
            var ctx = new OpContext(n, n.Inputs.Select(i => i.Length == 0 ? null : g.TypeOf(i)).ToArray(), ins, g.Info.Opsets.TryGetValue(n.Domain, out var v) ? v : 1);
            var outs = def.Evaluate(ctx, ins);
            for (int o = 0; o < n.Outputs.Count; o++) if (n.Outputs[o].Length > 0) values[n.Outputs[o]] = outs[o];
        }
        return values;
    }
}
