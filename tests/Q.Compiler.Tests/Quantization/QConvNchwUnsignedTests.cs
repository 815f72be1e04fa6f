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
/// QConvNchw's unsigned mode (pair-safe weights on raw uint8 activations, no sign trick): every path against the integer
/// reference, bit for bit, on pair-safe weights at the bound (same-signed pair parts summing to exactly ±128, −128 paired
/// with 0 or a positive weight) and activations mostly at 0 and 255; the unsigned pair-quads and float-clamp flags; the
/// float-input entry; and the lowering's choice of the mode (exactly when every output channel is pair-safe).
/// </summary>
public class QConvNchwUnsignedTests
{
    /// <summary>A pair of weights whose same-signed parts are within ±128, often exactly at the bound.</summary>
    private static (int, int) SafePair(Random rng) => rng.Next(6) switch
    {
        0 => (rng.Next(-64, 64), rng.Next(-64, 64)),
        1 => new[] { (127, 1), (64, 64), (1, 127), (-128, 0), (0, -128), (-64, -64), (-100, -28), (100, 28), (127, -128), (-128, 127) }[rng.Next(10)],
        2 => LargeWithSmall(rng),
        3 => (rng.Next(-128, 128), 0),
        _ => (rng.Next(-40, 41), rng.Next(-88, 89)),
    };

    /// <summary>A large weight of either sign with a partner that keeps the pair's same-signed parts within ±128.</summary>
    private static (int, int) LargeWithSmall(Random rng)
    {
        int a = rng.Next(2) == 0 ? rng.Next(90, 128) : rng.Next(-128, -89);
        int b = a > 0 ? rng.Next(-128, 128 - a + 1) : rng.Next(-128 - a, 128);
        return rng.Next(2) == 0 ? (a, b) : (b, a);
    }

    /// <summary>Pair-safe OIHW weights, M × K (an odd K leaves the last weight paired with the padding zero).</summary>
    internal static int[] PairSafeWeights(Random rng, int m, int k)
    {
        var w = new int[m * k];
        for (int oc = 0; oc < m; oc++)
            for (int i = 0; i < k; i += 2)
            {
                var (a, b) = SafePair(rng);
                w[oc * k + i] = a;
                if (i + 1 < k) w[oc * k + i + 1] = b;
            }
        Assert.True(QConvWeights.AllPairSafe(w, m, k));
        return w;
    }

    private static QConvKernelTests.GemmCase UnsignedCase(Random rng, int[] g, int zx, int zy)
    {
        var c = QConvKernelTests.MakeCase(rng, g, zx, zy, minus128: true, weightZeroPoints: false);
        return c with { W = PairSafeWeights(rng, c.M, c.C * c.Taps) };
    }

    private static readonly int[] ZeroPoints = { 0, 1, 127, 128, 255, 77 };

