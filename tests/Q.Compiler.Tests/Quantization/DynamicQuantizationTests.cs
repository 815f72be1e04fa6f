using Q.Compiler.Diagnostics;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QDynamic;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Quantize="Dynamic" on small generated models: the rewrite (graph shape, per-channel weights, shared
/// DynamicQuantizeLinear, which layers stay float), the generated code against the ops' reference (bit-exact: the integer
/// ops and the float epilogue are both exact by construction), and the accuracy against the float model.
/// </summary>
public sealed class DynamicQuantizationTests
{
    private static CompileResult Compile(OnnxModelBuilder b, string name, IReadOnlyList<string>? keepFloat = null)
    {
        string path = Path.Combine(Path.GetTempPath(), "qc-dyn-" + name + "-" + Guid.NewGuid().ToString("N") + ".onnx");
        b.Save(path);
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = path, ClassName = name, Namespace = "UnitTests", Quantize = QuantizeMode.Dynamic, KeepFloat = keepFloat ?? Array.Empty<string>(),
            });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            return r;
        }
        finally { File.Delete(path); }
    }

    private static ModelInstance Load(CompileResult r)
    {
        var plan = PlanText.Read(r.PlanText!);
        return CompiledModels.Compile(new[] { plan }).Create(plan);
    }

    private static OnnxModelBuilder MatMulAddRelu(int m, int k, int n, int seed) => new OnnxModelBuilder()
        .Input("x", DataType.Float, m, k)
        .Initializer("w", OnnxModelBuilder.Random(seed, -1, 1, k, n))
        .Initializer("b", OnnxModelBuilder.Random(seed + 1, -0.5f, 0.5f, n))
        .Node("MatMul", new[] { "x", "w" }, new[] { "xw" })
        .Node("Add", new[] { "xw", "b" }, new[] { "s" })
        .Node("Relu", new[] { "s" }, new[] { "y" })
        .Output("y");

    private static OnnxModelBuilder ConvRelu(int c, int h, int w, int m, int seed) => new OnnxModelBuilder()
        .Input("x", DataType.Float, 1, c, h, w)
        .Initializer("w", OnnxModelBuilder.Random(seed, -0.5f, 0.5f, m, c, 3, 3))
        .Initializer("b", OnnxModelBuilder.Random(seed + 1, -0.2f, 0.2f, m))
        .Node("Conv", new[] { "x", "w", "b" }, new[] { "s" }, ("pads", new[] { 1, 1, 1, 1 }), ("kernel_shape", new[] { 3, 3 }))
        .Node("Relu", new[] { "s" }, new[] { "y" })
        .Output("y");

    [Fact]
    public void MatMul_Add_Relu_becomes_DynamicQuantizeLinear_MatMulInteger_and_one_epilogue()
    {
        var r = Compile(MatMulAddRelu(3, 40, 24, 1), "DynMatMul");
        var g = r.Graph!;
        Assert.Equal(new[] { "DynamicQuantizeLinear", "MatMulInteger", DynamicDequantizeOp.OpType }, g.Nodes.Select(n => n.OpType));
        var mm = g.Nodes[1];
        var w = g.Constants[mm.Inputs[1]];
        Assert.Equal(DataType.Int8, w.ElementType);
        Assert.Equal(new Shape(40, 24), w.Shape);
        Assert.Equal(g.Nodes[0].Outputs[2], mm.Inputs[2]); // the run-time zero point
        var epilogue = g.Nodes[2];
        Assert.Equal("Relu", epilogue.Activation?.Op);
        Assert.Equal(new Shape(24), g.Constants[epilogue.Inputs[2]].Shape); // one weight scale per column
        Assert.Equal(new Shape(24), g.Constants[epilogue.Inputs[3]].Shape); // float bias
        Assert.Equal(g.Nodes[0].Outputs[1], epilogue.Inputs[1]);           // the run-time input scale
        Assert.Equal("y", epilogue.Outputs[0]);
        // Per-column symmetric weights: every column reaches ±127.
        var q = w.ToLongs();
        for (int c = 0; c < 24; c++) Assert.Equal(127, Enumerable.Range(0, 40).Max(i => Math.Abs(q[i * 24 + c])));

        var report = r.QuantizationReport!;
        Assert.Equal("Dynamic", report.Mode);
        Assert.Null(report.Calibration);
        Assert.Empty(report.OutputSqnrDb);
        Assert.True(Assert.Single(report.Layers).Quantized);
        Assert.Equal("int8-dynamic", r.Plan!.Precision);
        Assert.Contains("Dynamic, 1/1 layers int8", report.SummaryLine);
        Assert.Contains("\"mode\": \"Dynamic\"", report.ToJson());
    }

    [Fact]
    public void Layers_reading_the_same_value_share_one_DynamicQuantizeLinear()
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 4, 64)
            .Initializer("w1", OnnxModelBuilder.Random(3, -1, 1, 64, 32))
            .Initializer("w2", OnnxModelBuilder.Random(4, -1, 1, 64, 32))
            .Node("MatMul", new[] { "x", "w1" }, new[] { "a" })
            .Node("MatMul", new[] { "x", "w2" }, new[] { "c" })
            .Node("Add", new[] { "a", "c" }, new[] { "y" })
            .Output("y");
        var r = Compile(b, "DynShared");
        Assert.Single(r.Graph!.Nodes, n => n.OpType == "DynamicQuantizeLinear");
        Assert.Equal(2, r.Graph.Nodes.Count(n => n.OpType == "MatMulInteger"));
    }

    [Fact]
    public void Generated_code_is_bit_exact_against_the_reference_for_MatMul_and_Conv()
    {
        // Sizes off the vector widths and the 16-column GEMM panels; inputs with negative values (zero point inside the range).
        foreach (var (b, x, name) in new[]
        {
            (MatMulAddRelu(5, 37, 19, 10), OnnxModelBuilder.Random(11, -2, 3, 5, 37), "DynExactMatMul"),
            (ConvRelu(16, 13, 11, 10, 20), OnnxModelBuilder.Random(21, -1, 2, 1, 16, 13, 11), "DynExactConv"),
        })
        {
            var r = Compile(b, name);
            Assert.Contains(r.Graph!.Nodes, n => n.OpType is "MatMulInteger" or "ConvInteger");
            var model = Load(r);
            var expected = FloatInterpreter.Run(r.Graph, new[] { x })[0].ToFloats();
            var actual = model.Run(x)[0].ToFloats();
            Assert.Equal(expected, actual);
            // And close to the float model: 8-bit activations and weights.
            var reference = b.Reference(("x", x))[0].ToFloats();
            double sqnr = QuantMath.Sqnr(reference, actual);
            Assert.True(sqnr > 30, $"{name}: SQNR {sqnr:0.0} dB against float");
        }
    }

    [Fact]
    public void Gemm_alpha_beta_and_transB_are_folded_into_weights_and_bias()
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 4, 50)
            .Initializer("w", OnnxModelBuilder.Random(30, -1, 1, 20, 50))
            .Initializer("c", OnnxModelBuilder.Random(31, -1, 1, 20))
            .Node("Gemm", new[] { "x", "w", "c" }, new[] { "y" }, ("transB", 1), ("alpha", 0.5f), ("beta", 2f))
            .Output("y");
        var r = Compile(b, "DynGemm");
        Assert.Contains(r.Graph!.Nodes, n => n.OpType == "MatMulInteger");
        var x = OnnxModelBuilder.Random(32, -1, 1, 4, 50);
        var reference = b.Reference(("x", x))[0].ToFloats();
        var actual = Load(r).Run(x)[0].ToFloats();
        double sqnr = QuantMath.Sqnr(reference, actual);
        Assert.True(sqnr > 30, $"SQNR {sqnr:0.0} dB against float");
    }

    [Fact]
    public void A_layer_too_small_to_pay_stays_float_with_QC3009()
    {
        var r = Compile(MatMulAddRelu(1, 4, 3, 40), "DynTiny");
        Assert.DoesNotContain(r.Graph!.Nodes, n => n.OpType == "MatMulInteger");
        var d = Assert.Single(r.Diagnostics, d => d.Id == DiagnosticIds.DynamicNothingToQuantize);
        Assert.Equal(Severity.Info, d.Severity);
        Assert.Equal("float32", r.Plan!.Precision);
        var layer = Assert.Single(r.QuantizationReport!.Layers);
        Assert.False(layer.Quantized);
        Assert.StartsWith("too small", layer.KeptFloatReason);
    }

    [Fact]
    public void A_Conv_with_short_patches_stays_float()
    {
        // 3 channels × 3×3 = 27 products per output element: below MinConvPatchLength (128), ConvInteger is slower than float.
        var r = Compile(ConvRelu(3, 13, 11, 10, 60), "DynShortConv");
        Assert.DoesNotContain(r.Graph!.Nodes, n => n.OpType == "ConvInteger");
        Assert.StartsWith("patch too short", Assert.Single(r.QuantizationReport!.Layers).KeptFloatReason);
    }

    [Fact]
    public void DynamicDequantize_kernel_matches_the_reference_bit_for_bit()
    {
        var rng = new Random(70);
        foreach (var (outer, channels, inner) in new[] { (1, 1, 1), (3, 19, 1), (2, 32, 1), (1, 5, 37), (2, 3, 8), (1, 16, 1960) })
        {
            int len = outer * channels * inner;
            var acc = Enumerable.Range(0, len).Select(i => i % 13 == 0 ? int.MaxValue - i : rng.Next(-3_000_000, 3_000_000)).ToArray();
            var xs = new[] { (float)(rng.NextDouble() * 0.05) };
            var ws = Enumerable.Range(0, channels).Select(_ => (float)(rng.NextDouble() * 0.01)).ToArray();
            var bias = Enumerable.Range(0, channels).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            foreach (bool withBias in new[] { false, true })
                foreach (var (code, lo, hi) in new[] { (0, 0f, 0f), (1, 0f, 0f), (2, -0.25f, 0.5f) })
                {
                    var y = new float[len];
                    DynamicDequantize.Run(acc, xs, ws, withBias ? bias : default, y, outer, channels, inner, code, lo, hi);
                    for (int i = 0; i < len; i++)
                    {
                        int c = i / inner % channels;
                        float want = DynamicDequantizeOp.Apply(acc[i], xs[0], ws[c], withBias ? bias[c] : 0f);
                        want = code == 1 ? Math.Max(want, 0f) : code == 2 ? Math.Min(Math.Max(want, lo), hi) : want;
                        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(y[i]),
                            $"[{outer}, {channels}, {inner}] element {i}: {y[i]:R}, expected {want:R} (activation {code}, bias {withBias})");
                    }
                }
        }
    }

    [Fact]
    public void KeepFloat_keeps_a_layer_float()
    {
        var b = MatMulAddRelu(3, 40, 24, 50);
        var r = Compile(b, "DynKeep", new[] { "MatMul_0" });
        Assert.DoesNotContain(r.Graph!.Nodes, n => n.OpType == "MatMulInteger");
        Assert.Contains(r.Diagnostics, d => d.Id == DiagnosticIds.LayerKeptFloatByUser);
        Assert.Equal("KeepFloat", Assert.Single(r.QuantizationReport!.Layers).KeptFloatReason);
    }
}
