using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QConvNchw.GemmInt32 (ConvInteger on the NCHW-native GEMM): every path, in signed and unsigned mode, with and without the
/// block flags, bit for bit against the integer reference accumulators (ConvInteger's Evaluate: no bias); the lowering's
/// choice (constant x zero point, symmetric weights, one group, pair-safe or free of −128) and the compiled model against Evaluate.
/// </summary>
public class QConvNchwInt32Tests
{
    private static readonly int[] ZeroPoints = { 0, 1, 127, 128, 255, 77 };

    private const int Guard = 0x5A5A5A5A;

    /// <summary>Signed-mode weights whose four |w| of each pair-quads group stay within 255 (|w| ≤ 63, some at 63): the AVX2 tile pairs quads.</summary>
    private static int[] SmallWeights(Random rng, int count) =>
        Enumerable.Range(0, count).Select(_ => rng.Next(3) == 0 ? (rng.Next(2) == 0 ? 63 : -63) : rng.Next(-63, 64)).ToArray();

    [Theory]
    [MemberData(nameof(QConvKernelTests.NchwPaths), MemberType = typeof(QConvKernelTests))]
    public void Int32_paths_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(53);
        int index = 0;
        foreach (var g in QConvKernelTests.GemmCases.Concat(QConvKernelTests.NchwCases).Where(g => g[15] == 1))
            foreach (string mode in new[] { "signed", "signed small", "unsigned" })
            {
                int zx = ZeroPoints[index % ZeroPoints.Length];
                bool unsignedActivations = mode == "unsigned";
                var c = QConvKernelTests.MakeCase(rng, g, zx, 0, minus128: path is not (QConvNchw.Path.Avx2 or QConvNchw.Path.Avx512BW), weightZeroPoints: false);
                int k = c.C * c.Taps, plane = c.OH * c.OW;
                if (mode == "signed small") c = c with { W = SmallWeights(rng, c.M * k) };
                if (unsignedActivations) c = c with { W = QConvNchwUnsignedTests.PairSafeWeights(rng, c.M, k) };
                var (plain, sums, _) = QConvWeights.PackNchw(c.W, c.M, k);
                var folded = QConvWeights.NchwBias(Array.Empty<int>(), sums, c.Zx, unsignedActivations);
                var want = QConvKernelTests.ReferenceAccumulators(c, withBias: false);
                var withFlags = QConvWeights.NchwWithFlags(plain, c.M, k, folded, Enumerable.Repeat(1f, c.M).ToArray(), unsignedActivations);
                if (mode == "signed small" && k >= 8)
                    Assert.All(withFlags.Skip(plain.Length), f => Assert.Equal(QConvWeights.NchwPairQuads, f & QConvWeights.NchwPairQuads));
                foreach (var packed in new[] { withFlags, plain })
                    foreach (int chunk in new[] { QConvNchw.ChunkFor(k, plane), 16, 32 })
                    {
                        var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                        // A guard after the output: a tile must not store rows past M (the last block's padding rows).
                        var y = new int[c.N * c.M * plane + 4 * QConvNchw.PixelBlock];
                        Array.Fill(y, Guard);
                        QConvNchw.RunInt32(path, c.X, packed, folded, y, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW,
                            c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, unsignedActivations);
                        string what = $"{path} {mode} case {index} [{string.Join(",", g)}] zx={zx} chunk={chunk} flags={packed.Length > plain.Length}";
                        AssertSame(want, y.Take(want.Length).ToArray(), what);
                        Assert.True(y.Skip(want.Length).All(v => v == Guard), what + ": stored past the output");
                    }
                index++;
            }
    }

    /// <summary>The public entry picks the exact path: signed weights holding −128 leave AVX2; unsigned mode keeps it.</summary>
    [Fact]
    public void GemmInt32_dispatch_matches_the_integer_reference()
    {
        var rng = new Random(59);
        var g = new[] { 1, 64, 8, 10, 12, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 }; // an UltraFace head: 64→12 on 8×10
        foreach (bool unsignedActivations in new[] { false, true })
        {
            var c = QConvKernelTests.MakeCase(rng, g, 3, 0, minus128: true, weightZeroPoints: false);
            int k = c.C * c.Taps, plane = c.OH * c.OW;
            if (unsignedActivations) c = c with { W = QConvNchwUnsignedTests.PairSafeWeights(rng, c.M, k) };
            var (plain, sums, minus128) = QConvWeights.PackNchw(c.W, c.M, k);
            var folded = QConvWeights.NchwBias(Array.Empty<int>(), sums, c.Zx, unsignedActivations);
            var packed = QConvWeights.NchwWithFlags(plain, c.M, k, folded, Enumerable.Repeat(1f, c.M).ToArray(), unsignedActivations);
            var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, QConvNchw.ChunkFor(k, plane))];
            var y = new int[c.M * plane];
            QConvNchw.GemmInt32(c.X, packed, folded, y, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW,
                c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, minus128, unsignedActivations);
            AssertSame(QConvKernelTests.ReferenceAccumulators(c, withBias: false), y, $"unsigned={unsignedActivations}");
        }
    }

    /// <summary>x u8 [1, C, H, W] → ConvInteger (kernel <paramref name="kernel"/>, same padding), constant x zero point, optional weight zero points.</summary>
    private static GraphProto ConvIntegerGraph(int c, int h, int wd, int m, int kernel, int[] weights, sbyte[]? weightZeroPoints)
    {
        var g = new GraphProto { Name = "convinteger" };
        g.Input.Add(OnnxBuilder.Value("x", new object?[] { 1L, (long)c, (long)h, (long)wd }, TensorProto.Types.DataType.Uint8));
        g.Output.Add(OnnxBuilder.Value("y", null, TensorProto.Types.DataType.Int32));
        g.Initializer.Add(ToProto("w", new Tensor(DataType.Int8, new Shape(m, c, kernel, kernel), weights.Select(v => (sbyte)v).ToArray())));
        g.Initializer.Add(ToProto("z_x", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 121 })));
        var inputs = new List<string> { "x", "w", "z_x" };
        if (weightZeroPoints is not null)
        {
            g.Initializer.Add(ToProto("z_w", new Tensor(DataType.Int8, new Shape(m), weightZeroPoints)));
            inputs.Add("z_w");
        }
        var conv = OnnxBuilder.Node("ConvInteger", "conv", inputs.ToArray(), new[] { "y" });
        int pad = kernel / 2;
        conv.Attribute.Add(Attr("pads", pad, pad, pad, pad));
        g.Node.Add(conv);
        return g;
    }

    /// <summary>
    /// ConvInteger with a constant x zero point and symmetric weights lowers to QConvNchw.GemmInt32 (unsigned mode when every
    /// channel is pair-safe, else the sign trick); weights neither pair-safe nor free of −128, weight zero points, or planes
    /// under one tile keep QConv2D.GemmInt32. Each compiled model equals ConvInteger's Evaluate.
    /// </summary>
    [Theory]
    [InlineData(1, 30, 40, "unsigned")]        // an UltraFace head plane
    [InlineData(1, 15, 20, "signed")]
    [InlineData(3, 9, 20, "unsigned")]
    [InlineData(3, 9, 20, "signed")]
    [InlineData(1, 8, 10, "over, with -128")]
    [InlineData(1, 8, 10, "weight zero points")]
    [InlineData(1, 3, 4, "signed")]              // 12 pixels: under one tile
    public void ConvInteger_lowers_to_QConvNchw_when_it_can(int kernel, int h, int wd, string variant)
    {
        const int c = 16, m = 12;
        var rng = new Random(kernel * 11 + h + variant.Length);
        int k = c * kernel * kernel;
        var w = QConvNchwUnsignedTests.PairSafeWeights(rng, m, k);
        if (variant != "unsigned")
        {
            int at = 7 * k + (k - 2 - k % 2);
            (w[at], w[at + 1]) = (100, 29); // channel 7: positive parts 129, not pair-safe
            if (variant != "over, with -128")
                for (int i = 0; i < w.Length; i++) w[i] = Math.Max(w[i], -127);
            else
                w[2 * k] = -128;
        }
        sbyte[]? zw = variant == "weight zero points" ? Enumerable.Range(0, m).Select(i => (sbyte)(i % 3 - 1)).ToArray() : null;
        var g = ConvIntegerGraph(c, h, wd, m, kernel, w, zw);
        using var dir = new TempDir();
        string path = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path);
        var (asm, plan) = CompiledModels.CompileModel(path);
        var layer = Assert.Single(plan.Layers);
        var call = Assert.Single(layer.Calls);
        bool nchw = variant is "unsigned" or "signed" && h * wd >= 16;
        Assert.Equal(nchw ? "QConvNchw.GemmInt32" : "QConv2D.GemmInt32", call.Target);
        if (nchw)
        {
            Assert.Equal(variant == "unsigned" ? 1 : 0, call.Args[^1].Integer);
            Assert.Contains(variant == "unsigned" ? "pair-safe weights: raw uint8 activations" : "weights not pair-safe: sign trick", layer.Detail);
        }

        var xs = Enumerable.Range(0, c * h * wd).Select(_ => (byte)(rng.Next(3) == 0 ? 255 : rng.Next(3) == 0 ? 0 : rng.Next(256))).ToArray();
        var x = new Tensor(DataType.UInt8, new Shape(1, c, h, wd), xs);
        var y = asm.Create().Run(x);
        g.Input.Clear();
        g.Initializer.Add(ToProto("x", x));
        string folded = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path, "folded.onnx");
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = folded, ClassName = "M", Namespace = "T" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Equal(r.Graph!.Constants["y"].ToLongs(), y[0].ToLongs());
        Assert.True(y[0].ToLongs().Distinct().Count() > 10, "a degenerate test: the output is nearly constant");
    }

    private static void AssertSame(int[] want, int[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            if (want[i] != got[i]) Assert.Fail($"{what}: element {i} is {got[i]}, reference {want[i]}");
    }
}
