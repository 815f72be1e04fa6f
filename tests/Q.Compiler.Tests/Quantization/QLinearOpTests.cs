using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QLinear;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Layout;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The ai.onnx quantization ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, MatMulInteger)
/// and MaxPool/data movement on byte tensors: generated code through the real emitter against the ops' Evaluate (the
/// integer reference), bit for bit, plus independent checks of the reference itself.
/// </summary>
public sealed class QLinearOpTests
{
    private static Tensor Rand(DataType t, Shape s, int seed, double lo = -10, double hi = 10)
    {
        var rng = new Random(seed);
        var v = Enumerable.Range(0, s.ElementCount).Select(_ => t switch
        {
            DataType.Float => Math.Round(lo + rng.NextDouble() * (hi - lo), 3),
            DataType.UInt8 => rng.Next(4) == 0 ? (rng.Next(2) == 0 ? 0 : 255) : rng.Next(256),
            DataType.Int8 => rng.Next(4) == 0 ? (rng.Next(2) == 0 ? -128 : 127) : rng.Next(-128, 128),
            DataType.UInt16 => rng.Next(65536),
            DataType.Int16 => rng.Next(-32768, 32768),
            DataType.Int32 => rng.Next(-100000, 100000),
            _ => throw new ArgumentException(t.ToString()),
        }).ToArray();
        return Tensor.FromDoubles(t, s, v);
    }

    private static Tensor Scalar(DataType t, double v) => Tensor.FromDoubles(t, Shape.Scalar, new[] { v });
    private static Tensor Vec(DataType t, params double[] v) => Tensor.FromDoubles(t, new Shape(v.Length), v);

    [Theory]
    [InlineData(DataType.UInt8, false)]
    [InlineData(DataType.Int8, false)]
    [InlineData(DataType.UInt8, true)]
    [InlineData(DataType.Int8, true)]
    [InlineData(DataType.UInt16, true)]
    [InlineData(DataType.Int16, false)]
    public void QuantizeLinear_per_tensor_kernel_matches_reference(DataType q, bool constantParams)
    {
        // 67 elements: vector blocks plus a tail; values around ties and beyond saturation.
        var x = Rand(DataType.Float, new Shape(67), 1, -40, 40);
        float scale = q is DataType.UInt16 or DataType.Int16 ? 0.001f : 0.125f;
        int zp = q switch { DataType.UInt8 => 37, DataType.Int8 => -5, DataType.UInt16 => 30000, _ => 100 };
        var y = AssertKernelMatchesReference("QuantizeLinear",
            new NodeInput?[] { x, new(Scalar(DataType.Float, scale), constantParams), new(Scalar(q, zp), constantParams) }, new[] { q }, 13);
        // Independent: saturate(round_half_even(x / scale) + zp).
        var xs = x.ToFloats();
        var want = xs.Select(v => Math.Clamp(Math.Round(v / scale, MidpointRounding.ToEven) + zp, QuantGranularity.QMin(q), QuantGranularity.QMax(q))).ToArray();
        Assert.Equal(want, y[0].ToDoubles());
    }

    [Fact]
    public void QuantizeLinear_ties_round_to_even_and_default_zero_point_is_uint8()
    {
        var x = Vec(DataType.Float, 0.5, 1.5, 2.5, -0.5, 3.5, 300, -3);
        var y = AssertKernelMatchesReference("QuantizeLinear", new NodeInput?[] { x, new(Scalar(DataType.Float, 1), true) }, new[] { DataType.UInt8 }, 13);
        Assert.Equal(new byte[] { 0, 2, 2, 0, 4, 255, 0 }, y[0].As<byte>());
    }

    [Theory]
    [InlineData(DataType.UInt8, 1)]
    [InlineData(DataType.Int8, 0)]
    [InlineData(DataType.Int8, -1)]
    [InlineData(DataType.Int16, 1)]
    public void QuantizeLinear_per_axis_kernel_matches_reference(DataType q, long axis)
    {
        var x = Rand(DataType.Float, new Shape(2, 3, 19), 2, -5, 5);
        int c = axis switch { 0 => 2, 1 => 3, _ => 19 };
        var scale = Tensor.FromFloats(new Shape(c), Enumerable.Range(0, c).Select(i => 0.02f * (i + 1)).ToArray());
        var zp = Tensor.FromDoubles(q, new Shape(c), Enumerable.Range(0, c).Select(i => (double)(i * 7 % 50 - (q == DataType.UInt8 ? 0 : 25))).ToArray());
        AssertKernelMatchesReference("QuantizeLinear", new NodeInput?[] { x, scale, zp }, new[] { q }, 13, Attr("axis", axis));
    }

