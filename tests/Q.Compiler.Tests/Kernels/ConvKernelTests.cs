using System.Runtime.Intrinsics;
using Q.Compiler.Kernels;
using Xunit;
using static Q.Compiler.Tests.Kernels.KernelReference;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// Conv2D strategies (pointwise GEMM, implicit GEMM, im2col + GEMM, depthwise at every vector width, and the direct
/// method) against a
/// double reference, over groups, asymmetric pads, strides, dilations, 1-D, K above the GEMM's K block and outputs
/// split over several im2col chunks. Outputs carry NaN sentinels past their end to catch overruns.
/// </summary>
public sealed class ConvKernelTests
{
    public sealed record Case(string Name, int N, int C, int H, int W, int M, int KH, int KW, int SH, int SW, int DH, int DW,
        int PT, int PL, int PB, int PR, int Group, int Act)
    {
        public int OH => (H + PT + PB - ((KH - 1) * DH + 1)) / SH + 1;
        public int OW => (W + PL + PR - ((KW - 1) * DW + 1)) / SW + 1;
        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    {
        //        name                       N  C   H   W   M  KH KW SH SW DH DW PT PL PB PR  G  act
        new("pointwise",                     1, 19,  5,  7, 13, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1),
        new("pointwise grouped, batch 2",    2,  8,  6,  6, 12, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 0),
        new("pointwise wide",                1, 20, 17, 23,  7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 2),
        new("3x3 same",                      1,  5,  9, 11,  7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        new("5x5 stride 2 asymmetric pads",  1,  3, 13, 12,  6, 5, 5, 2, 2, 1, 1, 0, 1, 2, 1, 1, 0),
        new("3x3 dilation 2 grouped",        1,  6, 10,  9,  4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3),
        new("1-D kernel 3 stride 2",         1,  4,  1, 29,  5, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, 1, 4),
        new("K above the K block",           1, 60,  7,  8, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        new("7x7 stride 2 pad 3",            1,  3, 23, 21,  8, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1),
        new("stride 3 kernel 2",             1,  2, 11, 14,  3, 2, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0),
        new("kernel wider than input",       1,  2,  3,  2,  2, 3, 5, 1, 1, 1, 1, 1, 2, 1, 2, 1, 0),
        new("3x3 rows of 64 (direct rows)",  1,  3,  5, 64,  5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        new("5x5 wide, rows batched",        1,  2,  6,300,  3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 0),
        new("3x3 stride 2 wide rows",        1,  3, 11, 75,  9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 2),
        new("5x5 stride (2, 3) dilated",     1,  4, 17, 40,  3, 5, 5, 2, 3, 1, 2, 2, 1, 0, 3, 1, 1),
        new("1x1 stride 2",                  1,  6,  9,  9,  5, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1),
        new("channel multiplier 2",          1,  4,  8,  8,  8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 2),
        new("depthwise 3x3 s1",              1,  5, 12, 19,  5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 2),
        new("depthwise 3x3 s2",              1,  4, 15, 17,  4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4, 1),
        new("depthwise 3x3 s2 TF pads",      2,  3, 16, 16,  3, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 3, 0),
        new("depthwise 5x5 s1",              1,  3, 11, 33,  3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 3, 1),
        new("depthwise 3x3 dilation 2",      1,  2,  9, 21,  2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, 4),
        new("depthwise tiny plane",          1,  6,  3,  3,  6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, 1),
        new("depthwise 1-D stride 3",        1,  3,  1, 40,  3, 1, 4, 1, 3, 1, 1, 0, 2, 0, 1, 3, 0),
    };

    public static TheoryData<string> CaseNames()
    {
        var d = new TheoryData<string>();
        foreach (var c in Cases) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void StrategiesMatchReference(string name)
    {
        var c = Cases.Single(k => k.Name == name);
        int cg = c.C / c.Group, plane = c.OH * c.OW, outLength = c.N * c.M * plane;
        var x = Random(c.N * c.C * c.H * c.W, 1);
        var w = Random(c.M * cg * c.KH * c.KW, 2);
        var b = Random(c.M, 3);
        float alpha = c.Act == 2 ? -0.3f : 0.1f, beta = c.Act == 2 ? 0.4f : 0f;
        var (expected, scale) = Reference(c, x, w, b, alpha, beta);

        void Check(string path, Action<float[]> run)
        {
            var y = new float[outLength + 7];
            Array.Fill(y, float.NaN);
            run(y);
            AssertClose(expected, scale, y.AsSpan(0, outLength), $"{name} via {path}");
            for (int i = outLength; i < y.Length; i++) Assert.True(float.IsNaN(y[i]), $"{name} via {path}: wrote past the output");
        }

        Check("direct", y => Conv2D.Run(x, w, b, y, c.N, c.C, c.H, c.W, c.M, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.Group, c.Act, alpha, beta));

        int k = cg * c.KH * c.KW;
        // One panel per chunk (many chunks, ragged last one), then the whole plane in one chunk.
        foreach (int chunk in new[] { 16, (plane + 15) / 16 * 16 })
            Check($"im2col chunk {chunk}", y => Conv2D.Im2Col(x, w, b, y, new float[k * chunk], c.N, c.C, c.H, c.W, c.M, c.OH, c.OW,
                c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.Group, c.Act, alpha, beta));

        Check("implicit GEMM", y => Conv2D.ImplicitGemm(x, w, b, y,
            new float[Conv2D.ImplicitGemmScratchLength(c.C, c.H, c.W, c.M, c.KH, c.KW, c.SH, c.SW, c.DW, c.Group, c.PT, c.PL, c.PB, c.PR)],
            c.N, c.C, c.H, c.W, c.M, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Group, c.Act, alpha, beta));

        bool pointwise = c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PT + c.PL + c.PB + c.PR == 0;
        if (pointwise)
        {
            int hw = c.H * c.W;
            Check("pointwise", y => Conv2D.Pointwise(x, w, b, y, default, c.N, c.C, hw, c.M, c.Group, c.Act, alpha, beta));
            Check("pointwise packed", y => Conv2D.Pointwise(x, w, b, y, new float[Gemm.PackBufferLength(cg, hw)], c.N, c.C, hw, c.M, c.Group, c.Act, alpha, beta));
        }

        if (c.Group == c.C && c.M == c.C)
        {
            int len = Conv2D.DepthwiseScratchLength(c.H, c.W, c.SW, c.PT, c.PL, c.PB, c.PR);
            var g = new Conv2D.DepthwiseGeometry
            {
                H = c.H, W = c.W, OH = c.OH, OW = c.OW, KH = c.KH, KW = c.KW, StrideH = c.SH, StrideW = c.SW, DilH = c.DH, DilW = c.DW,
                PadTop = c.PT, PadLeft = c.PL, PadBottom = c.PB, PadRight = c.PR,
            };
            Check("depthwise dispatch", y => Conv2D.Depthwise(x, w, b, y, new float[len], c.N, c.C, c.H, c.W, c.OH, c.OW, c.KH, c.KW,
                c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Act, alpha, beta));
            Check("depthwise 512", y => Conv2D.DepthwiseWith<Simd512, Vector512<float>>(x, w, b, y, new float[len], c.N, c.C, g, c.Act, alpha, beta));
            Check("depthwise 256", y => Conv2D.DepthwiseWith<Simd256, Vector256<float>>(x, w, b, y, new float[len], c.N, c.C, g, c.Act, alpha, beta));
            Check("depthwise 128", y => Conv2D.DepthwiseWith<Simd128, Vector128<float>>(x, w, b, y, new float[len], c.N, c.C, g, c.Act, alpha, beta));
            Check("depthwise scalar", y => Conv2D.DepthwiseWith<Simd1, float>(x, w, b, y, new float[len], c.N, c.C, g, c.Act, alpha, beta));
        }
    }

    [Fact]
    public void ScratchTooSmallIsAnError()
    {
        var c = Cases.Single(k => k.Name == "3x3 same");
        Assert.Throws<ArgumentException>(() => Conv2D.Im2Col(new float[c.C * c.H * c.W], new float[c.M * c.C * 9], new float[c.M],
            new float[c.M * c.OH * c.OW], new float[10], 1, c.C, c.H, c.W, c.M, c.OH, c.OW, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0));
    }

    /// <summary>Direct convolution in double, with the activation; scale = Σ|terms| per output for the tolerance.</summary>
    internal static (double[] Y, double[] Scale) Reference(Case c, float[] x, float[] w, float[] b, float alpha, float beta)
    {
        int cg = c.C / c.Group, mg = c.M / c.Group, oh = c.OH, ow = c.OW;
        var y = new double[c.N * c.M * oh * ow];
        var scale = new double[y.Length];
        for (int n = 0; n < c.N; n++)
            for (int oc = 0; oc < c.M; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        int grp = oc / mg;
                        double acc = b[oc], mag = Math.Abs(b[oc]);
                        for (int ic = 0; ic < cg; ic++)
                            for (int ky = 0; ky < c.KH; ky++)
                                for (int kx = 0; kx < c.KW; kx++)
                                {
                                    int iy = oy * c.SH + ky * c.DH - c.PT, ix = ox * c.SW + kx * c.DW - c.PL;
                                    if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                                    double t = (double)x[((n * c.C + grp * cg + ic) * c.H + iy) * c.W + ix] * w[((oc * cg + ic) * c.KH + ky) * c.KW + kx];
                                    acc += t; mag += Math.Abs(t);
                                }
                        int o = ((n * c.M + oc) * oh + oy) * ow + ox;
                        y[o] = Activate(acc, c.Act, alpha, beta);
                        scale[o] = mag;
                    }
        return (y, scale);
    }
}
