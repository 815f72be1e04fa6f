using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Ops.QContrib;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using Tensor = Q.Compiler.Ir.Tensor;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The com.microsoft quantized ops: every kernel path bit-exact against the op's Evaluate (the integer reference), the
/// compiled code (real emitter) equal to Evaluate, and Evaluate within one quantization step of ONNX Runtime.
/// </summary>
public class QContribOpTests
{
    private readonly ITestOutputHelper _out;
    public QContribOpTests(ITestOutputHelper output) => _out = output;

    private const string Ms = "com.microsoft";

    // ---- helpers -------------------------------------------------------------------------------------------------

    private static Tensor Bytes(Shape s, Random rng, int lo = 0, int hi = 256)
    {
        var b = new byte[s.ElementCount];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)rng.Next(lo, hi);
        return new Tensor(DataType.UInt8, s, b);
    }

    private static Tensor Scale(float s) => Tensor.FromFloats(Shape.Scalar, new[] { s });
    private static Tensor Zp(int z) => new(DataType.UInt8, Shape.Scalar, new[] { (byte)z });
    private static Tensor ZpS8(int z) => new(DataType.Int8, Shape.Scalar, new[] { (sbyte)z });

    private static Tensor Eval(string op, Tensor?[] inputs, Dictionary<string, AttributeValue>? attrs = null, FusedActivation? act = null)
    {
        var names = inputs.Select((t, i) => t is null ? "" : "in" + i).ToArray();
        var node = new Node("n", op, Ms, names, new[] { "y" }, attrs ?? new Dictionary<string, AttributeValue>(), act);
        var ctx = new OpContext(node, inputs.Select(t => t?.Type).ToArray(), inputs, 1);
        return OpRegistry.Find(Ms, op)!.Evaluate(ctx, inputs)[0];
    }

    private static OpContext Ctx(string op) =>
        new(new Node("n", op, Ms, Array.Empty<string>(), new[] { "y" }), Array.Empty<TensorType?>(), Array.Empty<Tensor?>(), 1);

    private static byte[] B(Tensor t) => (byte[])t.Data;

    // ---- QLinearAdd / QLinearMul: every path against Evaluate ---------------------------------------------------------

    public static IEnumerable<object[]> BinaryShapes() => new[]
    {
        new object[] { "1", "1" }, new object[] { "15", "15" }, new object[] { "16", "16" }, new object[] { "17", "17" },
        new object[] { "31", "31" }, new object[] { "32", "32" }, new object[] { "33", "33" }, new object[] { "100", "100" },
        new object[] { "3x37", "37" }, new object[] { "2x3x5", "3x1" }, new object[] { "1", "45" }, new object[] { "70", "1" },
        new object[] { "4x33", "4x1" }, new object[] { "2x1x65", "1x3x65" },
        // Squeeze-excite: a plane times one value per channel (either side), rows of whole and partial 32-byte blocks.
        new object[] { "3x64", "3x1" }, new object[] { "5x96", "5x1" }, new object[] { "4x1", "4x70" }, new object[] { "2x3x40", "2x3x1" },
    };

    [Theory]
    [MemberData(nameof(BinaryShapes))]
    public void QLinearAdd_and_Mul_paths_match_Evaluate(string shapeA, string shapeB)
    {
        var rng = new Random(shapeA.GetHashCode(StringComparison.Ordinal) ^ 77);
        Shape sa = Shape.ParseCompact(shapeA), sb = Shape.ParseCompact(shapeB);
        var cases = new (float Sa, int Za, float Sb, int Zb, float Sc, int Zc)[]
        {
            (0.02f, 0, 0.03f, 0, 0.05f, 0), (0.1f, 255, 0.004f, 128, 0.01f, 0), (0.05f, 3, 0.07f, 250, 0.002f, 255),
            (0.013f, 128, 0.013f, 128, 0.026f, 128), (1.5f, 17, 0.25f, 200, 0.75f, 99), (1e-4f, 60, 2e-4f, 1, 3e-2f, 7),
            // Mul's multiplier 1e5: accumulators beyond ±accLimit (10737) are clamped before rounding.
            (1f, 128, 1f, 120, 1e-5f, 128),
        };
        foreach (var (fa, za, fb, zb, fc, zc) in cases)
        {
            var a = Bytes(sa, rng); var b = Bytes(sb, rng);
            var outShape = Broadcast.Shapes(Ctx("QLinearAdd"), sa, sb);
            var (dims, st) = Broadcast.Coalesce(outShape, Broadcast.Strides(sa, outShape), Broadcast.Strides(sb, outShape));
            foreach (bool mul in new[] { false, true })
            {
                string op = mul ? "QLinearMul" : "QLinearAdd";
                var want = B(Eval(op, new Tensor?[] { a, Scale(fa), Zp(za), b, Scale(fb), Zp(zb), Scale(fc), Zp(zc) }));
                int ma, mb = 0, shift, limit = int.MaxValue;
                if (mul)
                {
                    var m = QFixedMultiplier.FromReal((double)fa * fb / fc);
                    (ma, shift, limit) = (m.Multiplier, m.Shift, m.AccLimit);
                }
                else (ma, mb, shift) = QLinearBinaryOp.AddMultipliers(Ctx(op), fa, fb, fc);
                foreach (var path in Enum.GetValues<QLinearBinary.Path>().Where(QLinearBinary.IsSupported))
                {
                    var y = new byte[outShape.ElementCount];
                    QLinearBinary.Run(path, mul, B(a), B(b), y, dims, st[0], st[1], za, zb, ma, mb, shift, limit, zc, 0, 255);
                    Assert.True(want.SequenceEqual(y), $"{op} {path} {shapeA}+{shapeB} zp {za},{zb},{zc}");
                    // A fused activation's narrower clamp (the clamp of the full-range result).
                    QLinearBinary.Run(path, mul, B(a), B(b), y, dims, st[0], st[1], za, zb, ma, mb, shift, limit, zc, 10, 200);
                    Assert.True(want.Select(v => Math.Clamp(v, (byte)10, (byte)200)).SequenceEqual(y), $"{op} {path} {shapeA}+{shapeB} clamp [10, 200]");
                }
            }
        }
    }

    [Fact]
    public void Fused_relu_and_clip_narrow_the_clamp_and_int8_matches_shifted_uint8()
    {
        var rng = new Random(5);
        var a = Bytes(new Shape(64), rng); var b = Bytes(new Shape(64), rng);
        var ins = new Tensor?[] { a, Scale(0.05f), Zp(100), b, Scale(0.04f), Zp(140), Scale(0.06f), Zp(120) };
        var plain = B(Eval("QLinearAdd", ins));
        var relu = B(Eval("QLinearAdd", ins, act: new FusedActivation("Relu")));
        var clip = B(Eval("QLinearAdd", ins, act: new FusedActivation("Clip", -1f, 2f)));
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(Math.Max(plain[i], (byte)120), relu[i]);
            Assert.Equal(Math.Clamp((int)plain[i], 120 - 17, 120 + 33), (int)clip[i]); // round(−1/0.06) = −17, round(2/0.06) = 33
        }
        // The same values as int8 (−128) with zero points −128: identical integer math, outputs shifted by 128.
        Tensor S8(Tensor t) => new(DataType.Int8, t.Shape, B(t).Select(v => (sbyte)(v - 128)).ToArray());
        foreach (var op in new[] { "QLinearAdd", "QLinearMul" })
        {
            var u = B(Eval(op, ins));
            var s = (sbyte[])Eval(op, new Tensor?[] { S8(a), Scale(0.05f), ZpS8(-28), S8(b), Scale(0.04f), ZpS8(12), Scale(0.06f), ZpS8(-8) }).Data;
            Assert.Equal(u.Select(v => v - 128), s.Select(v => (int)v));
        }
    }

    // ---- pooling -------------------------------------------------------------------------------------------------

    public static IEnumerable<object[]> PoolCases() => new[]
    {
        // N C H W, kH kW, sH sW, pads (t l b r), ceil, includePad
        new object[] { "1x2x7x9", 3, 3, 1, 1, 1, 1, 1, 1, 0, 0 },
        new object[] { "1x2x7x9", 3, 3, 1, 1, 1, 1, 1, 1, 0, 1 },
        new object[] { "1x3x8x40", 2, 2, 2, 2, 0, 0, 0, 0, 0, 0 },
        new object[] { "2x1x9x37", 3, 5, 2, 1, 1, 2, 1, 2, 1, 0 },
        new object[] { "1x2x9x37", 3, 5, 2, 1, 1, 2, 1, 2, 1, 1 },
        new object[] { "1x4x25x20", 1, 20, 1, 1, 0, 0, 0, 0, 0, 0 },
        new object[] { "1x1x5x5", 5, 5, 1, 1, 2, 2, 2, 2, 0, 0 },
    };

    [Theory]
    [MemberData(nameof(PoolCases))]
    public void QLinearAveragePool_paths_match_Evaluate(string shape, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int ceil, int includePad)
    {
        var rng = new Random(kh * 100 + kw * 10 + includePad);
        var xs = Shape.ParseCompact(shape);
        var attrs = new Dictionary<string, AttributeValue>
        {
            ["kernel_shape"] = AttributeValue.IntList(new long[] { kh, kw }), ["strides"] = AttributeValue.IntList(new long[] { sh, sw }),
            ["pads"] = AttributeValue.IntList(new long[] { pt, pl, pb, pr }), ["ceil_mode"] = AttributeValue.Int(ceil),
            ["count_include_pad"] = AttributeValue.Int(includePad),
        };
        foreach (var (sx, zx, sy, zy) in new[] { (0.02f, 0, 0.02f, 0), (0.05f, 128, 0.03f, 100), (0.01f, 255, 0.1f, 3), (0.3f, 7, 0.05f, 250) })
        {
            var x = Bytes(xs, rng);
            var want = Eval("QLinearAveragePool", new Tensor?[] { x, Scale(sx), Zp(zx), Scale(sy), Zp(zy) }, attrs);
            int outH = want.Shape[2], outW = want.Shape[3], k = kh * kw;
            var mult = QLinearPoolOp.Multipliers(Ctx("QLinearAveragePool"), sx, sy, k);
            foreach (var path in Enum.GetValues<QLinearPool.Path>().Where(QLinearPool.IsSupported))
            {
                var y = new byte[want.Shape.ElementCount];
                QLinearPool.AverageRun(path, B(x), y, new int[outW], xs[0] * xs[1], xs[2], xs[3], outH, outW, kh, kw, sh, sw, pt, pl, includePad != 0, zx,
                    mult.Select(m => m.Multiplier).ToArray(), mult.Select(m => m.Shift).ToArray(), mult.Select(m => m.AccLimit).ToArray(), zy);
                Assert.True(B(want).SequenceEqual(y), $"{path} zp {zx}->{zy}");
            }
        }
    }

    [Theory]
    [InlineData(1)] [InlineData(15)] [InlineData(16)] [InlineData(31)] [InlineData(32)] [InlineData(33)] [InlineData(100)] [InlineData(1960)]
    public void QLinearGlobalAveragePool_paths_match_Evaluate(int size)
    {
        var rng = new Random(size);
        var xs = new Shape(2, 3, 1, size);
        var attrs = new Dictionary<string, AttributeValue> { ["channels_last"] = AttributeValue.Int(0) };
        foreach (var (sx, zx, sy, zy) in new[] { (0.02f, 0, 0.02f, 0), (0.05f, 128, 0.03f, 100), (0.01f, 255, 0.1f, 3), (0.3f, 7, 0.05f, 250) })
        {
            var x = Bytes(xs, rng, size == 100 ? 250 : 0, 256);
            var want = Eval("QLinearGlobalAveragePool", new Tensor?[] { x, Scale(sx), Zp(zx), Scale(sy), Zp(zy) }, attrs);
            var m = QFixedMultiplier.FromReal((double)sx / ((double)sy * size));
            foreach (var path in Enum.GetValues<QLinearPool.Path>().Where(QLinearPool.IsSupported))
            {
                var y = new byte[6];
                QLinearPool.GlobalAverageRun(path, B(x), y, 6, size, zx, m.Multiplier, m.Shift, m.AccLimit, zy);
                Assert.True(B(want).SequenceEqual(y), $"{path} zp {zx}->{zy}");
            }
        }
    }

    // ---- softmax -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("1x10", 13, -1)] [InlineData("3x7", 13, -1)] [InlineData("2x33", 13, 1)] [InlineData("2x5x3", 13, 1)]
    [InlineData("2x4x6", 1, 1)] [InlineData("4x16", 1, 1)] [InlineData("2x3x4", 13, 0)]
    public void QLinearSoftmax_paths_match_Evaluate(string shape, int opset, int axis)
    {
        var rng = new Random(opset * 31 + axis);
        var xs = Shape.ParseCompact(shape);
        var attrs = new Dictionary<string, AttributeValue> { ["opset"] = AttributeValue.Int(opset), ["axis"] = AttributeValue.Int(axis) };
        foreach (var (sx, zx, sy, zy) in new[] { (0.1f, 128, 1 / 256f, 0), (0.04f, 30, 1 / 255f, 0), (0.5f, 0, 1 / 128f, 100) })
        {
            var x = Bytes(xs, rng);
            var want = Eval("QLinearSoftmax", new Tensor?[] { x, Scale(sx), Zp(zx), Scale(sy), Zp(zy) }, attrs);
            var ctx = new OpContext(new Node("n", "QLinearSoftmax", Ms, new[] { "x" }, new[] { "y" }, attrs), new TensorType?[] { x.Type }, new Tensor?[] { null }, 1);
            var (outer, d, inner) = QLinearSoftmaxOp.Geometry(ctx, xs);
            foreach (var path in Enum.GetValues<QLinearSoftmax.Path>().Where(QLinearSoftmax.IsSupported))
            {
                var y = new byte[xs.ElementCount];
                QLinearSoftmax.RunPath(path, B(x), QLinearSoftmaxOp.Table(sx, d), y, new float[d], outer, d, inner, QLinearSoftmaxOp.OutputFactor(sy), zy);
                Assert.True(B(want).SequenceEqual(y), $"{path} {shape}");
            }
        }
    }

    // ---- compiled through the real emitter, against Evaluate and ONNX Runtime -------------------------------------

    private sealed record QModel(string Name, ModelProto Model, Tensor[] Inputs);

    private static TensorProto Init(string name, Tensor t)
    {
        var p = new TensorProto { Name = name, DataType = (int)t.ElementType, Dims = { t.Shape.ToArray().Select(d => (long)d) } };
        p.RawData = ByteString.CopyFrom(t.ElementType == DataType.Float
            ? ((float[])t.Data).SelectMany(BitConverter.GetBytes).ToArray()
            : (byte[])t.Data);
        return p;
    }

    /// <summary>One com.microsoft node over uint8 graph inputs; other inputs (scales, zero points) as initializers.</summary>
    private static QModel Single(string name, string op, (string Name, Tensor Value, bool GraphInput)[] inputs, Shape outShape, params (string, AttributeValue)[] attrs)
    {
        var g = new GraphProto { Name = name };
        foreach (var (n, v, gi) in inputs)
        {
            if (n.Length == 0) continue;
            if (gi) g.Input.Add(OnnxBuilder.Value(n, v.Shape.ToArray().Select(d => (object?)(long)d).ToArray(), TensorProto.Types.DataType.Uint8));
            else g.Initializer.Add(Init(n, v));
        }
        g.Output.Add(OnnxBuilder.Value("y", outShape.ToArray().Select(d => (object?)(long)d).ToArray(), TensorProto.Types.DataType.Uint8));
        var node = OnnxBuilder.Node(op, "n0", inputs.Select(i => i.Name).ToArray(), new[] { "y" }, Ms);
        foreach (var (k, v) in attrs)
        {
            var a = new AttributeProto { Name = k };
            if (v.Kind == AttributeKind.Int) { a.Type = AttributeProto.Types.AttributeType.Int; a.I = v.I; }
            else if (v.Kind == AttributeKind.Float) { a.Type = AttributeProto.Types.AttributeType.Float; a.F = v.F; }
            else { a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(v.Ints); }
            node.Attribute.Add(a);
        }
        g.Node.Add(node);
        var m = OnnxBuilder.Model(g, opset: 13);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = Ms, Version = 1 });
        return new QModel(name, m, inputs.Where(i => i.GraphInput).Select(i => i.Value).ToArray());
    }

    private static IEnumerable<QModel> EndToEndModels()
    {
        var rng = new Random(2024);
        (string, Tensor, bool) P(string n, Tensor t) => (n, t, false);
        var a = Bytes(new Shape(2, 3, 5, 7), rng); var b = Bytes(new Shape(3, 1, 7), rng);
        var binary = new[] { ("a", a, true), P("sa", Scale(0.031f)), P("za", Zp(121)), ("b", b, true), P("sb", Scale(0.017f)), P("zb", Zp(4)), P("sc", Scale(0.04f)), P("zc", Zp(130)) };
        yield return Single("qadd", "QLinearAdd", binary, a.Shape);
        yield return Single("qmul", "QLinearMul", binary, a.Shape);
        var x = Bytes(new Shape(1, 3, 9, 11), rng);
        var pool = new[] { ("x", x, true), P("sx", Scale(0.05f)), P("zx", Zp(128)), P("sy", Scale(0.03f)), P("zy", Zp(110)) };
        foreach (int inc in new[] { 0, 1 })
            yield return Single("qavgpool" + inc, "QLinearAveragePool", pool, new Shape(1, 3, 5, 6), ("kernel_shape", AttributeValue.IntList(new long[] { 3, 3 })),
                ("strides", AttributeValue.IntList(new long[] { 2, 2 })), ("pads", AttributeValue.IntList(new long[] { 1, 1, 1, 1 })), ("count_include_pad", AttributeValue.Int(inc)));
        yield return Single("qgap", "QLinearGlobalAveragePool", pool, new Shape(1, 3, 1, 1), ("channels_last", AttributeValue.Int(0)));
        var logits = Bytes(new Shape(3, 10), rng);
        yield return Single("qsoftmax", "QLinearSoftmax", new[] { ("x", logits, true), P("sx", Scale(0.08f)), P("zx", Zp(128)), P("sy", Scale(1 / 256f)), P("zy", Zp(0)) },
            logits.Shape, ("opset", AttributeValue.Int(13)), ("axis", AttributeValue.Int(-1)));
        var c0 = Bytes(new Shape(1, 2, 3, 4), rng); var c1 = Bytes(new Shape(1, 3, 3, 4), rng);
        yield return Single("qconcat", "QLinearConcat", new[] { P("sy", Scale(0.05f)), P("zy", Zp(128)), ("c0", c0, true), P("s0", Scale(0.05f)), P("z0", Zp(128)),
            ("c1", c1, true), P("s1", Scale(0.02f)), P("z1", Zp(10)) }, new Shape(1, 5, 3, 4), ("axis", AttributeValue.Int(1)));
        var v = Bytes(new Shape(4, 64), rng);
        var unary = new[] { ("x", v, true), P("sx", Scale(0.06f)), P("zx", Zp(128)), P("sy", Scale(1 / 256f)), P("zy", Zp(0)) };
        yield return Single("qsigmoid", "QLinearSigmoid", unary, v.Shape);
        yield return Single("qleaky", "QLinearLeakyRelu", new[] { ("x", v, true), P("sx", Scale(0.06f)), P("zx", Zp(128)), P("sy", Scale(0.05f)), P("zy", Zp(20)) },
            v.Shape, ("alpha", AttributeValue.Float(0.1f)));
    }

    [Fact]
    public void Compiled_models_equal_Evaluate_and_stay_within_one_step_of_OnnxRuntime()
    {
        using var dir = new TempDir();
        foreach (var m in EndToEndModels())
        {
            string path = OnnxBuilder.Save(m.Model, dir.Path, m.Name + ".onnx");
            var r = Pipeline.ModelCompiler.Compile(new Pipeline.CompileOptions { ModelPath = path, ClassName = "M", Namespace = "Test" });
            Assert.True(r.Success, m.Name + ": " + string.Join("\n", r.Diagnostics));
            var reference = B(Interpreter.FloatInterpreter.Run(r.Graph!, m.Inputs)[0]);
            var (asm, _) = CompiledModels.CompileModel(path);
            var compiled = B(asm.Create().Run(m.Inputs)[0]);
            Assert.True(reference.SequenceEqual(compiled), m.Name + ": compiled code differs from Evaluate");

            using var session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1 });
            var feeds = m.Model.Graph.Input.Select((vi, i) => NamedOnnxValue.CreateFromTensor(vi.Name,
                new DenseTensor<byte>(B(m.Inputs[i]), m.Inputs[i].Shape.ToArray()))).ToList();
            using var res = session.Run(feeds);
            var ort = res.First().AsEnumerable<byte>().ToArray();
            int maxDiff = reference.Zip(ort, (p, q) => Math.Abs(p - q)).Max();
            int exact = reference.Zip(ort, (p, q) => p == q ? 1 : 0).Sum();
            _out.WriteLine($"{m.Name}: {exact}/{ort.Length} equal to ONNX Runtime, max diff {maxDiff}");
            Assert.True(maxDiff <= 1, $"{m.Name}: max diff {maxDiff} from ONNX Runtime");
        }
    }
}