    [Theory]
    [InlineData(DataType.UInt8)]
    [InlineData(DataType.Int8)]
    [InlineData(DataType.Int16)]
    [InlineData(DataType.Int32)]
    public void DequantizeLinear_kernels_match_reference(DataType q)
    {
        var x = Rand(q, new Shape(3, 4, 11), 3);
        // Per tensor (run-time parameters), per axis 1 (constants).
        var zp0 = q == DataType.Int32 ? null : new NodeInput(Scalar(q, q == DataType.UInt8 ? 200 : -3));
        AssertKernelMatchesReference("DequantizeLinear", new NodeInput?[] { x, Scalar(DataType.Float, 0.37f), zp0 }.Where(i => i is not null).ToList(), new[] { DataType.Float }, 13);
        var scale = Vec(DataType.Float, 0.5, 0.01, 3);
        if (q == DataType.Int32)
            AssertKernelMatchesReference("DequantizeLinear", new NodeInput?[] { x, new(Vec(DataType.Float, 0.5, 0.01, 3, 7), true) }, new[] { DataType.Float }, 13, Attr("axis", 1L));
        else
            AssertKernelMatchesReference("DequantizeLinear", new NodeInput?[] { x, new(scale, true), new(Vec(q, 1, 2, 3), true) }, new[] { DataType.Float }, 13, Attr("axis", 0L));
    }

    [Theory]
    [InlineData("QuantizeLinear", DataType.UInt8, 1, 2)]
    [InlineData("QuantizeLinear", DataType.Int8, 2, 4)]
    [InlineData("DequantizeLinear", DataType.Int8, 1, 3)]
    [InlineData("DequantizeLinear", DataType.UInt16, 2, 5)]
    public void Blocked_quantization_kernel_matches_reference(string op, DataType q, int axis, int block)
    {
        var shape = new Shape(2, 6, 7);
        var scaleShape = new Shape(shape.Dims.Select((d, i) => i == axis ? (d + block - 1) / block : d).ToArray());
        var rng = new Random(5);
        var scale = Tensor.FromFloats(scaleShape, Enumerable.Range(0, scaleShape.ElementCount).Select(_ => (float)(0.01 + rng.NextDouble())).ToArray());
        var zp = Rand(q, scaleShape, 6);
        if (q == DataType.UInt8) zp = Tensor.FromDoubles(q, scaleShape, zp.ToDoubles().Select(v => Math.Min(v, 200)).ToArray());
        var x = op == "QuantizeLinear" ? Rand(DataType.Float, shape, 7, -30, 30) : Rand(q, shape, 7);
        var outType = op == "QuantizeLinear" ? q : DataType.Float;
        var y = AssertKernelMatchesReference(op, new NodeInput?[] { x, scale, zp }, new[] { outType }, 21, Attr("axis", (long)axis), Attr("block_size", (long)block));
        // Independent check of one element: (1, 5, 6) uses scale (1, 5 / block, 6) along axis 1, or (1, 5, 6 / block) along axis 2.
        int[] e = { 1, 5, 6 };
        int[] se = e.Select((v, i) => i == axis ? v / block : v).ToArray();
        int xi = (e[0] * 6 + e[1]) * 7 + e[2], si = (se[0] * scaleShape[1] + se[1]) * scaleShape[2] + se[2];
        float s = scale.ToFloats()[si]; long z = zp.ToLongs()[si];
        if (op == "QuantizeLinear")
            Assert.Equal(QuantMath.Quantize(x.ToFloats()[xi], s, (int)z, QuantGranularity.QMin(q), QuantGranularity.QMax(q)), y[0].ToLongs()[xi]);
        else
            Assert.Equal((float)(x.ToLongs()[xi] - z) * s, y[0].ToFloats()[xi]);
    }

