// Times QConvNchw's two modes against the float convolution the float build uses, on MobileNet-v2-128-0.5 / UltraFace-320
// layer shapes, one thread, all variants of a layer alternating in one process:
//   float     Conv2D (pointwise GEMM or implicit GEMM), as the float lowering picks
//   signed    QConvNchw with the sign trick (vpabsb + vpsignb + vpmaddubsw + vpmaddwd), random weights in [−127, 127] (today)
//   signed/ps the sign trick on the pair-safe weights below (its own block flags)
//   unsigned  QConvNchw in unsigned mode (vpmaddubsw on raw bytes + vpmaddwd) on pair-safe weights drawn like trained ones
//             (about N(0, 32), pairs over ±128 trimmed): the pair-quads flag rarely holds for a whole block
//   uns/ymm   unsigned mode on the same weights, forced onto the AVX2 (ymm) tile (where AVX-512BW picks the zmm tile)
//   uns/small unsigned mode on weights in [−32, 31]: every block pairs quads (the best case of the unsigned tile)
// Run: dotnet run -c Release bench/QConvModeBench.cs [name substring]
#:property AssemblyName=Q.Compiler.Benchmarks
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:project ../src/Q.Compiler.Core/Q.Compiler.Core.csproj
#:project ../src/Q.Compiler.Kernels/Q.Compiler.Kernels.csproj
#:project Timing/Q.Compiler.Bench.Timing.csproj
using System;
using System.Linq;
using Q.Compiler.Bench;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;

var rng = new Random(1);
string? only = args.Length > 0 ? args[0] : null;
Console.WriteLine($"QConvNchw path {QConvNchw.PathFor(false)}, timing by {ThreadClock.Kind}; µs per call (best batch), speed-up = float / variant");
Console.WriteLine($"{"layer",-40} {"float",8} {"signed",8} {"sgn/ps",8} {"unsigned",8} {"uns/ymm",8} {"uns/sm",8}  {"x sgn",6} {"x uns",6} {"x uns/sm",8} {"uns/sgn",7} {"ymm/uns",7} {"GMAC/s uns",10}  paired blocks (uns, sgn/ps)");
var totals = new double[6];
//     name                                   c    h    w    m  k  s  pad
Layer("mob 3x3 3->16 s2 @128x128 (first)",     3, 128, 128, 16, 3, 2, 1);
Layer("mob 1x1 16->8 @64x64",                 16,  64,  64,  8, 1, 1, 0);
Layer("mob 1x1 8->48 @64x64 (L4)",             8,  64,  64, 48, 1, 1, 0);
Layer("mob 1x1 48->16 @32x32",                48,  32,  32, 16, 1, 1, 0);
Layer("mob 1x1 16->96 @32x32",                16,  32,  32, 96, 1, 1, 0);
Layer("mob 1x1 96->16 @32x32",                96,  32,  32, 16, 1, 1, 0);
Layer("mob 1x1 16->96 @16x16",                16,  16,  16, 96, 1, 1, 0);
Layer("mob 1x1 32->192 @8x8",                 32,   8,   8, 192, 1, 1, 0);
Layer("uf 3x3 3->16 s2 @240x320 (first)",      3, 240, 320, 16, 3, 2, 1);
Layer("uf 1x1 16->32 @120x160",               16, 120, 160, 32, 1, 1, 0);
Layer("uf 1x1 32->32 @60x80",                 32,  60,  80, 32, 1, 1, 0);
Layer("uf 1x1 32->64 @60x80",                 32,  60,  80, 64, 1, 1, 0);
Layer("uf 1x1 64->64 @30x40",                 64,  30,  40, 64, 1, 1, 0);
Layer("uf 1x1 64->128 @30x40",                64,  30,  40, 128, 1, 1, 0);
Layer("uf 3x3 8->16 @30x40 (RFB)",             8,  30,  40, 16, 3, 1, 1);
Layer("uf 3x3 16->16 @30x40 (RFB)",           16,  30,  40, 16, 3, 1, 1);
Layer("uf 3x3 16->32 @30x40 (RFB)",           16,  30,  40, 32, 3, 1, 1);
Layer("uf 1x1 128->128 @15x20",              128,  15,  20, 128, 1, 1, 0);
Console.WriteLine($"{"total",-40} {totals[0],8:F1} {totals[1],8:F1} {totals[2],8:F1} {totals[3],8:F1} {totals[4],8:F1} {totals[5],8:F1}  {totals[0] / totals[1],6:F2} {totals[0] / totals[3],6:F2} {totals[0] / totals[5],8:F2} {totals[1] / totals[3],7:F2} {totals[4] / totals[3],7:F2}");

