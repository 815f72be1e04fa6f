using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Every QConv2D path (each QGemm path under the pointwise and patch kernels; each depthwise path) against the Core
/// integer reference, bit for bit: tile edges, chunking, strides, pads, dilations, groups, 1-D, zero points across the
/// range, weights holding −128, weight zero points, and multipliers above 1.
/// </summary>
public class QConvKernelTests
{
    /// <summary>n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group.</summary>
    internal static readonly int[][] GemmCases =
    {
        new[] { 1, 32, 8, 8, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },     // pointwise, one panel
        new[] { 2, 5, 3, 7, 17, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },      // pointwise, partial panel, K tail, batch
        new[] { 1, 19, 17, 19, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },   // pointwise, odd plane (transpose edges)
        new[] { 1, 4, 9, 10, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },     // 3x3 same
        new[] { 1, 3, 13, 12, 16, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 1 },    // first-layer-like, stride 2, asymmetric pads
        new[] { 1, 6, 11, 11, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1 },     // dilation 2
        new[] { 1, 8, 7, 9, 12, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 4 },      // 4 groups of 2 → 3
        new[] { 1, 6, 5, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6 },       // depthwise through the GEMM (ConvInteger's route)
        new[] { 1, 16, 9, 9, 20, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1 },     // 1x1 stride 2
        new[] { 2, 5, 1, 23, 7, 1, 5, 1, 2, 1, 1, 0, 2, 0, 2, 1 },      // 1-D
        new[] { 1, 3, 10, 10, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1 },     // 5x5
        new[] { 1, 2, 6, 7, 3, 2, 3, 3, 1, 1, 2, 0, 1, 2, 0, 1 },       // 2x3, strides 3x1, dilation 1x2
        new[] { 1, 3, 9, 37, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },     // 3 channels, rows of 37: interleaved 16 pixels at a time
        new[] { 1, 20, 5, 6, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },     // patch runs of 60 bytes (several 16-byte copies)
    };

    private static readonly int[] ZeroPoints = { 0, 1, 127, 128, 255 };

    internal sealed record GemmCase(int[] G, byte[] X, int[] W, int[] Zw, int[] Bias, float[] Mult, int Zx, int Zy, int Lo, int Hi)
    {
        public int N => G[0]; public int C => G[1]; public int H => G[2]; public int Wd => G[3]; public int M => G[4];
        public int KH => G[5]; public int KW => G[6]; public int SH => G[7]; public int SW => G[8]; public int DH => G[9]; public int DW => G[10];
        public int PT => G[11]; public int PL => G[12]; public int PB => G[13]; public int PR => G[14]; public int Group => G[15];
        public int OH => (H + PT + PB - ((KH - 1) * DH + 1)) / SH + 1;
        public int OW => (Wd + PL + PR - ((KW - 1) * DW + 1)) / SW + 1;
        public int Taps => KH * KW;
    }

    internal static GemmCase MakeCase(Random rng, int[] g, int zx, int zy, bool minus128, bool weightZeroPoints)
    {
        var c = new GemmCase(g, Array.Empty<byte>(), Array.Empty<int>(), Array.Empty<int>(), Array.Empty<int>(), Array.Empty<float>(), zx, zy, 0, 255);
        var x = new byte[c.N * c.C * c.H * c.Wd];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Next(4) switch { 0 => 0, 1 => 255, _ => (byte)rng.Next(256) };
        var w = new int[c.M * c.C / c.Group * c.Taps];
        int wmin = minus128 ? -128 : -127;
        for (int i = 0; i < w.Length; i++) w[i] = rng.Next(4) switch { 0 => wmin, 1 => 127, _ => rng.Next(wmin, 128) };
        var zw = Enumerable.Range(0, c.M).Select(_ => weightZeroPoints ? rng.Next(-128, 128) : 0).ToArray();
        var bias = Enumerable.Range(0, c.M).Select(_ => rng.Next(-1 << 18, 1 << 18)).ToArray();
        var mult = Enumerable.Range(0, c.M).Select(j => RequantScale.FromReal(j switch
        {
            0 => 1.0, 1 => 3.75, 2 => 1e-12, 3 => 0.25, _ => Math.Pow(2, -(6 + rng.NextDouble() * 12)),
        })).ToArray();
        int lo = rng.Next(3) == 0 ? zy : 0, hi = rng.Next(3) == 0 ? Math.Max(lo, rng.Next(256)) : 255;
        return c with { X = x, W = w, Zw = zw, Bias = bias, Mult = mult, Lo = lo, Hi = hi };
    }