    [Fact]
    public void Quantize_variants_without_code_are_refused_with_QC2015()
    {
        // int4 output (named by output_dtype, with no zero point to carry the type).
        string path = Write("QuantizeLinear", new NodeInput?[] { Vec(DataType.Float, 1, 2, 3, 4), new(Scalar(DataType.Float, 0.5), true) },
            new[] { DataType.UInt8 }, 21, allConstant: false, Attr("output_dtype", 22L));
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", Namespace = "T" });
            Assert.False(r.Success);
            Assert.Contains(r.Diagnostics, d => d.Id == "QC2015");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void QuantizeLinear_of_float16_data_runs_through_the_float16_boundary()
    {
        // float16 data and scale (opset 19): the pipeline computes in float32, the constant scale is converted at build time.
        var x = Tensor.FromDoubles(DataType.Float16, new Shape(9), new double[] { 1, 2, 3, 4, -1, 0.25, 100, -100, 0.75 });
        var y = AssertKernelMatchesReference("QuantizeLinear", new NodeInput?[] { x, new(Scalar(DataType.Float16, 0.5), true), new(Scalar(DataType.Int8, 1), true) },
            new[] { DataType.Int8 }, 19);
        Assert.Equal(new sbyte[] { 3, 5, 7, 9, -1, 1, 127, -128, 3 }, y[0].As<sbyte>());
    }

    [Fact]
    public void DynamicQuantizeLinear_kernel_matches_reference_and_spec()
    {
        foreach (var (lo, hi, n) in new[] { (-3.0, 7.0, 100), (0.5, 9.0, 37), (-9.0, -0.25, 8), (0.0, 0.0, 5), (-1.0, 1.0, 1) })
        {
            var x = Rand(DataType.Float, new Shape(n), n, lo, hi);
            var y = AssertKernelMatchesReference("DynamicQuantizeLinear", new NodeInput?[] { x }, new[] { DataType.UInt8, DataType.Float, DataType.UInt8 }, 11);
            var xs = x.ToFloats();
            float min = Math.Min(0, xs.Min()), max = Math.Max(0, xs.Max());
            float scale = (max - min) / 255f;
            Assert.Equal(scale, y[1].ToFloats()[0]);
            int zp = scale == 0 ? 0 : (int)Math.Clamp(Math.Round(-min / scale, MidpointRounding.ToEven), 0, 255);
            Assert.Equal(zp, (int)y[2].As<byte>()[0]);
        }
        // The kernel on every length up to three vectors, directly (tails, all-equal data).
        for (int n = 0; n < 50; n++)
        {
            var x = Rand(DataType.Float, new Shape(n), 100 + n, -2, 5).ToFloats();
            var y = new byte[n]; var s = new float[1]; var z = new byte[1];
            DynamicQuantizeLinear.ToUInt8(x, y, s, z);
            var (scale, zp) = DynamicQuantizeLinearOp.Parameters(x);
            Assert.Equal(scale, s[0]);
            Assert.Equal(zp, z[0]);
            Assert.Equal(x.Select(v => (byte)QuantMath.Quantize(v, scale, zp, 0, 255)).ToArray(), y);
        }
    }

    public static TheoryData<DataType, DataType, DataType, bool, int> MatMulCases => new()
    {
        // A type, B type, output type, per-column B parameters, rank of A
        { DataType.UInt8, DataType.Int8, DataType.UInt8, false, 2 },
        { DataType.UInt8, DataType.UInt8, DataType.UInt8, true, 3 },
        { DataType.Int8, DataType.Int8, DataType.Int8, true, 2 },
        { DataType.Int8, DataType.UInt8, DataType.UInt8, false, 3 },
        { DataType.UInt8, DataType.Int8, DataType.Int8, true, 1 },
    };

    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void QLinearMatMul_kernel_matches_reference(DataType aType, DataType bType, DataType yType, bool perColumn, int rankA)
    {
        const int k = 37, n = 19;
        var aShape = rankA switch { 1 => new Shape(k), 2 => new Shape(5, k), _ => new Shape(2, 3, k) };
        var a = Rand(aType, aShape, 11);
        var b = Rand(bType, new Shape(k, n), 12);
        double za = aType == DataType.UInt8 ? 131 : -7, zy = yType == DataType.UInt8 ? 120 : 3;
        var zb = perColumn ? Tensor.FromDoubles(bType, new Shape(n), Enumerable.Range(0, n).Select(j => (double)(j * 5 % 21 - (bType == DataType.UInt8 ? -100 : 10))).ToArray()) : Scalar(bType, bType == DataType.UInt8 ? 128 : 0);
        var sb = perColumn ? Tensor.FromFloats(new Shape(n), Enumerable.Range(0, n).Select(j => 0.001f * (j + 1)).ToArray()) : Scalar(DataType.Float, 0.004f);
        var inputs = new NodeInput?[]
        {
            a, new(Scalar(DataType.Float, 0.05f), true), new(Scalar(aType, za), true), new(b, true), new(sb, true), new(zb, true),
            new(Scalar(DataType.Float, 0.9f), true), new(Scalar(yType, zy), true),
        };
        var y = AssertKernelMatchesReference("QLinearMatMul", inputs, new[] { yType }, 10);
        // Independent check of the reference on one element, in double: round(acc·M) with M = sa·sb/sy.
        var al = a.ToLongs(); var bl = b.ToLongs();
        int col = n - 1;
        long acc = 0;
        for (int kk = 0; kk < k; kk++) acc += (al[kk] - (long)za) * (bl[kk * n + col] - zb.ToLongs()[perColumn ? col : 0]);
        double m = 0.05f * (double)sb.ToFloats()[perColumn ? col : 0] / 0.9f;
        double want = Math.Clamp(Math.Floor(acc * m + 0.5) + zy, QuantGranularity.QMin(yType), QuantGranularity.QMax(yType));
        Assert.Equal(want, y[0].ToDoubles()[col]);
    }

    [Fact]
    public void QLinearMatMul_with_multiplier_above_one_matches_reference_and_an_absurd_one_is_refused_with_QC2011()
    {
        NodeInput?[] Inputs(float yScale) => new NodeInput?[]
        {
            Rand(DataType.UInt8, new Shape(2, 4), 1), new(Scalar(DataType.Float, 1f), true), new(Scalar(DataType.UInt8, 0), true),
            new(Rand(DataType.Int8, new Shape(4, 3), 2), true), new(Scalar(DataType.Float, 1f), true), new(Scalar(DataType.Int8, 0), true),
            new(Scalar(DataType.Float, yScale), true), new(Scalar(DataType.UInt8, 0), true),
        };
        // M = 2: generated code saturates exactly as the reference does.
        AssertKernelMatchesReference("QLinearMatMul", Inputs(0.5f).ToList(), new[] { DataType.UInt8 }, 10);
        var y = Reference("QLinearMatMul", Inputs(0.5f).Select(i => (NodeInput?)i!.Value).ToList(), new[] { DataType.UInt8 }, 10);
        var a = Inputs(0.5f)[0]!.Value.ToLongs(); var b = Inputs(0.5f)[3]!.Value.ToLongs();
        long acc = Enumerable.Range(0, 4).Sum(kk => a[kk] * b[kk * 3]);
        Assert.Equal(Math.Clamp(acc * 2, 0, 255), y[0].ToLongs()[0]);
        // M = 2^17: the scales are wrong, refused with a code.
        string path = Write("QLinearMatMul", Inputs(1f / 131072).ToList(), new[] { DataType.UInt8 }, 10, allConstant: false);
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", Namespace = "T" });
            Assert.False(r.Success);
            Assert.Contains(r.Diagnostics, d => d.Id == "QC2011");
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// The ONNX backend tests of QLinearMatMul and MatMulInteger feed B and the parameters as graph inputs, which the
    /// conformance suite cannot compile (they must be constants). Here they become initializers, A stays an input, and
    /// the generated code must reproduce ONNX's reference outputs exactly (float16 scales included). The 3-D tests have a
    /// batched B, which has no generated code yet: there A is an initializer too, and the reference (Evaluate, by
    /// constant folding) must reproduce ONNX's outputs.
    /// </summary>
    [SharedTheory]
    [InlineData("test_qlinearmatmul_2D_uint8_float32")]
    [InlineData("test_qlinearmatmul_2D_int8_float32")]
    [InlineData("test_qlinearmatmul_3D_uint8_float32")]
    [InlineData("test_qlinearmatmul_3D_int8_float32")]
    [InlineData("test_qlinearmatmul_2D_uint8_float16")]
    [InlineData("test_qlinearmatmul_3D_int8_float16")]
    [InlineData("test_matmulinteger")]
    public void Backend_tests_with_constant_weights_match_ONNX_reference(string test)
    {
        string dir = Path.Combine(SharedData.Root, "onnx-backend", "node", test);
        var model = OnnxBuilder.Load(Path.Combine(dir, "model.onnx"));
        string set = Path.Combine(dir, "test_data_set_0");
        var g = model.Graph;
        var inputs = g.Input.ToList();
        bool fold = test.Contains("_3D_");
        for (int i = fold ? 0 : 1; i < inputs.Count; i++)
        {
            var t = TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(set, $"input_{i}.pb")));
            t.Name = inputs[i].Name;
            g.Initializer.Add(t);
            g.Input.Remove(inputs[i]);
        }
        using var tmp = new TempDir();
        string path = OnnxBuilder.Save(model, tmp.Path);
        if (fold)
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", Namespace = "T" });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            AssertSame(TestData.Outputs(set)[0], r.Graph!.Constants[g.Output[0].Name]);
            return;
        }
        var (asm, _) = CompiledModels.CompileModel(path);
        var y = asm.Create().Run(TestData.Inputs(set)[0]);
        AssertSame(TestData.Outputs(set)[0], y[0]);
    }

    [Theory]
    [InlineData(DataType.UInt8, DataType.Int8, true)]
    [InlineData(DataType.UInt8, DataType.UInt8, false)]
    [InlineData(DataType.Int8, DataType.Int8, true)]
    public void MatMulInteger_kernel_matches_reference_with_run_time_zero_point(DataType aType, DataType bType, bool perColumn)
    {
        const int k = 21, n = 17;
        var a = Rand(aType, new Shape(2, 5, k), 21);
        var b = Rand(bType, new Shape(k, n), 22);
        var zb = perColumn ? Tensor.FromDoubles(bType, new Shape(n), Enumerable.Range(0, n).Select(j => (double)(j % 7 + (bType == DataType.UInt8 ? 120 : -3))).ToArray()) : Scalar(bType, 128);
        var y = AssertKernelMatchesReference("MatMulInteger",
            new NodeInput?[] { a, new NodeInput(b, true), Scalar(aType, aType == DataType.UInt8 ? 77 : -100), new NodeInput(zb, true) }, new[] { DataType.Int32 }, 10);
        Assert.Equal(new Shape(2, 5, n), y[0].Shape);
    }

    [Fact]
    public void Dynamic_quantized_matmul_graph_runs_like_its_reference()
    {
        // x f32[3,24] → DynamicQuantizeLinear → MatMulInteger(W int8 const, w_zp 0) → Cast(int32 → f32) → Mul(x_scale) → Mul(w_scale):
        // the pattern of Quantize="Dynamic" and of ONNX Runtime's dynamic quantization.
        const int k = 24, n = 10;
        var g = new GraphProto { Name = "dyn" };
        g.Input.Add(OnnxBuilder.Value("x", new object?[] { 3L, (long)k }));
        g.Output.Add(OnnxBuilder.Value("y", new object?[] { 3L, (long)n }));
        g.Initializer.Add(ToProto("W", Rand(DataType.Int8, new Shape(k, n), 31)));
        g.Initializer.Add(ToProto("w_zp", Scalar(DataType.Int8, 0)));
        g.Initializer.Add(ToProto("w_scale", Scalar(DataType.Float, 0.01f)));
        g.Node.Add(OnnxBuilder.Node("DynamicQuantizeLinear", "dq", new[] { "x" }, new[] { "xq", "xs", "xz" }));
        g.Node.Add(OnnxBuilder.Node("MatMulInteger", "mm", new[] { "xq", "W", "xz", "w_zp" }, new[] { "acc" }));
        var cast = OnnxBuilder.Node("Cast", "cast", new[] { "acc" }, new[] { "accf" });
        cast.Attribute.Add(Attr("to", (long)TensorProto.Types.DataType.Float));
        g.Node.Add(cast);
        g.Node.Add(OnnxBuilder.Node("Mul", "m1", new[] { "accf", "xs" }, new[] { "t" }));
        g.Node.Add(OnnxBuilder.Node("Mul", "m2", new[] { "t", "w_scale" }, new[] { "y" }));
        using var dir = new TempDir();
        string path = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path);
        var x = Rand(DataType.Float, new Shape(3, k), 32, -2, 3);
        var (asm, _) = CompiledModels.CompileModel(path);
        var y = asm.Create().Run(x)[0].ToFloats();

        // Reference: the same graph with x an initializer, folded by the ops' Evaluate.
        g.Input.Clear();
        g.Initializer.Add(ToProto("x", x));
        string folded = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path, "folded.onnx");
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = folded, ClassName = "M", Namespace = "T" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Equal(r.Graph!.Constants["y"].ToFloats(), y);

        // And close to the float product (one quantization step of x per term).
        var xs = x.ToFloats(); var w = g.Initializer.First(t => t.Name == "W").RawData.ToByteArray().Select(v => (sbyte)v).ToArray();
        float step = (Math.Max(0, xs.Max()) - Math.Min(0, xs.Min())) / 255f;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < n; j++)
            {
                double exact = Enumerable.Range(0, k).Sum(kk => (double)xs[i * k + kk] * w[kk * n + j] * 0.01);
                Assert.InRange(y[i * n + j] - exact, -k * 1.28 * step / 2 - 1e-4, k * 1.28 * step / 2 + 1e-4);
            }
    }

    [Theory]
    [InlineData(DataType.UInt8)]
    [InlineData(DataType.Int8)]
    public void MaxPool_on_bytes_matches_reference(DataType t)
    {
        var x = Rand(t, new Shape(1, 3, 9, 10), 41);
        AssertKernelMatchesReference("MaxPool", new NodeInput?[] { x }, new[] { t }, 12,
            Attr("kernel_shape", 3L, 3L), Attr("strides", 2L, 2L), Attr("pads", 1L, 0L, 1L, 1L));
        var y = AssertKernelMatchesReference("MaxPool", new NodeInput?[] { x }, new[] { t }, 12, Attr("kernel_shape", 2L, 2L), Attr("strides", 2L, 2L));
        var xl = x.ToLongs();
        Assert.Equal(new[] { xl[0], xl[1], xl[10], xl[11] }.Max(), y[0].ToLongs()[0]);
    }

    [Fact]
    public void Data_movement_ops_run_on_uint8_and_int8()
    {
        var u = Rand(DataType.UInt8, new Shape(2, 3, 4, 5), 51);
        var s = Rand(DataType.Int8, new Shape(2, 3, 4, 5), 52);
        var u8 = new[] { DataType.UInt8 }; var i8 = new[] { DataType.Int8 };
        AssertKernelMatchesReference("Transpose", new NodeInput?[] { u }, u8, 13, Attr("perm", 0L, 2L, 3L, 1L));
        AssertKernelMatchesReference("Concat", new NodeInput?[] { s, s }, i8, 13, Attr("axis", 1L));
        AssertKernelMatchesReference("Slice", new NodeInput?[] { u, new(Longs(1, 1), true), new(Longs(3, 5), true), new(Longs(1, 3), true) }, u8, 13);
        var pad = AssertKernelMatchesReference("Pad", new NodeInput?[] { u, new(Longs(0, 0, 1, 1, 0, 0, 1, 1), true), new(Scalar(DataType.UInt8, 128), true) }, u8, 13);
        Assert.Equal((byte)128, pad[0].As<byte>()[0]);
        AssertKernelMatchesReference("Reshape", new NodeInput?[] { s, new(Longs(6, 20), true) }, i8, 13);
        AssertKernelMatchesReference("Flatten", new NodeInput?[] { u }, u8, 13, Attr("axis", 2L));
        AssertKernelMatchesReference("Unsqueeze", new NodeInput?[] { u, new(Longs(0), true) }, u8, 13);
        AssertKernelMatchesReference("Squeeze", new NodeInput?[] { Rand(DataType.Int8, new Shape(1, 7, 1), 53), new(Longs(0, 2), true) }, i8, 13);
        AssertKernelMatchesReference("Identity", new NodeInput?[] { s }, i8, 13);
        var c = AssertKernelMatchesReference("Cast", new NodeInput?[] { u }, new[] { DataType.Float }, 13, Attr("to", (long)DataType.Float));
        Assert.Equal(u.ToDoubles(), c[0].ToDoubles());
        AssertKernelMatchesReference("Cast", new NodeInput?[] { Rand(DataType.Int32, new Shape(33), 54) }, new[] { DataType.Float }, 13, Attr("to", (long)DataType.Float));
    }

    [Fact]
    public void QMatMul_sign_flip_kernels_are_exact_on_every_length()
    {
        for (int len = 0; len < 80; len++)
        {
            var src = Enumerable.Range(0, len).Select(i => (byte)(i * 37)).ToArray();
            var dst = new byte[len];
            QMatMul.FlipSign(src, dst);
            Assert.Equal(src.Select(v => (byte)((sbyte)v + 128)).ToArray(), dst);
            QMatMul.FlipSign(dst, dst); // in place
            Assert.Equal(src, dst);
        }
    }
}