void Layer(string name, int c, int h, int wd, int m, int k, int s, int pad)
{
    if (only != null && !name.Contains(only)) return;
    int oh = (h + 2 * pad - k) / s + 1, ow = (wd + 2 * pad - k) / s + 1, taps = k * k, kk = c * taps, plane = oh * ow;
    var xf = Enumerable.Range(0, c * h * wd).Select(_ => (float)rng.NextDouble()).ToArray();
    var wf = Enumerable.Range(0, m * kk).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
    var bf = new float[m];
    var yf = new float[m * plane];
    Action f;
    if (k == 1 && s == 1 && pad == 0)
    {
        var sf = new float[Math.Min(512, c) * Math.Min(8, (h * wd + 15) / 16) * 16];
        f = () => Conv2D.Pointwise(xf, wf, bf, yf, sf, 1, c, h * wd, m, 1, 1, 0, 0);
    }
    else
    {
        var sf = new float[Conv2D.ImplicitGemmScratchLength(c, h, wd, m, k, k, s, s, 1, 1, pad, pad, pad, pad)];
        f = () => Conv2D.ImplicitGemm(xf, wf, bf, yf, sf, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 1, 1, 0, 0);
    }
    var x8 = Enumerable.Range(0, c * h * wd).Select(_ => (byte)rng.Next(256)).ToArray();
    var y8 = new byte[m * plane];
    var scale = Enumerable.Repeat(RequantScale.FromReal(1.0 / 4096), m).ToArray();
    var random = Enumerable.Range(0, m * kk).Select(_ => rng.Next(-127, 128)).ToArray();
    var trained = TrainedLike(m, kk);
    var small = Enumerable.Range(0, m * kk).Select(_ => rng.Next(-32, 32)).ToArray();
    int chunk = QConvNchw.ChunkFor(kk, plane);
    var scratch = new byte[QConvNchw.ScratchLength(c, h, wd, k, k, s, s, pad, pad, pad, pad, chunk)];
    int pairedU = 0, pairedS = 0;
    Action Nchw(int[] w, bool unsignedMode, ref int paired, QConvNchw.Path? path = null)
    {
        var (packed, sums, minus128) = QConvWeights.PackNchw(w, m, kk);
        var folded = QConvWeights.NchwBias(new int[m], sums, 128, unsignedMode);
        var withFlags = QConvWeights.NchwWithFlags(packed, m, kk, folded, scale, unsignedMode);
        paired = withFlags.Skip(packed.Length).Count(b => (b & QConvWeights.NchwPairQuads) != 0);
        if (path is { } forced)
            return () => QConvNchw.Run(forced, x8, withFlags, folded, scale, y8, scratch, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad,
                128, 128, 0, 255, unsignedMode);
        return () => QConvNchw.Gemm(x8, withFlags, folded, scale, y8, scratch, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad,
            128, 128, 0, 255, minus128, unsignedMode);
    }
    int unused = 0;
    var variants = new[]
    {
        f, Nchw(random, false, ref unused), Nchw(trained.Select(v => Math.Max(v, -127)).ToArray(), false, ref pairedS),
        Nchw(trained, true, ref pairedU), Nchw(trained, true, ref unused, QConvNchw.Path.Avx2), Nchw(small, true, ref unused),
    };
    var t = Time(variants);
    for (int i = 0; i < t.Length; i++) totals[i] += t[i];
    double gmac = (double)m * kk * plane / t[3] / 1000;
    int blocks = (m + 3) / 4;
    Console.WriteLine($"{name,-40} {t[0],8:F1} {t[1],8:F1} {t[2],8:F1} {t[3],8:F1} {t[4],8:F1} {t[5],8:F1}  {t[0] / t[1],6:F2} {t[0] / t[3],6:F2} {t[0] / t[5],8:F2} {t[1] / t[3],7:F2} {t[4] / t[3],7:F2} {gmac,10:F1}  {pairedU}/{blocks}, {pairedS}/{blocks}");
}

// Weights like a trained layer's per-channel int8 weights (about N(0, 32), clipped to [−128, 127]), each pair whose
// same-signed parts exceed ±128 trimmed (the smaller magnitude reduced): pair-safe, as the quantizer would make them.
int[] TrainedLike(int m, int kk)
{
    var w = new int[m * kk];
    for (int i = 0; i < w.Length; i++)
    {
        double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        w[i] = (int)Math.Clamp(Math.Round(32 * g), -128, 127);
    }
    for (int oc = 0; oc < m; oc++)
        for (int i = 0; i + 1 < kk; i += 2)
        {
            ref int a = ref w[oc * kk + i];
            ref int b = ref w[oc * kk + i + 1];
            if (a > 0 && b > 0 && a + b > 128) { if (a < b) a = 128 - b; else b = 128 - a; }
            if (a < 0 && b < 0 && a + b < -128) { if (a > b) a = -128 - b; else b = -128 - a; }
        }
    if (!QConvWeights.AllPairSafe(w, m, kk)) throw new InvalidOperationException("trimmed weights are not pair-safe");
    return w;
}

// Microseconds per call of each action: batches of about 20 ms of thread CPU time, the variants alternating, the best of 15.
static double[] Time(Action[] runs)
{
    foreach (var r in runs) for (int i = 0; i < 5; i++) r();
    var reps = runs.Select(r =>
    {
        int n = 1;
        while (true)
        {
            double t0 = ThreadClock.Microseconds();
            for (int i = 0; i < n; i++) r();
            if (ThreadClock.Microseconds() - t0 > 20_000) return n;
            n *= 2;
        }
    }).ToArray();
    var best = Enumerable.Repeat(double.MaxValue, runs.Length).ToArray();
    for (int batch = 0; batch < 15; batch++)
        for (int v = 0; v < runs.Length; v++)
        {
            double t0 = ThreadClock.Microseconds();
            for (int i = 0; i < reps[v]; i++) runs[v]();
            best[v] = Math.Min(best[v], (ThreadClock.Microseconds() - t0) / reps[v]);
        }
    return best;
}
