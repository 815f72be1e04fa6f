using System.Runtime.Intrinsics;
using Q.Compiler.Kernels;
using Xunit;
using static Q.Compiler.Tests.Kernels.KernelReference;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// Max and average pooling, the padded-plane kernels at every vector width and the direct ones, against a double
/// reference: 2x2 stride 2, 3x3 stride 2 with padding and ceil_mode, dilations, count_include_pad, 1-D, narrow planes.
/// </summary>
public sealed class PoolKernelTests
{
    public sealed record Case(string Name, int Planes, int H, int W, int KH, int KW, int SH, int SW, int DH, int DW,
        int PT, int PL, int PB, int PR, bool Ceil, bool IncludePad)
    {
        public int OH => Out(H, KH, SH, DH, PT, PB);
        public int OW => Out(W, KW, SW, DW, PL, PR);
        private int Out(int n, int k, int s, int d, int p0, int p1)
        {
            int span = n + p0 + p1 - ((k - 1) * d + 1);
            int o = Ceil ? (span + s - 1) / s + 1 : span / s + 1;
            if (Ceil && (o - 1) * s >= n + p0) o--;
            return o;
        }
        public override string ToString() => Name;
    }

    private static readonly Case[] Cases =
    {
        //      name                         P   H   W KH KW SH SW DH DW PT PL PB PR ceil  inclPad
        new("2x2 stride 2",                  3, 28, 28, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false),
        new("2x2 stride 2 odd",              2, 13, 15, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false),
        new("3x3 stride 2 ceil",             2, 27, 27, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false),
        new("3x3 stride 2 ceil even",        2, 26, 30, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true, false),
        new("3x3 stride 2 pad 1",            2, 17, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false),
        new("3x3 stride 1 pad 1 incl",       2,  9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, true),
        new("asymmetric pads ceil incl",     1, 10, 13, 3, 2, 2, 3, 1, 1, 0, 1, 2, 0, true, true),
        new("dilation 2",                    2, 12, 14, 3, 3, 1, 2, 2, 2, 1, 1, 1, 1, false, false),
        new("1-D kernel 3 stride 3",         3,  1, 31, 1, 3, 1, 3, 1, 1, 0, 1, 0, 1, false, false),
        new("narrow plane",                  4,  3,  3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, false, false),
        new("large window",                  1, 20, 40, 5, 7, 2, 4, 1, 1, 2, 3, 2, 3, false, true),
    };

    public static TheoryData<string, bool> CaseNames()
    {
        var d = new TheoryData<string, bool>();
        foreach (var c in Cases) { d.Add(c.Name, true); if (c.DH == 1 && c.DW == 1) d.Add(c.Name, false); }
        return d;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesReference(string name, bool max)
    {
        var c = Cases.Single(k => k.Name == name);
        int outLength = c.Planes * c.OH * c.OW;
        var x = Random(c.Planes * c.H * c.W, 7);
        var expected = Reference(c, x, max);
        var scale = expected.Select(v => max ? 0 : 1.0).ToArray();
        int len = Pool2D.ScratchLength(c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL);
        var g = new Pool2D.PoolGeometry { H = c.H, W = c.W, OH = c.OH, OW = c.OW, KH = c.KH, KW = c.KW, StrideH = c.SH, StrideW = c.SW, DilH = c.DH, DilW = c.DW, PadTop = c.PT, PadLeft = c.PL };

        void Check(string path, Action<float[]> run)
        {
            var y = new float[outLength + 5];
            Array.Fill(y, float.NaN);
            run(y);
            AssertClose(expected, scale, y.AsSpan(0, outLength), $"{name} {(max ? "max" : "average")} via {path}");
            for (int i = outLength; i < y.Length; i++) Assert.True(float.IsNaN(y[i]), $"{name} via {path}: wrote past the output");
        }

        if (max)
        {
            Check("direct", y => Pool2D.Max(x, y, c.Planes, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, false));
            Check("padded", y => Pool2D.MaxPadded(x, y, new float[len], c.Planes, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL));
        }
        else
        {
            Check("direct", y => Pool2D.Average(x, y, c.Planes, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, 1, 1, c.PT, c.PL, c.PB, c.PR, c.IncludePad));
            Check("padded", y => Pool2D.AveragePadded(x, y, new float[len], c.Planes, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.PT, c.PL, c.PB, c.PR, c.IncludePad));
        }
        Check("512", y => Pool2D.PaddedWith<Simd512, Vector512<float>>(x, y, new float[len], c.Planes, g, max, c.PB, c.PR, c.IncludePad));
        Check("256", y => Pool2D.PaddedWith<Simd256, Vector256<float>>(x, y, new float[len], c.Planes, g, max, c.PB, c.PR, c.IncludePad));
        Check("128", y => Pool2D.PaddedWith<Simd128, Vector128<float>>(x, y, new float[len], c.Planes, g, max, c.PB, c.PR, c.IncludePad));
        Check("scalar", y => Pool2D.PaddedWith<Simd1, float>(x, y, new float[len], c.Planes, g, max, c.PB, c.PR, c.IncludePad));
    }

    [Fact]
    public void DeinterleaveSplitsEvenAndOddElements()
    {
        foreach (int n in new[] { 0, 1, 2, 7, 16, 17, 33, 64 })
        {
            var src = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
            var even = new float[(n + 1) / 2]; var odd = new float[n / 2];
            PaddedPlane.Deinterleave(src, even, odd);
            Assert.Equal(Enumerable.Range(0, (n + 1) / 2).Select(i => (float)(2 * i)), even);
            Assert.Equal(Enumerable.Range(0, n / 2).Select(i => (float)(2 * i + 1)), odd);
        }
    }

    private static double[] Reference(Case c, float[] x, bool max)
    {
        var y = new double[c.Planes * c.OH * c.OW];
        for (int p = 0; p < c.Planes; p++)
            for (int oy = 0; oy < c.OH; oy++)
                for (int ox = 0; ox < c.OW; ox++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    int count = 0, padded = 0;
                    for (int ky = 0; ky < c.KH; ky++)
                        for (int kx = 0; kx < c.KW; kx++)
                        {
                            int iy = oy * c.SH + ky * c.DH - c.PT, ix = ox * c.SW + kx * c.DW - c.PL;
                            if (iy < 0 || ix < 0 || iy >= c.H || ix >= c.W)
                            {
                                if (iy < c.H + c.PB && ix < c.W + c.PR) padded++;
                                continue;
                            }
                            double v = x[(p * c.H + iy) * c.W + ix];
                            acc = max ? Math.Max(acc, v) : acc + v;
                            count++;
                        }
                    y[(p * c.OH + oy) * c.OW + ox] = max ? acc : acc / (c.IncludePad ? count + padded : count);
                }
        return y;
    }
}
