using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// QConv2D's public entry points under reduced instruction sets: the kernels are compiled from their embedded sources
/// (as the generator emits them) into a console probe, run in child processes with DOTNET_EnableAVX512=0,
/// DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0, and checked against the Core integer reference there.
/// </summary>
public class QConvDispatchTests : IClassFixture<QConvDispatchTests.ProbeBuild>
{
    private readonly ProbeBuild _probe;

    public QConvDispatchTests(ProbeBuild probe) => _probe = probe;

    /// <summary>The probe, compiled once for the class and deleted after it.</summary>
    public sealed class ProbeBuild : KernelProbe
    {
        public ProbeBuild() : base("QConvProbe", new[] { "QConv2D", "QConvNchw" }, new[] { ("QConvProbe.cs", Probe) }, referenceCore: true) =>
            Assert.Contains(KernelFiles, f => f.Contains("QGemm", StringComparison.Ordinal));   // pulled in by "// Requires:"
    }

    private const string Probe = """
        using System;
        using System.Linq;
        using Q.Compiler.Kernels;
        using Q.Compiler.Ops.QConv;
        using Q.Compiler.Quantization;

        public static class QConvProbe
        {
            private static uint s_state = 4321;
            private static int Next(int lo, int hi) { s_state = s_state * 1664525 + 1013904223; return lo + (int)((s_state >> 8) % (uint)(hi - lo)); }

            public static int Main()
            {
                Console.WriteLine("qgemm=" + QGemm.SelectedPath + " depthwise=" + QConv2D.DepthwiseBest + " nchw=" + QConvNchw.PathFor(false));
                int checks = 0;
                // n, c, h, w, m, kh, kw, s, pad, group
                foreach (var g in new[] { new[] { 1, 19, 9, 7, 33, 1, 1, 1, 0, 1 }, new[] { 1, 3, 13, 12, 16, 3, 3, 2, 1, 1 }, new[] { 2, 8, 6, 9, 12, 3, 3, 1, 1, 4 } })
                foreach (bool minus128 in new[] { false, true })
                {
                    int n = g[0], c = g[1], h = g[2], w = g[3], m = g[4], kh = g[5], kw = g[6], s = g[7], p = g[8], group = g[9];
                    int oh = (h + 2 * p - kh) / s + 1, ow = (w + 2 * p - kw) / s + 1, taps = kh * kw;
                    var x = Enumerable.Range(0, n * c * h * w).Select(_ => Next(0, 256)).ToArray();
                    var wt = Enumerable.Range(0, m * c / group * taps).Select(_ => Next(minus128 ? -128 : -127, 128)).ToArray();
                    var zw = Enumerable.Range(0, m).Select(i => i % 3 == 0 ? Next(-20, 20) : 0).ToArray();
                    var bias = Enumerable.Range(0, m).Select(_ => Next(-100000, 100000)).ToArray();
                    var mult = Enumerable.Range(0, m).Select(i => RequantScale.FromReal(i == 0 ? 2.5 : Math.Pow(2, -Next(6, 16)) * 0.77)).ToArray();
                    int zx = Next(0, 256);
                    var (packed, sums, hasMinus128) = QConvWeights.PackGemm(wt, m, c / group, taps, group);
                    var xb = x.Select(v => (byte)v).ToArray();
                    var scratch = new byte[QConv2D.GemmScratchLength(c, h, w, m, kh, kw, s, s, p, p, p, p, group, 32, true)];
                    var y = new byte[n * m * oh * ow];
                    QConv2D.Gemm(xb, packed, sums, bias, zw, mult, y, scratch,
                        n, c, h, w, m, oh, ow, kh, kw, s, s, 1, 1, p, p, p, p, group, zx, 9, 3, 250, hasMinus128);
                    var acc = QConvReference.Accumulate(x, wt, bias, n, c, h, w, m, group, oh, ow, kh, kw, s, s, 1, 1, p, p, zx, zw);
                    if (!IntegerReference.Requantize(acc, mult, oh * ow, 9, 3, 250).SequenceEqual(y.Select(v => (int)v))) { Console.WriteLine($"MISMATCH Gemm {string.Join(",", g)} {minus128}"); return 1; }
                    var y32 = new int[y.Length];
                    QConv2D.GemmInt32(xb, packed, sums, zw, y32, scratch, n, c, h, w, m, oh, ow, kh, kw, s, s, 1, 1, p, p, p, p, group, zx, hasMinus128);
                    var acc0 = QConvReference.Accumulate(x, wt, new int[0], n, c, h, w, m, group, oh, ow, kh, kw, s, s, 1, 1, p, p, zx, zw);
                    if (!acc0.SequenceEqual(y32)) { Console.WriteLine($"MISMATCH GemmInt32 {string.Join(",", g)}"); return 1; }
                    if (group == 1)
                    {
                        // The NCHW-native kernel, symmetric weights (it takes no weight zero points).
                        var (packedN, sumsN, minusN) = QConvWeights.PackNchw(wt, m, c * taps);
                        var scratchN = new byte[QConvNchw.ScratchLength(c, h, w, kh, kw, s, s, p, p, p, p, 32)];
                        var yn = new byte[y.Length];
                        QConvNchw.Gemm(xb, packedN, QConvWeights.NchwBias(bias, sumsN, zx), mult, yn, scratchN, n, c, h, w, m, oh, ow, kh, kw, s, s, 1, 1, p, p, p, p, zx, 9, 3, 250, minusN);
                        var accN = QConvReference.Accumulate(x, wt, bias, n, c, h, w, m, 1, oh, ow, kh, kw, s, s, 1, 1, p, p, zx, new int[m]);
                        if (!IntegerReference.Requantize(accN, mult, oh * ow, 9, 3, 250).SequenceEqual(yn.Select(v => (int)v))) { Console.WriteLine($"MISMATCH Nchw {string.Join(",", g)} {minus128}"); return 1; }
                        if (kh > 1)
                        {
                            // The float-input entry (QuantizeLinear fused): floats with ties and saturating values, quantized by the
                            // Core reference, then the same convolution.
                            const float qs = 0.75f;
                            var xf = Enumerable.Range(0, x.Length).Select(i => i % 5 == 0 ? (Next(-150, 150) + 0.5f) * qs : Next(-3000, 3000) / 13f).ToArray();
                            var xq = xf.Select(v => QuantMath.Quantize(v, qs, zx, 0, 255)).ToArray();
                            var yf = new byte[y.Length];
                            QConvNchw.GemmFloatInput(xf, qs, zx, packedN, QConvWeights.NchwBias(bias, sumsN, zx), mult, yf, scratchN, n, c, h, w, m, oh, ow, kh, kw, s, s, 1, 1, p, p, p, p, zx, 9, 3, 250, minusN);
                            var accF = QConvReference.Accumulate(xq, wt, bias, n, c, h, w, m, 1, oh, ow, kh, kw, s, s, 1, 1, p, p, zx, new int[m]);
                            if (!IntegerReference.Requantize(accF, mult, oh * ow, 9, 3, 250).SequenceEqual(yf.Select(v => (int)v))) { Console.WriteLine($"MISMATCH NchwFloatInput {string.Join(",", g)} {minus128}"); return 1; }
                            checks++;
                        }
                        checks += 3;
                        continue;
                    }
                    // Depthwise on the same input (c channels, one filter each).
                    var wd = Enumerable.Range(0, c * taps).Select(_ => Next(-128, 128)).ToArray();
                    var zd = Enumerable.Range(0, c).Select(_ => Next(-128, 128)).ToArray();
                    var yd = new byte[n * c * oh * ow];
                    var md = mult.Take(c).ToArray();
                    var dd = QConvWeights.DepthwiseDifferences(wd, zd, taps);
                    QConv2D.Depthwise(xb, wd.Select(v => (sbyte)v).ToArray(), zd, QConvWeights.DepthwiseBias(bias.Take(c).ToArray(), dd, taps, zx), md, yd,
                        new byte[QConv2D.DepthwiseScratchLength(h, w, s, p, p, p, p)],
                        n, c, h, w, oh, ow, kh, kw, s, s, 1, 1, p, p, p, p, zx, 128, 0, 255);
                    var accd = QConvReference.Accumulate(x, wd, bias.Take(c).ToArray(), n, c, h, w, c, c, oh, ow, kh, kw, s, s, 1, 1, p, p, zx, zd);
                    if (!IntegerReference.Requantize(accd, md, oh * ow, 128, 0, 255).SequenceEqual(yd.Select(v => (int)v))) { Console.WriteLine("MISMATCH Depthwise"); return 1; }
                    checks += 3;
                }
                Console.WriteLine("ok " + checks);
                return 0;
            }
        }
        """;