    internal static int[] ReferenceAccumulators(GemmCase c, bool withBias) =>
        QConvReference.Accumulate(c.X.Select(v => (int)v).ToArray(), c.W, withBias ? c.Bias : Array.Empty<int>(), c.N, c.C, c.H, c.Wd, c.M, c.Group,
            c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.Zx, c.Zw);

    internal static byte[] Reference(GemmCase c) =>
        IntegerReference.Requantize(ReferenceAccumulators(c, withBias: true), c.Mult, c.OH * c.OW, c.Zy, c.Lo, c.Hi).Select(v => (byte)v).ToArray();

    private static int ScratchFor(GemmCase c, int chunk, bool int32) =>
        QConv2D.GemmScratchLength(c.C, c.H, c.Wd, c.M, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, c.Group, chunk, int32);

    private static (byte[] Y8, int[] Y32) RunGemm(QGemm.Path path, GemmCase c, int chunk, bool int32)
    {
        var (packed, sums, _) = QConvWeights.PackGemm(c.W, c.M, c.C / c.Group, c.Taps, c.Group);
        var scratch = new byte[ScratchFor(c, chunk, int32)];
        int len = c.N * c.M * c.OH * c.OW;
        var y8 = int32 ? Array.Empty<byte>() : new byte[len];
        var y32 = int32 ? new int[len] : Array.Empty<int>();
        QConv2D.RunGemm(path, c.X, packed, sums, int32 ? default : c.Bias, c.Zw, c.Mult, y8, y32, scratch, c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW,
            c.PT, c.PL, c.PB, c.PR, c.Group, c.Zx, c.Zy, c.Lo, c.Hi);
        return (y8, y32);
    }