    [Theory]
    [MemberData(nameof(QConvKernelTests.NchwPaths), MemberType = typeof(QConvKernelTests))]
    public void Unsigned_paths_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(31);
        int index = 0;
        foreach (var g in QConvKernelTests.GemmCases.Concat(QConvKernelTests.NchwCases).Where(g => g[15] == 1))
        {
            int zx = ZeroPoints[index % ZeroPoints.Length], zy = ZeroPoints[(index / 2 + 3) % ZeroPoints.Length];
            var c = UnsignedCase(rng, g, zx, zy);
            int k = c.C * c.Taps, plane = c.OH * c.OW;
            var (plain, sums, _) = QConvWeights.PackNchw(c.W, c.M, k);
            var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx, unsignedActivations: true);
            var want = QConvKernelTests.Reference(c);
            // The lowering's operand (weights + unsigned block flags), and the weights alone (every block clamps in float, widens every quad).
            foreach (var packed in new[] { QConvWeights.NchwWithFlags(plain, c.M, k, folded, c.Mult, unsignedActivations: true), plain })
                foreach (int chunk in new[] { QConvNchw.ChunkFor(k, plane), 16, 32 })
                {
                    var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                    var y = new byte[c.N * c.M * plane];
                    QConvNchw.Run(path, c.X, packed, folded, c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW,
                        c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi, unsignedActivations: true);
                    AssertSame(want, y, $"{path} case {index} [{string.Join(",", g)}] zx={zx} zy={zy} chunk={chunk} flags={packed.Length > plain.Length}");
                }
            index++;
        }
    }

    /// <summary>
    /// The unsigned pair-quads shortcut at its bound: in most groups (the pair weights t, t + 1 of quads 2j and 2j + 1) the
    /// positive parts sum to exactly 128 or the negative ones to exactly −128 (e.g. 127, 1, −128, 0), against activations at
    /// 255; block 0 has random pair-safe weights (almost surely unpaired) and row 8 one group at 129 (so its block widens
    /// every quad while still pair-safe: 127 + 1 and 1 + 0 are pairs of at most 128); row 5's scale 2^20 makes its block clamp in float.
    /// </summary>
    [Theory]
    [InlineData(1, 16, 9, 11, 12, 1, 1)]    // K = 16: two pairs of quads, partial last tile
    [InlineData(1, 20, 7, 9, 12, 1, 1)]     // K = 20: two pairs and a single quad
    [InlineData(1, 13, 5, 13, 9, 1, 1)]     // K = 13 padded to 16; M = 9 (a partial block)
    [InlineData(2, 8, 16, 16, 48, 1, 1)]    // K = 8, two images
    [InlineData(1, 4, 6, 20, 12, 3, 3)]     // 3x3, K = 36 (9 quads), packed straight from the padded image
    public void Unsigned_pair_quads_at_the_bound_match_the_integer_reference(int n, int ch, int h, int wd, int m, int kh, int kw)
    {
        if (!QConvNchw.IsSupported(QConvNchw.Path.Avx2)) return;
        var rng = new Random(41 + ch * 5 + m);
        int pad = kh / 2;
        var g = new[] { n, ch, h, wd, m, kh, kw, 1, 1, 1, 1, pad, pad, pad, pad, 1 };
        int k = ch * kh * kw, quads = (k + 3) / 4;
        var w = PairSafeWeights(rng, m, k);
        var atBound = new[] { new[] { 127, 1, 0, 0 }, new[] { -128, 0, 0, 0 }, new[] { 64, 64, -64, -64 }, new[] { 127, 1, -128, 0 }, new[] { 100, -128, 28, 0 } };
        for (int oc = 4; oc < m; oc++)
        {
            for (int j = 0; 2 * j + 1 < quads; j++)
                for (int t = 0; t < 4; t += 2)
                {
                    int[] group = { 8 * j + t, 8 * j + t + 1, 8 * j + 4 + t, 8 * j + 5 + t };
                    // Shuffled within the group but never two same-signed large weights in one pair (127, 1 | 0, 0 orders stay pair-safe).
                    var values = atBound[rng.Next(atBound.Length)].OrderBy(_ => rng.Next()).ToArray();
                    for (int i = 0; i < 4; i++)
                        if (group[i] < k) w[oc * k + group[i]] = values[i];
                }
            // Row 8: positive parts 127 + 1 + 1 = 129 in its first group: block 2 widens every quad.
            if (oc == 8 && k >= 8)
                (w[oc * k], w[oc * k + 1], w[oc * k + 4], w[oc * k + 5]) = (127, 1, 1, 0);
        }
        Assert.True(QConvWeights.AllPairSafe(w, m, k));
        var mult = Enumerable.Range(0, m).Select(j => RequantScale.FromReal(j == 5 ? 1 << 20 : j == 6 ? 1.0 : Math.Pow(2, -(4 + rng.NextDouble() * 10)))).ToArray();
        int[] zeroPoints = { 0, 128, 255, 77 };
        for (int variant = 0; variant < zeroPoints.Length; variant++)
        {
            int zx = zeroPoints[variant], zy = zeroPoints[(variant + 1) % zeroPoints.Length];
            var c = QConvKernelTests.MakeCase(rng, g, zx, zy, minus128: true, weightZeroPoints: false);
            var x = c.X.Select(v => variant == 0 ? (byte)255 : rng.Next(3) == 0 ? (byte)0 : rng.Next(2) == 0 ? (byte)255 : v).ToArray();
            c = c with { X = x, W = w, Mult = mult, Bias = c.Bias.Select(b => b / 4).ToArray() };
            var (plain, sums, _) = QConvWeights.PackNchw(c.W, c.M, k);
            var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx, unsignedActivations: true);
            var flags = QConvWeights.NchwBlockFlags(plain, c.M, k, folded, c.Mult, unsignedActivations: true);
            // Block 2 (row 8) widens every quad, the others after block 0 pair; the block of row 5 clamps in float.
            Assert.Equal(flags.Skip(1).Select((f, b) => b == 1 ? 0 : QConvWeights.NchwPairQuads).ToArray(),
                flags.Skip(1).Select(f => f & QConvWeights.NchwPairQuads).ToArray());
            Assert.Equal(QConvWeights.NchwFloatClamp, flags[1] & QConvWeights.NchwFloatClamp);
            // The signed bound (four |w| ≤ 255) would refuse most of these groups: the unsigned flags are their own.
            Assert.Contains(QConvWeights.NchwBlockFlags(plain, c.M, k, QConvWeights.NchwBias(c.Bias, sums, c.Zx), c.Mult).Skip(1), f => (f & QConvWeights.NchwPairQuads) == 0);
            var want = QConvKernelTests.Reference(c);
            int plane = c.OH * c.OW;
            foreach (var path in new[] { QConvNchw.Path.Avx2, QConvNchw.Path.Avx512BW }.Where(QConvNchw.IsSupported))
            foreach (int chunk in new[] { QConvNchw.ChunkFor(k, plane), 16 })
            {
                var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                var y = new byte[c.N * c.M * plane];
                QConvNchw.Run(path, c.X, QConvWeights.NchwWithFlags(plain, c.M, k, folded, c.Mult, unsignedActivations: true), folded,
                    c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR,
                    c.Zx, c.Zy, c.Lo, c.Hi, unsignedActivations: true);
                AssertSame(want, y, $"{path} [{string.Join(",", g)}] zx={zx} zy={zy} lo={c.Lo} hi={c.Hi} chunk={chunk}");
            }
        }
    }

    /// <summary>The signed bound does not hold for pair-safe weights in general: an unsigned flag byte must not be read in signed mode and vice versa.</summary>
    [Fact]
    public void Unsigned_flags_use_the_raw_byte_bounds()
    {
        // One block, K = 8: row 0's group t = 0 is 127, 1 | −128, 0 (unsigned: +128 / −128, pairs; signed: 256 > 255, no pairs).
        var w = new int[4 * 8];
        (w[0], w[1], w[4], w[5]) = (127, 1, -128, 0);
        var (plain, _, _) = QConvWeights.PackNchw(w, 4, 8);
        var zeroBias = new int[4];
        var scales = Enumerable.Repeat(1f / 4096, 4).ToArray();
        Assert.Equal(QConvWeights.NchwPairQuads, QConvWeights.NchwBlockFlags(plain, 4, 8, zeroBias, scales, unsignedActivations: true)[0] & QConvWeights.NchwPairQuads);
        Assert.Equal(0, QConvWeights.NchwBlockFlags(plain, 4, 8, zeroBias, scales)[0] & QConvWeights.NchwPairQuads);
        // Positive parts 129 over the four: unsigned refuses.
        (w[0], w[1], w[4], w[5]) = (127, 1, 1, 0);
        (plain, _, _) = QConvWeights.PackNchw(w, 4, 8);
        Assert.Equal(0, QConvWeights.NchwBlockFlags(plain, 4, 8, zeroBias, scales, unsignedActivations: true)[0] & QConvWeights.NchwPairQuads);
        // Float clamp: 255·Σ|w| = 255·129 = 32895; times a scale of 2^15 is above 2^30 only in unsigned mode (128·129·2^15 < 2^30).
        var big = Enumerable.Repeat(32768f, 4).ToArray();
        Assert.Equal(QConvWeights.NchwFloatClamp, QConvWeights.NchwBlockFlags(plain, 4, 8, zeroBias, big, unsignedActivations: true)[0] & QConvWeights.NchwFloatClamp);
        Assert.Equal(0, QConvWeights.NchwBlockFlags(plain, 4, 8, zeroBias, big)[0] & QConvWeights.NchwFloatClamp);
    }

    [Theory]
    [MemberData(nameof(QConvKernelTests.NchwPaths), MemberType = typeof(QConvKernelTests))]
    public void Unsigned_float_input_matches_quantize_then_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(37);
        int index = 0;
        foreach (var g15 in QConvFloatInputTests.Cases)
        {
            var g = g15.Append(1).ToArray();
            int qzp = new[] { 128, 0, 255, 37, 200 }[index % 5], zx = index % 3 == 0 ? qzp : (qzp + 11) % 256;
            float qscale = new[] { 2f / 255, 0.0173f, 1f, 0.5f, 3.1e-3f }[index % 5];
            var c = UnsignedCase(rng, g, zx, zy: (index * 41) % 256);
            var xf = QConvFloatInputTests.Floats(rng, c.X.Length, qscale, qzp);
            c = c with { X = xf.Select(v => (byte)QuantMath.Quantize(v, qscale, qzp, 0, 255)).ToArray() };
            var want = QConvKernelTests.Reference(c);
            var (packed, sums, _) = QConvWeights.PackNchw(c.W, c.M, c.C * c.Taps);
            var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx, unsignedActivations: true);
            packed = QConvWeights.NchwWithFlags(packed, c.M, c.C * c.Taps, folded, c.Mult, unsignedActivations: true);
            int plane = c.OH * c.OW;
            foreach (int chunk in new[] { QConvNchw.ChunkFor(c.C * c.Taps, plane), 16 })
            {
                var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                var y = new byte[c.N * c.M * plane];
                QConvNchw.RunFloatInput(path, xf, qscale, qzp, packed, folded, c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M,
                    c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi, unsignedActivations: true);
                AssertSame(want, y, $"{path} case {index} [{string.Join(",", g15)}] chunk={chunk}");
            }
            index++;
        }
    }

    /// <summary>
    /// x u8 [1, C, H, W] → QLinearConv (kernel <paramref name="kernel"/>, same padding) with the given int8 OIHW weights,
    /// per-channel weight scales, a bias; the uint8 output.
    /// </summary>
    private static GraphProto ConvGraph(Random rng, int c, int h, int wd, int m, int kernel, int[] weights)
    {
        var g = new GraphProto { Name = "qconv" };
        g.Input.Add(OnnxBuilder.Value("x", new object?[] { 1L, (long)c, (long)h, (long)wd }, TensorProto.Types.DataType.Uint8));
        g.Output.Add(OnnxBuilder.Value("y", null, TensorProto.Types.DataType.Uint8));
        g.Initializer.Add(ToProto("s_x", Tensor.FromFloats(Shape.Scalar, new[] { 0.02f })));
        g.Initializer.Add(ToProto("z_x", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 121 })));
        g.Initializer.Add(ToProto("w", new Tensor(DataType.Int8, new Shape(m, c, kernel, kernel), weights.Select(v => (sbyte)v).ToArray())));
        g.Initializer.Add(ToProto("w_s", Tensor.FromFloats(new Shape(m), Enumerable.Range(0, m).Select(i => 0.001f + 0.0003f * i).ToArray())));
        g.Initializer.Add(ToProto("w_z", new Tensor(DataType.Int8, new Shape(m), new sbyte[m])));
        g.Initializer.Add(ToProto("s_y", Tensor.FromFloats(Shape.Scalar, new[] { 0.05f })));
        g.Initializer.Add(ToProto("z_y", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 100 })));
        g.Initializer.Add(ToProto("b", new Tensor(DataType.Int32, new Shape(m), Enumerable.Range(0, m).Select(_ => rng.Next(-3000, 3000)).ToArray())));
        var conv = OnnxBuilder.Node("QLinearConv", "conv", new[] { "x", "s_x", "z_x", "w", "w_s", "w_z", "s_y", "z_y", "b" }, new[] { "y" });
        int pad = kernel / 2;
        conv.Attribute.Add(Attr("pads", pad, pad, pad, pad));
        g.Node.Add(conv);
        return g;
    }

    /// <summary>
    /// The lowering runs QConvNchw in unsigned mode exactly when every output channel is pair-safe (−128 allowed then),
    /// keeps the sign trick when one pair of one channel is over the bound, and leaves weights that are neither pair-safe nor
    /// free of −128 to QConv2D; each compiled model equals the ops' Evaluate.
    /// </summary>
    [Theory]
    [InlineData(1, "unsigned")]
    [InlineData(1, "one pair over")]
    [InlineData(1, "over, with -128")]
    [InlineData(3, "unsigned")]
    [InlineData(3, "one pair over")]
    [InlineData(3, "over, with -128")]
    public void The_lowering_picks_the_unsigned_mode_exactly_when_every_channel_is_pair_safe(int kernel, string variant)
    {
        const int c = 6, h = 9, wd = 20, m = 10;
        var rng = new Random(kernel * 7 + variant.Length);
        int k = c * kernel * kernel;
        var w = PairSafeWeights(rng, m, k);
        w[3 * k] = -128; w[3 * k + 1] = 5; // −128 in a pair-safe layer
        if (variant != "unsigned")
        {
            // Channel 7's last full pair: positive parts 129.
            int at = 7 * k + (k - 2 - k % 2);
            (w[at], w[at + 1]) = (100, 29);
            if (variant == "one pair over")
                for (int i = 0; i < w.Length; i++) w[i] = Math.Max(w[i], -127); // no −128 anywhere: the sign trick can take it
        }
        bool pairSafe = Enumerable.Range(0, m).All(oc => QConvWeights.IsPairSafe(w, oc * k, k));
        Assert.Equal(variant == "unsigned", pairSafe);
        var g = ConvGraph(rng, c, h, wd, m, kernel, w);
        using var dir = new TempDir();
        string path = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path);
        var (asm, plan) = CompiledModels.CompileModel(path);
        var layer = Assert.Single(plan.Layers);
        var call = Assert.Single(layer.Calls);
        if (variant == "over, with -128")
            Assert.Equal("QConv2D.Gemm", call.Target);
        else
        {
            Assert.Equal("QConvNchw.Gemm", call.Target);
            Assert.Equal(Plan.ArgKind.Bool, call.Args[^1].Kind);
            Assert.Equal(pairSafe ? 1 : 0, call.Args[^1].Integer);
            Assert.Contains(pairSafe ? "pair-safe weights: raw uint8 activations" : "weights not pair-safe: sign trick", layer.Detail);
        }

        var xs = Enumerable.Range(0, c * h * wd).Select(_ => (byte)(rng.Next(3) == 0 ? 255 : rng.Next(256))).ToArray();
        var x = new Tensor(DataType.UInt8, new Shape(1, c, h, wd), xs);
        var y = asm.Create().Run(x);
        g.Input.Clear();
        g.Initializer.Add(ToProto("x", x));
        string folded = OnnxBuilder.Save(OnnxBuilder.Model(g, 13), dir.Path, "folded.onnx");
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = folded, ClassName = "M", Namespace = "T" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Equal(r.Graph!.Constants["y"].ToLongs(), y[0].ToLongs());
        Assert.True(y[0].ToLongs().Distinct().Count() > 20, "a degenerate test: the output is nearly constant");
    }

    private static void AssertSame(byte[] want, byte[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            if (want[i] != got[i]) Assert.Fail($"{what}: element {i} is {got[i]}, reference {want[i]}");
    }
}