    [Theory]
    [InlineData(null)]
    [InlineData("DOTNET_EnableAVX512")]
    [InlineData("DOTNET_EnableAVX2")]
    [InlineData("DOTNET_EnableHWIntrinsic")]
    public void QConv2D_dispatches_to_an_exact_path_under_each_instruction_set_limit(string? disable)
    {
        var (exit, output) = _probe.Run(disable);
        Assert.True(exit == 0, output);
        Assert.Contains("ok 20", output);
        if (disable == "DOTNET_EnableHWIntrinsic") Assert.Contains("depthwise=Scalar", output);
        if (disable == "DOTNET_EnableHWIntrinsic") Assert.Contains("nchw=Scalar", output);
        // The zmm tile only where AVX-512BW is on; with it switched off the AVX2 tile.
        if (disable == null && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) Assert.Contains("nchw=Avx512BW", output);
        if (disable == "DOTNET_EnableAVX512" && System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Contains("nchw=Avx2", output);
        if (disable == "DOTNET_EnableAVX2" && System.Runtime.Intrinsics.X86.Sse2.IsSupported) Assert.Contains("depthwise=Vector128", output);
        if (disable == "DOTNET_EnableAVX2" && System.Runtime.Intrinsics.X86.Sse2.IsSupported) Assert.Contains("nchw=Vector128", output);
    }
}
