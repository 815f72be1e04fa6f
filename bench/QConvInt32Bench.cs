// Times ConvInteger (int32 output) on UltraFace-RFB-320's six 1×1 head convolutions (the ones feeding the float tail through
// DynamicDequantize), one thread, all variants of a layer alternating in one process:
//   float     Conv2D.Pointwise, as the float build runs the layer
//   old       QConv2D.GemmInt32 (NHWC patches, QGemm tiles of output channels, transposes), the lowering before QConvNchw.GemmInt32
//   signed    QConvNchw.GemmInt32 with the sign trick, random weights in [−127, 127]
//   unsigned  QConvNchw.GemmInt32 in unsigned mode on pair-safe, trained-like weights (about N(0, 32), pairs trimmed)
// Run: dotnet run -c Release bench/QConvInt32Bench.cs [name substring]
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

var rng = new Random(1);
string? only = args.Length > 0 ? args[0] : null;
Console.WriteLine($"QConvNchw path {QConvNchw.PathFor(false)}, timing by {ThreadClock.Kind}; µs per call (best batch)");
Console.WriteLine($"{"layer",-28} {"float",8} {"old",8} {"signed",8} {"unsigned",8}  {"old/uns",7} {"flt/uns",7} {"flt/sgn",7}");
var totals = new double[4];
//     name                       c    h   w   m
Layer("uf head 64->6 @30x40",    64, 30, 40,  6);
Layer("uf head 64->12 @30x40",   64, 30, 40, 12);
Layer("uf head 128->4 @15x20",  128, 15, 20,  4);
Layer("uf head 128->8 @15x20",  128, 15, 20,  8);
Layer("uf head 256->4 @8x10",   256,  8, 10,  4);
Layer("uf head 256->8 @8x10",   256,  8, 10,  8);
Layer("uf head 64->12 @15x20",   64, 15, 20, 12);
Layer("uf head 64->12 @8x10",    64,  8, 10, 12);
Console.WriteLine($"{"total",-28} {totals[0],8:F1} {totals[1],8:F1} {totals[2],8:F1} {totals[3],8:F1}  {totals[1] / totals[3],7:F2} {totals[0] / totals[3],7:F2} {totals[0] / totals[2],7:F2}");

void Layer(string name, int c, int h, int wd, int m)
{
    if (only != null && !name.Contains(only)) return;
    int plane = h * wd, kk = c;
    var xf = Enumerable.Range(0, c * plane).Select(_ => (float)rng.NextDouble()).ToArray();
    var wf = Enumerable.Range(0, m * kk).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
    var bf = new float[m];
    var yf = new float[m * plane];
    var sf = new float[Math.Min(512, c) * Math.Min(8, (plane + 15) / 16) * 16];
    Action f = () => Conv2D.Pointwise(xf, wf, bf, yf, sf, 1, c, plane, m, 1, 1, 0, 0);

    var x8 = Enumerable.Range(0, c * plane).Select(_ => (byte)rng.Next(256)).ToArray();
    var y32 = new int[m * plane];
    var random = Enumerable.Range(0, m * kk).Select(_ => rng.Next(-127, 128)).ToArray();
    var trained = TrainedLike(m, kk);

    var (gemmW, colSums, gemmMinus128) = QConvWeights.PackGemm(trained, m, c, 1, 1);
    var gemmScratch = new byte[QConv2D.GemmScratchLength(c, h, wd, m, 1, 1, 1, 1, 0, 0, 0, 0, 1, QConv2D.ChunkFor(kk, plane), true)];
    Action old = () => QConv2D.GemmInt32(x8, gemmW, colSums, default, y32, gemmScratch, 1, c, h, wd, m, h, wd, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 128, gemmMinus128);

    var scratch = new byte[QConvNchw.ScratchLength(c, h, wd, 1, 1, 1, 1, 0, 0, 0, 0, QConvNchw.ChunkFor(kk, plane))];
    Action Nchw(int[] w, bool unsignedMode)
    {
        var (packed, sums, minus128) = QConvWeights.PackNchw(w, m, kk);
        var folded = QConvWeights.NchwBias(Array.Empty<int>(), sums, 128, unsignedMode);
        var withFlags = QConvWeights.NchwWithFlags(packed, m, kk, folded, Enumerable.Repeat(1f, m).ToArray(), unsignedMode);
        return () => QConvNchw.GemmInt32(x8, withFlags, folded, y32, scratch, 1, c, h, wd, m, h, wd, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 128, minus128, unsignedMode);
    }
    var t = Time(new[] { f, old, Nchw(random, false), Nchw(trained, true) });
    for (int i = 0; i < t.Length; i++) totals[i] += t[i];
    Console.WriteLine($"{name,-28} {t[0],8:F1} {t[1],8:F1} {t[2],8:F1} {t[3],8:F1}  {t[1] / t[3],7:F2} {t[0] / t[3],7:F2} {t[0] / t[2],7:F2}");
}

// Weights like a trained layer's per-channel int8 weights (about N(0, 32), clipped), each pair over ±128 trimmed: pair-safe.
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