    private static void AssertSame<T>(T[] want, T[] got, string what) where T : IEquatable<T>
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            if (!want[i].Equals(got[i])) Assert.Fail($"{what}: element {i} is {got[i]}, reference {want[i]}");
    }

    [Theory]
    [MemberData(nameof(QGemmKernelTests.AllPaths), MemberType = typeof(QGemmKernelTests))]
    public void Gemm_paths_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QGemm.Path>(pathName);
        if (!QGemm.IsSupported(path)) return; // this CPU cannot run it; the dispatch tests cover what it selects
        bool takesMinus128 = path is not (QGemm.Path.Avx2 or QGemm.Path.Avx512BW);
        var rng = new Random(99);
        int index = 0;
        foreach (var g in GemmCases)
            foreach (bool zeroPoints in new[] { false, true })
            {
                int zx = ZeroPoints[index % ZeroPoints.Length], zy = ZeroPoints[(index / 2 + 3) % ZeroPoints.Length];
                var c = MakeCase(rng, g, zx, zy, takesMinus128, zeroPoints);
                int plane = c.OH * c.OW;
                // Whole plane in one chunk, and 16-pixel chunks (many chunks and a partial last one).
                foreach (int chunk in new[] { QConv2D.ChunkFor(c.C / c.Group * c.Taps, plane), 16 })
                {
                    string what = $"{path} case {index} [{string.Join(",", g)}] zx={zx} zy={zy} zw={zeroPoints} chunk={chunk}";
                    AssertSame(Reference(c), RunGemm(path, c, chunk, int32: false).Y8, what);
                    AssertSame(ReferenceAccumulators(c, withBias: false), RunGemm(path, c, chunk, int32: true).Y32, what + " int32");
                }
                index++;
            }
    }

    /// <summary>One-group cases for the NCHW-native kernel on top of <see cref="GemmCases"/>: tile edges in rows and pixels.</summary>
    internal static readonly int[][] NchwCases =
    {
        new[] { 1, 8, 16, 16, 48, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },    // K = 8 expansion, whole tiles
        new[] { 1, 7, 5, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },       // 25 pixels, 6 channels: partial pixel block and row block
        new[] { 1, 3, 33, 31, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },    // first layer, K = 27, odd width, odd padding phase
        new[] { 1, 3, 40, 70, 9, 3, 3, 2, 2, 1, 1, 0, 1, 0, 0, 1 },     // stride 2 on rows of 70 (vector phase split), 9 channels
        new[] { 1, 5, 9, 50, 5, 3, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1 },      // stride 3
        new[] { 1, 64, 4, 4, 130, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },    // 16 pixels, deep K
        new[] { 2, 3, 64, 64, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },    // first layer, rows of 32: packed straight from the padded image
        new[] { 1, 6, 7, 32, 10, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1 },     // dilation 2, rows of 32 (direct)
        new[] { 1, 2, 5, 64, 4, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, 1 },      // 1x3, stride 2, rows of 32 (direct)
        new[] { 1, 4, 9, 20, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },      // rows of 20: direct blocks that cross into the next output row
        new[] { 1, 3, 30, 81, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1 },     // stride 2, rows of 41: crossing blocks and a partial last block
        new[] { 2, 5, 6, 17, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1 },      // dilation 2, rows of 17, two images
        new[] { 1, 3, 7, 150, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1 },     // rows of 150: 64- and 32-pixel packs within a row, then crossing blocks
        new[] { 1, 5, 2, 100, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1 },     // pointwise, 200 pixels: 64-pixel packs, then 16-pixel ones and a partial block
    };

    private const int GuardBytes = 1024;

    public static readonly TheoryData<string> NchwPaths = new() { "Scalar", "Vector128", "Avx2", "Avx512BW" };

    [Theory]
    [MemberData(nameof(NchwPaths))]
    public void Nchw_paths_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConvNchw.Path>(pathName);
        if (!QConvNchw.IsSupported(path)) return;
        var rng = new Random(17);
        int index = 0;
        foreach (var g in GemmCases.Concat(NchwCases).Where(g => g[15] == 1))
        {
            int zx = ZeroPoints[index % ZeroPoints.Length], zy = ZeroPoints[(index / 2 + 3) % ZeroPoints.Length];
            var c = MakeCase(rng, g, zx, zy, minus128: path is not (QConvNchw.Path.Avx2 or QConvNchw.Path.Avx512BW), weightZeroPoints: false);
            var (plain, sums, _) = QConvWeights.PackNchw(c.W, c.M, c.C * c.Taps);
            var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx);
            // The lowering's operand: the weights followed by the block flags (the scalar and Vector128 paths ignore them).
            var packed = QConvWeights.NchwWithFlags(plain, c.M, c.C * c.Taps, folded, c.Mult);
            int plane = c.OH * c.OW;
            foreach (int chunk in new[] { QConvNchw.ChunkFor(c.C * c.Taps, plane), 16, 32, 48 })
            {
                // Guards after the scratch and the output: no store past either.
                int scratchLength = QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk), yLength = c.N * c.M * plane;
                var scratch = new byte[scratchLength + GuardBytes];
                var y = new byte[yLength + GuardBytes];
                scratch.AsSpan(scratchLength).Fill(0xA5);
                y.AsSpan(yLength).Fill(0xA5);
                QConvNchw.Run(path, c.X, packed, folded, c.Mult, y.AsSpan(0, yLength), scratch.AsSpan(0, scratchLength), c.N, c.C, c.H, c.Wd, c.M, c.OH, c.OW, c.KH, c.KW,
                    c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                string what = $"{path} case {index} [{string.Join(",", g)}] zx={zx} zy={zy} chunk={chunk}";
                AssertSame(Reference(c), y.AsSpan(0, yLength).ToArray(), what);
                Assert.True(scratch.AsSpan(scratchLength).IndexOfAnyExcept((byte)0xA5) < 0, what + ": stored past the scratch");
                Assert.True(y.AsSpan(yLength).IndexOfAnyExcept((byte)0xA5) < 0, what + ": stored past the output");
            }
            index++;
        }
    }

    /// <summary>
    /// QConvNchw's AVX2 tile takes two shortcuts a block's weights decide: quads 2j and 2j + 1 share one widening when every
    /// row's |w| over the two weights of a pair in both quads sum to at most 255 (the int16 sum of vpmaddubsw pairs stays
    /// exact), and the float clamp is skipped when |acc·scale| stays below 2^30. Weights here meet the pair bound exactly at
    /// 255 in most groups (127, 127, 1, 0 in shuffled positions and signs) against activations at 0 and 255 (x' = −128 and
    /// 127), except in the first block and in row 8 (256: so paired and unpaired blocks alternate in one call); one row has scale 2^20 (its
    /// block clamps in float); odd quad counts leave a single last quad.
    /// </summary>
    [Theory]
    [InlineData(1, 16, 9, 11, 12, 1, 1)]    // K = 16: two pairs of quads, partial last tile
    [InlineData(1, 24, 8, 8, 16, 1, 1)]     // K = 24: three pairs
    [InlineData(1, 20, 7, 9, 8, 1, 1)]      // K = 20: two pairs and a single quad
    [InlineData(1, 13, 5, 13, 9, 1, 1)]     // K = 13 padded to 16; M = 9 (a partial block)
    [InlineData(2, 8, 16, 16, 48, 1, 1)]    // K = 8, two images
    [InlineData(1, 4, 6, 20, 8, 3, 3)]      // 3x3, K = 36 (9 quads), packed straight from the padded image
    public void Nchw_avx2_shortcuts_match_the_integer_reference(int n, int ch, int h, int wd, int m, int kh, int kw)
    {
        if (!QConvNchw.IsSupported(QConvNchw.Path.Avx2)) return;
        var rng = new Random(23 + ch * 7 + m);
        int pad = kh / 2;
        var g = new[] { n, ch, h, wd, m, kh, kw, 1, 1, 1, 1, pad, pad, pad, pad, 1 };
        int k = ch * kh * kw, quads = (k + 3) / 4;
        var w = new int[m * k];
        for (int oc = 0; oc < m; oc++)
        {
            for (int kk = 0; kk < k; kk++) w[oc * k + kk] = rng.Next(-127, 128); // the single last quad, and block 0
            if (oc < 4) continue;
            for (int j = 0; 2 * j + 1 < quads; j++)
                for (int t = 0; t < 4; t += 2)
                {
                    int[] group = { 8 * j + t, 8 * j + t + 1, 8 * j + 4 + t, 8 * j + 5 + t };
                    int[] values = rng.Next(3) == 0
                        ? group.Select(_ => rng.Next(-63, 64)).ToArray()
                        : new[] { 127, 127, 1, 0 }.OrderBy(_ => rng.Next()).Select(v => rng.Next(2) == 0 ? -v : v).ToArray();
                    for (int i = 0; i < 4; i++)
                        if (group[i] < k) w[oc * k + group[i]] = values[i];
                }
            // Row 8 is one over the bound in its first group (|−127| + |−127| + |−2| = 256: −128·−256 overflows int16), so block 2 widens every quad.
            if (oc == 8 && k >= 8)
                (w[oc * k], w[oc * k + 1], w[oc * k + 4], w[oc * k + 5]) = (-127, -127, -2, 0);
        }
        var mult = Enumerable.Range(0, m).Select(j => RequantScale.FromReal(j == 5 ? 1 << 20 : j == 6 ? 1.0 : Math.Pow(2, -(4 + rng.NextDouble() * 10)))).ToArray();
        int[] zeroPoints = { 0, 128, 255, 77 };
        for (int variant = 0; variant < zeroPoints.Length; variant++)
        {
            int zx = zeroPoints[variant], zy = zeroPoints[(variant + 1) % zeroPoints.Length];
            var c = KernelTestsCase(rng, g, zx, zy) with { W = w, Mult = mult };
            var (plain, sums, minus128) = QConvWeights.PackNchw(c.W, c.M, k);
            Assert.False(minus128);
            var folded = QConvWeights.NchwBias(c.Bias, sums, c.Zx);
            var flags = QConvWeights.NchwBlockFlags(plain, c.M, k, folded, c.Mult);
            // Block 2 (row 8) widens every quad, the others after block 0 (random weights: almost surely unpaired) pair; the
            // block of row 5 clamps in float.
            Assert.Equal(flags.Skip(1).Select((f, b) => b == 1 ? 0 : QConvWeights.NchwPairQuads).ToArray(),
                flags.Skip(1).Select(f => f & QConvWeights.NchwPairQuads).ToArray());
            Assert.Equal(QConvWeights.NchwFloatClamp, flags[1] & QConvWeights.NchwFloatClamp);
            int plane = c.OH * c.OW;
            foreach (var packed in new[] { QConvWeights.NchwWithFlags(plain, c.M, k, folded, c.Mult), plain })
                foreach (int chunk in new[] { QConvNchw.ChunkFor(k, plane), 16 })
                {
                    var scratch = new byte[QConvNchw.ScratchLength(c.C, c.H, c.Wd, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, chunk)];
                    var y = new byte[c.N * c.M * plane];
                    QConvNchw.Run(QConvNchw.Path.Avx2, c.X, packed, folded, c.Mult, y, scratch, c.N, c.C, c.H, c.Wd, c.M,
                        c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                    AssertSame(Reference(c), y, $"[{string.Join(",", g)}] zx={zx} zy={zy} lo={c.Lo} hi={c.Hi} chunk={chunk} flags={packed.Length > plain.Length}");
                }
        }
    }

    /// <summary>A case with activations mostly at 0 and 255 and biases within ±2^16 (weights and scales replaced by the caller).</summary>
    private static GemmCase KernelTestsCase(Random rng, int[] g, int zx, int zy)
    {
        var c = MakeCase(rng, g, zx, zy, minus128: false, weightZeroPoints: false);
        for (int i = 0; i < c.X.Length; i++) c.X[i] = rng.Next(3) switch { 0 => 0, 1 => 255, _ => (byte)rng.Next(256) };
        return c with { Bias = c.Bias.Select(b => b / 4).ToArray() };
    }

    /// <summary>n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr.</summary>
    private static readonly int[][] DepthwiseCases =
    {
        new[] { 1, 5, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },
        new[] { 2, 3, 17, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },     // output rows of 17: overlapping last vector
        new[] { 1, 4, 7, 40, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2 },      // 25 taps (odd: a single last tap)
        new[] { 1, 3, 10, 12, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2 },     // dilation 2
        new[] { 1, 2, 5, 5, 3, 3, 1, 3, 1, 1, 0, 1, 1, 0 },       // stride 1x3, asymmetric pads
        new[] { 1, 3, 1, 50, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1 },      // 1-D
        new[] { 1, 96, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },    // MobileNet-like
        new[] { 1, 2, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0 },       // 2x2, no padding
        new[] { 1, 2, 6, 71, 3, 3, 2, 2, 1, 1, 0, 2, 1, 0 },      // stride 2, even left padding, wide rows (vector phase split)
        new[] { 1, 3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // rows of 8: two output rows per vector
        new[] { 2, 3, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },       // rows of 4 (stride 2): four output rows per vector
        new[] { 1, 2, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // rows of 4, 5 rows: one vector of 4 rows and a last single row
        new[] { 1, 2, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // rows of 8, odd row count
        new[] { 1, 2, 9, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // stride 2, rows of 24: 16- and 8-byte phase splits
        new[] { 1, 2, 6, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // rows of 13: 8-, 4- and 1-byte row copies
        new[] { 1, 2, 9, 10, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1 },      // vertical stride 2 only: pair rows from even padded rows
        new[] { 1, 2, 11, 11, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1 },     // stride 3: odd vertical stride, three column phases
        new[] { 1, 2, 12, 12, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4 },     // 9x9: 45 pair taps, more than the AVX2 pair path holds
        new[] { 1, 3, 10, 20, 4, 3, 1, 1, 2, 1, 1, 1, 2, 1 },     // 4x3, vertical dilation 2: pairs of rows two apart
        new[] { 1, 2, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // rows of 6: one short row at a time
        new[] { 1, 2, 3, 20, 1, 3, 1, 1, 5, 1, 0, 1, 0, 1 },      // 1x3 with a vertical dilation past the plane: partner rows repeat
        new[] { 1, 3, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 16 (pair rows from the input), odd row count
        new[] { 2, 2, 6, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, overlapping last block, two images
        new[] { 1, 2, 5, 20, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0 },      // 3x3 stride 1, asymmetric pads
        new[] { 1, 2, 6, 18, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0 },      // 3x3 stride 1, no padding
        new[] { 1, 2, 9, 37, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0 },      // 3x3 stride 2, no padding: tap 2 of the last output reads past the row
        new[] { 1, 3, 4, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 2, two output rows
        new[] { 1, 2, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },     // 3x3 stride 2 to rows of 8: four rows per requantization
        new[] { 1, 2, 13, 15, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },     // 3x3 stride 2 to 7 rows of 8 (a last group of 3), odd input width
        new[] { 1, 2, 10, 10, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0 },     // 3x3 stride 1 to rows of 8 from rows of 10
        new[] { 1, 2, 5, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },       // 3x3 stride 2 to 3 rows of 4 (two rows a vector)
        new[] { 1, 2, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // 3x3 stride 1, rows of 4: groups of 4 and 2 rows
        new[] { 1, 2, 4, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 28: a rest of 12 (overlapping block)
        new[] { 1, 2, 6, 59, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 2, rows of 30: a rest of 14 (overlapping block)
        new[] { 1, 3, 15, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },     // 3x3 stride 1, rows of 20 (UltraFace): a rest of 4, four rows a vector, odd row count
        new[] { 1, 2, 8, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 10 (UltraFace): 8 columns and 4 at ow − 4
        new[] { 1, 2, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },       // 3x3 stride 1, rows of 9, odd row count: the 4 columns overlap 3 of the 8
        new[] { 1, 2, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 12: 8 + 4 exactly, two rows past a group of 4
        new[] { 1, 2, 5, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 33: a rest of 1
        new[] { 1, 2, 7, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 13: 8 at 0 and 8 at ow − 8
        new[] { 1, 2, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 40 (UltraFace): a rest of 8, four rows at a time
        new[] { 1, 2, 6, 22, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 1, rows of 22: a rest of 6 (8 columns at ow − 8)
        new[] { 1, 3, 8, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 2 to 4 rows of 5 (UltraFace): 4 columns at 0 and 4 at ow − 4
        new[] { 2, 2, 7, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 2 to 4 rows of 6, two images
        new[] { 1, 2, 9, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1 },      // 3x3 stride 2 to 5 rows of 7: a last group of one row
        new[] { 1, 2, 6, 11, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0 },      // 3x3 stride 2 to rows of 5, no padding: tap 2 of the last output reads past the row
    };

    public static readonly TheoryData<string> DepthwisePaths = new() { "Scalar", "Vector128", "Avx2" };

    [Theory]
    [MemberData(nameof(DepthwisePaths))]
    public void Depthwise_paths_match_the_integer_reference(string pathName)
    {
        var path = Enum.Parse<QConv2D.DepthwisePath>(pathName);
        if (!QConv2D.IsSupported(path)) return;
        var rng = new Random(5);
        int index = 0;
        foreach (var d in DepthwiseCases)
            foreach (bool zeroPoints in new[] { false, true })
            {
                // As a GEMM case with m = group = c.
                int[] g = { d[0], d[1], d[2], d[3], d[1], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[1] };
                int zx = ZeroPoints[index % ZeroPoints.Length], zy = ZeroPoints[(index + 2) % ZeroPoints.Length];
                var c = MakeCase(rng, g, zx, zy, minus128: true, zeroPoints);
                var diff = QConvWeights.DepthwiseDifferences(c.W, c.Zw, c.Taps);
                var scratch = new byte[QConv2D.DepthwiseScratchLength(c.H, c.Wd, c.SW, c.PT, c.PL, c.PB, c.PR)];
                var y = new byte[c.N * c.M * c.OH * c.OW];
                int[] zw = c.Zw.All(z => z == 0) ? Array.Empty<int>() : c.Zw;
                QConv2D.RunDepthwise(path, c.X, c.W.Select(v => (sbyte)v).ToArray(), zw, QConvWeights.DepthwiseBias(c.Bias, diff, c.Taps, c.Zx), c.Mult,
                    y, scratch, c.N, c.C, c.H, c.Wd, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                AssertSame(Reference(c), y, $"{path} case {index} [{string.Join(",", d)}] zx={zx} zy={zy} zw={zeroPoints}");
                index++;
            }
    }

    /// <summary>
    /// The 3x3 AVX2 kernels leave out the requantization clamps when the clamp range is [0, 255] and every acc·scale fits
    /// int32: each combination of clamps, output zero point and scale (one large enough to overflow int32, which must keep
    /// the clamps) on rows of 4, 8, 16 and more, stride 1 and 2.
    /// </summary>
    [Fact]
    public void Depthwise_3x3_requantization_steps_match_the_integer_reference()
    {
        if (!QConv2D.IsSupported(QConv2D.DepthwisePath.Avx2)) return;
        var rng = new Random(23);
        int[][] shapes =
        {
            new[] { 1, 3, 9, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3 },
            new[] { 1, 3, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3 },
            new[] { 1, 3, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3 },
            new[] { 1, 3, 9, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3 },
            new[] { 1, 3, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3 },
            new[] { 1, 3, 8, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3 },
        };
        foreach (var g in shapes)
            foreach (double real in new[] { 1.0 / 1024, 3.75, 1e6 })
                foreach (int zy in new[] { 0, 7 })
                    foreach (var (lo, hi) in new[] { (0, 255), (zy, 255), (0, 200) })
                    {
                        int[] gg = { g[0], g[1], g[2], g[3], g[1], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[1] };
                        var c = MakeCase(rng, gg, 5, zy, minus128: true, weightZeroPoints: false);
                        c = c with { Mult = c.Mult.Select(_ => RequantScale.FromReal(real)).ToArray(), Lo = lo, Hi = hi };
                        var diff = QConvWeights.DepthwiseDifferences(c.W, c.Zw, c.Taps);
                        var y = new byte[c.N * c.M * c.OH * c.OW];
                        QConv2D.RunDepthwise(QConv2D.DepthwisePath.Avx2, c.X, c.W.Select(v => (sbyte)v).ToArray(), Array.Empty<int>(),
                            QConvWeights.DepthwiseBias(c.Bias, diff, c.Taps, c.Zx), c.Mult, y,
                            new byte[QConv2D.DepthwiseScratchLength(c.H, c.Wd, c.SW, c.PT, c.PL, c.PB, c.PR)], c.N, c.C, c.H, c.Wd, c.OH, c.OW,
                            c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                        AssertSame(Reference(c), y, $"[{string.Join(",", g)}] scale={real} zy={zy} clamp=[{lo}, {hi}]");
                    }
    }

    /// <summary>
    /// Stride-1 rows of 9 to 15 are stored 16 bytes a row, the extra bytes landing in the row or plane stored after it:
    /// every output byte matches the reference, and the bytes past the output (guards) are never written, for one and
    /// several images, odd and even row counts, and clamps on and off.
    /// </summary>
    [Fact]
    public void Depthwise_3x3_narrow_rows_match_the_reference_and_write_nothing_past_the_output()
    {
        if (!QConv2D.IsSupported(QConv2D.DepthwisePath.Avx2)) return;
        var rng = new Random(31);
        foreach (int ow in new[] { 9, 10, 11, 12, 13, 15 })
            foreach (int oh in new[] { 1, 2, 5, 8 })
                foreach (int n in new[] { 1, 2 })
                {
                    int[] g = { n, 3, oh, ow, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3 };
                    int zy = oh % 2 == 0 ? 0 : 9;
                    var c = MakeCase(rng, g, ZeroPoints[(ow + oh) % ZeroPoints.Length], zy, minus128: true, weightZeroPoints: n == 2);
                    if (ow == 13) c = c with { Lo = 3, Hi = 250 };
                    var diff = QConvWeights.DepthwiseDifferences(c.W, c.Zw, c.Taps);
                    int length = c.N * c.M * c.OH * c.OW;
                    var y = Enumerable.Repeat((byte)0xA5, length + 32).ToArray();
                    int[] zw = c.Zw.All(z => z == 0) ? Array.Empty<int>() : c.Zw;
                    QConv2D.RunDepthwise(QConv2D.DepthwisePath.Avx2, c.X, c.W.Select(v => (sbyte)v).ToArray(), zw,
                        QConvWeights.DepthwiseBias(c.Bias, diff, c.Taps, c.Zx), c.Mult, y,
                        new byte[QConv2D.DepthwiseScratchLength(c.H, c.Wd, c.SW, c.PT, c.PL, c.PB, c.PR)], c.N, c.C, c.H, c.Wd, c.OH, c.OW,
                        c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Zx, c.Zy, c.Lo, c.Hi);
                    AssertSame(Reference(c), y.AsSpan(0, length).ToArray(), $"rows {oh}x{ow} n={n}");
                    Assert.All(y.AsSpan(length).ToArray(), b => Assert.Equal(0xA5, b));
                }
    }

    [Fact]
    public void Depthwise_differences_span_the_full_int16_pair_range()
    {
        // w = −128 with zw = 127 and w = 127 with zw = −128: the extremes vpmaddwd must take exactly.
        var diff = QConvWeights.DepthwiseDifferences(new[] { -128, 127 }, new[] { 127, -128 }, 1);
        Assert.Equal(new short[] { -255, 255 }, diff);
        var x = new byte[] { 255, 255, 255, 255 };
        var y = new byte[4];
        var one = RequantScale.FromReal(1.0 / 1024);
        foreach (var path in Enum.GetValues<QConv2D.DepthwisePath>().Where(QConv2D.IsSupported))
        {
            // 2 channels, 1x2 plane, 1x1 kernel: acc = ±255·255 = ±65025, /1024 = ±63.501 → ±64, plus zy 128.
            QConv2D.RunDepthwise(path, x, new sbyte[] { -128, 127 }, new[] { 127, -128 }, new[] { 0, 0 }, new[] { one, one }, y,
                new byte[QConv2D.DepthwiseScratchLength(1, 2, 1, 0, 0, 0, 0)], 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 128, 0, 255);
            Assert.Equal(new byte[] { 128 - 64, 128 - 64, 128 + 64, 128 + 64 }, y);
        }
    }

    [Fact]
    public void Transpose_handles_blocks_and_edges()
    {
        var rng = new Random(2);
        foreach (var (rows, cols) in new[] { (1, 1), (16, 16), (17, 33), (40, 3), (5, 48), (32, 32), (8, 40), (33, 8), (16, 12), (3, 20), (12, 17) })
        {
            int srcStride = cols + 3, dstStride = rows + 5;
            var src = Enumerable.Range(0, rows * srcStride).Select(_ => (byte)rng.Next(256)).ToArray();
            var dst = new byte[cols * dstStride];
            QConv2D.Transpose(src, srcStride, dst, dstStride, rows, cols);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    Assert.Equal(src[i * srcStride + j], dst[j * dstStride + i]);
        }
    }
}
