using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QuantizeLinear fused into the QLinearConv that reads it (QConvNchw.GemmFloatInput): every kernel path against the Core
/// references (QuantMath.Quantize, then the integer convolution), bit for bit, on floats that probe the rounding
/// (exact ties, saturation, NaN, infinities, signed zeros); and the lowering's decision through the real emitter.
/// </summary>
public class QConvFloatInputTests
{
    /// <summary>n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr (one group, not pointwise).</summary>
    internal static readonly int[][] Cases =
    {
        new[] { 1, 3, 33, 31, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },    // first layer, K = 27, odd width
        new[] { 2, 3, 64, 64, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },    // rows of 32 packed straight from the padded image, two images
        new[] { 1, 3, 9, 1100, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },    // rows longer than a quantized piece (512), odd left padding
        new[] { 1, 2, 7, 600, 9, 3, 3, 1, 1, 1, 1, 1, 2, 1, 0 },     // stride 1, asymmetric pads, a piece boundary
        new[] { 1, 1, 28, 28, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2 },     // MNIST's first layer (5x5, rows of 28)
        new[] { 1, 4, 6, 12, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // rows of 12 (wd ≤ 16 copies), output rows below 16: patches
        new[] { 1, 5, 9, 50, 10, 3, 3, 3, 3, 1, 1, 1, 2, 1, 1 },      // stride 3
        new[] { 1, 3, 10, 40, 11, 3, 3, 2, 2, 2, 2, 2, 1, 2, 0 },     // dilation 2, stride 2
        new[] { 1, 3, 12, 45, 8, 3, 3, 2, 2, 1, 1, 0, 2, 1, 0 },      // stride 2, even left padding, rows of 45 (a scalar tail)
    };

    /// <summary>
    /// QuantizeLinear.RowSplit2 (the stride-2 float input's column phases; AVX-512 64 values per step, AVX2 32, then scalar)
    /// against the Core arithmetic, element by element, on lengths around both step sizes and zero points across the range.
    /// </summary>
    [Fact]
    public void RowSplit2_matches_the_core_quantization()
    {
        var rng = new Random(71);
        foreach (int n in new[] { 0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 1100 })
            foreach (var (scale, zp) in new[] { (2f / 255, 128), (0.0173f, 0), (1f, 255), (3.1e-3f, 37), (0.007804841f, 127) })
            {
                var x = Floats(rng, n, scale, zp);
                var even = new byte[(n + 1) / 2];
                var odd = new byte[n / 2];
                QuantizeLinear.RowSplit2(x, scale, zp, even, odd);
                for (int i = 0; i < n; i++)
                {
                    byte want = (byte)QuantMath.Quantize(x[i], scale, zp, 0, 255), got = i % 2 == 0 ? even[i / 2] : odd[i / 2];
                    if (want != got) Assert.Fail($"n={n} scale={scale} zp={zp}: x[{i}] = {x[i]:R} gives {got}, reference {want}");
                }
            }
    }

    public static readonly TheoryData<string> Paths = new() { "Scalar", "Vector128", "Avx2", "Avx512BW" };

    /// <summary>Floats around the quantization grid of (scale, zp): ties, just off ties, saturating values, NaN, ±∞, ±0.</summary>
    internal static float[] Floats(Random rng, int count, float scale, int zp)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++)
            x[i] = rng.Next(12) switch
            {
                0 => (rng.Next(-140, 140) + 0.5f) * scale,                                   // a tie (as close as float gets)
                1 => MathF.BitIncrement((rng.Next(-140, 140) + 0.5f) * scale),
                2 => MathF.BitDecrement((rng.Next(-140, 140) + 0.5f) * scale),
                3 => (float)(rng.NextDouble() * 2 - 1) * 1000 * scale,                       // saturates
                4 => rng.Next(5) switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, 3 => -0f, _ => 0f },
                _ => (float)(rng.NextDouble() * 2 - 1) * (200 + zp % 50) * scale,
            };
        return x;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Float_input_paths_match_quantize_then_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(23);
        int index = 0;
        foreach (var g15 in Cases)
        {
            var g = g15.Append(1).ToArray();
            int qzp = new[] { 128, 0, 255, 37, 200 }[index % 5], zx = index % 3 == 0 ? qzp : (qzp + 11) % 256;
            float qscale = new[] { 2f / 255, 0.0173f, 1f, 0.5f, 3.1e-3f }[index % 5];
            var c = QConvKernelTests.MakeCase(rng, g, zx, zy: (index * 41) % 256, minus128: path is not (QConvNchw.Path.Avx2 or QConvNchw.Path.Avx512BW), weightZeroPoints: false);
            var xf = Floats(rng, c.X.Length, qscale, qzp);
            // The reference: QuantizeLinear's Core arithmetic, then the integer convolution (padding with the conv's zx).
            var xq = xf.Select(v => (byte)QuantMath.Quantize(v, qscale, qzp, 0, 255)).ToArray();
            var kernelBytes = new byte[xf.Length];
            QuantizeLinear.ToUInt8(xf, new[] { qscale }, new[] { qzp }, kernelBytes, 1, xf.Length);
            Assert.Equal(xq, kernelBytes);
            c = c with { X = xq };
            var want = QConvKernelTests.Reference(c);
            var (packed, sums, _) = QConvWeights.PackNchw(c.W, c.M, c.C * c.Taps);
            int plane = c.OH * c.OW;
            foreach (int chunk in new[] { QConvNchw.ChunkFor(c.C * c.Taps, plane), 16 })
            {
                var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                var y = new byte[c.N * c.M * plane];
                QConvNchw.RunFloatInput(path, xf, qscale, qzp, packed, QConvWeights.NchwBias(c.Bias, sums, c.Zx), c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M,
                    c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                for (int i = 0; i < want.Length; i++)
                    if (want[i] != y[i]) Assert.Fail($"{path} case {index} [{string.Join(",", g15)}] chunk={chunk}: element {i} is {y[i]}, reference {want[i]}");
            }
            Assert.True(want.Distinct().Count() > 3, $"case {index}: a degenerate output ({want.Distinct().Count()} values)");
            index++;
        }
    }

    /// <summary>x f32 → QuantizeLinear(s_q, z_q) → QLinearConv 3x3 stride 2 (+ optionally the quantized tensor as a second output).</summary>
    private static GraphProto Graph(Random rng, bool quantizedIsOutput)
    {
        var g = new GraphProto { Name = "qfirst" };
        g.Input.Add(OnnxBuilder.Value("x", new object?[] { 1L, 3L, 37L, 50L }));
        g.Output.Add(OnnxBuilder.Value("y", null, TensorProto.Types.DataType.Uint8));
        if (quantizedIsOutput) g.Output.Add(OnnxBuilder.Value("xq", null, TensorProto.Types.DataType.Uint8));
        var w = new Tensor(DataType.Int8, new Shape(12, 3, 3, 3), Enumerable.Range(0, 12 * 27).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray());
        g.Initializer.Add(ToProto("s_q", Tensor.FromFloats(Shape.Scalar, new[] { 0.0213f })));
        g.Initializer.Add(ToProto("z_q", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 131 })));
        g.Initializer.Add(ToProto("w", w));
        g.Initializer.Add(ToProto("w_s", Tensor.FromFloats(new Shape(12), Enumerable.Range(0, 12).Select(i => 0.002f + 0.0007f * i).ToArray())));
        g.Initializer.Add(ToProto("w_z", new Tensor(DataType.Int8, new Shape(12), new sbyte[12])));
        g.Initializer.Add(ToProto("s_y", Tensor.FromFloats(Shape.Scalar, new[] { 0.04f })));
        g.Initializer.Add(ToProto("z_y", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 9 })));
        g.Initializer.Add(ToProto("b", new Tensor(DataType.Int32, new Shape(12), Enumerable.Range(0, 12).Select(_ => rng.Next(-4000, 4000)).ToArray())));
        g.Node.Add(OnnxBuilder.Node("QuantizeLinear", "q", new[] { "x", "s_q", "z_q" }, new[] { "xq" }));
        var conv = OnnxBuilder.Node("QLinearConv", "conv", new[] { "xq", "s_q", "z_q", "w", "w_s", "w_z", "s_y", "z_y", "b" }, new[] { "y" });
        conv.Attribute.Add(Attr("strides", 2L, 2L));
        conv.Attribute.Add(Attr("pads", 1L, 1L, 1L, 1L));
        g.Node.Add(conv);
        return g;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_lowering_fuses_a_quantize_read_only_by_the_convolution(bool quantizedIsOutput)
    {
        var rng = new Random(5);
        var g = Graph(rng, quantizedIsOutput);
        using var dir = new TempDir();
        string path = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path);
        var (asm, plan) = CompiledModels.CompileModel(path);
        var targets = plan.Layers.SelectMany(l => l.Calls).Select(c => c.Target).ToList();
        if (quantizedIsOutput)
        {
            // The quantized tensor is needed on its own: two layers, as before.
            Assert.Contains("QuantizeLinear.ToUInt8", targets);
            Assert.Contains("QConvNchw.Gemm", targets);
        }
        else
        {
            Assert.Equal(new[] { "QConvNchw.GemmFloatInput" }, targets);
            Assert.Equal(new[] { "q", "conv" }, plan.Layers[0].Nodes);
        }

        var xf = Floats(rng, 3 * 37 * 50, 0.0213f, 131);
        var x = Tensor.FromFloats(new Shape(1, 3, 37, 50), xf);
        var y = asm.Create().Run(x);

        // Reference: the same graph with x an initializer, folded by the ops' Evaluate.
        g.Input.Clear();
        g.Initializer.Add(ToProto("x", x));
        string folded = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path, "folded.onnx");
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = folded, ClassName = "M", Namespace = "T" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Equal(r.Graph!.Constants["y"].ToLongs(), y[0].ToLongs());
        Assert.True(y[0].ToLongs().Distinct().Count() > 20, "a degenerate test: the output is nearly constant");
        if (quantizedIsOutput) Assert.Equal(r.Graph.Constants["xq"].ToLongs(), y[1].ToLongs());
    }
}
