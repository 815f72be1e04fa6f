// Times the int8 convolution kernels (QConv2D) against the float Conv2D kernels the float build uses, on MobileNet-v2 /
// UltraFace-like layer shapes, one thread.
// Run: dotnet run -c Release bench/QConvBench.cs [name substring]
// (A file-based app; it builds Q.Compiler.Kernels' sources into itself under the name the kernels grant access to.)
#:property AssemblyName=Q.Compiler.Benchmarks
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:project ../src/Q.Compiler.Core/Q.Compiler.Core.csproj
#:project ../src/Q.Compiler.Kernels/Q.Compiler.Kernels.csproj
#:project Timing/Q.Compiler.Bench.Timing.csproj
using System;
using System.Diagnostics;
using System.Linq;
using Q.Compiler.Bench;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;

var rng = new Random(1);
string? only = args.Length > 0 ? args[0] : null; // a substring of the layer names to run
Console.WriteLine($"QGemm path {QGemm.SelectedPath}, depthwise path {QConv2D.DepthwiseBest}, timing by {ThreadClock.Kind}");
Console.WriteLine($"{"layer",-44} {"float us",9} {"int8 us",9} {"speed-up",8} {"nchw us",9} {"speed-up",8}");
double totalF = 0, totalQ = 0, totalFN = 0, totalN = 0;
//    name                                   c   h    w    m  k  s  pad group
Layer("1x1 32->16 @64x64 (pointwise)",       32, 64,  64,  16, 1, 1, 0, 1);
Layer("1x1 16->96 @64x64 (expand)",          16, 64,  64,  96, 1, 1, 0, 1);
Layer("1x1 96->24 @32x32 (project)",         96, 32,  32,  24, 1, 1, 0, 1);
Layer("1x1 144->24 @32x32",                 144, 32,  32,  24, 1, 1, 0, 1);
Layer("1x1 320->1280 @4x4 (last)",          320,  4,   4, 1280, 1, 1, 0, 1);
Layer("3x3 dw 96 @32x32 s2",                 96, 32,  32,  96, 3, 2, 1, 96);
Layer("3x3 dw 144 @32x32 s1",               144, 32,  32, 144, 3, 1, 1, 144);
Layer("3x3 dw 32 @64x64 s1",                 32, 64,  64,  32, 3, 1, 1, 32);
Layer("3x3 3->16 s2 @128x128 (first)",        3, 128, 128, 16, 3, 2, 1, 1);
Layer("3x3 16->32 @60x80 (ultraface full)",  16, 60,  80,  32, 3, 1, 1, 1);
Layer("1x1 8->48 @64x64 (K = 8 expand)",      8, 64,  64,  48, 1, 1, 0, 1);
Layer("1x1 48->8 @64x64 (project to 8)",     48, 64,  64,   8, 1, 1, 0, 1);
Layer("1x1 96->576 @8x8",                    96,  8,   8, 576, 1, 1, 0, 1);
Layer("1x1 16->64 @120x160 (ultraface)",     16, 120, 160, 64, 1, 1, 0, 1);
Layer("3x3 3->16 s2 @240x320 (ultraface first)", 3, 240, 320, 16, 3, 2, 1, 1);
Layer("3x3 256->12 @4x5 (ultraface head)",  256,  4,   5,  12, 3, 1, 1, 1);
Layer("3x3 8->16 @30x40 (ultraface RFB)",     8, 30,  40,  16, 3, 1, 1, 1);
Layer("3x3 16->16 @30x40 (ultraface RFB)",   16, 30,  40,  16, 3, 1, 1, 1);
Layer("1x1 16->32 @120x160 (ultraface L3)",  16, 120, 160, 32, 1, 1, 0, 1);
Layer("1x1 32->32 @60x80 (ultraface)",       32, 60,  80,  32, 1, 1, 0, 1);
Layer("1x1 64->64 @30x40 (ultraface)",       64, 30,  40,  64, 1, 1, 0, 1);
Layer("1x1 128->128 @15x20 (ultraface)",    128, 15,  20, 128, 1, 1, 0, 1);
Layer("1x1 256->256 @8x10 (ultraface)",     256,  8,  10, 256, 1, 1, 0, 1);
Layer("1x1 8->48 @32x32 (mobilenet expand)",  8, 32,  32,  48, 1, 1, 0, 1);
Layer("1x1 48->8 @32x32 (mobilenet project)", 48, 32, 32,   8, 1, 1, 0, 1);
Layer("3x3 16->32 s2 @64x64 (first, K=144)", 16, 64,  64,  32, 3, 2, 1, 1);
Console.WriteLine($"{"total",-44} {totalF,9:F1} {totalQ,9:F1} {totalF / totalQ,7:F2}x");
Console.WriteLine($"{"total of the layers QConvNchw takes",-44} {totalFN,9:F1} {"",9} {"",8} {totalN,9:F1} {totalFN / totalN,7:F2}x");

void Layer(string name, int c, int h, int wd, int m, int k, int s, int pad, int group)
{
    if (only != null && !name.Contains(only)) return;
    int oh = (h + 2 * pad - k) / s + 1, ow = (wd + 2 * pad - k) / s + 1, cg = c / group, taps = k * k, plane = oh * ow;
    var xf = Enumerable.Range(0, c * h * wd).Select(_ => (float)rng.NextDouble()).ToArray();
    var wf = Enumerable.Range(0, m * cg * taps).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
    var bf = new float[m];
    var yf = new float[m * plane];
    var x8 = Enumerable.Range(0, c * h * wd).Select(_ => (byte)rng.Next(256)).ToArray();
    var w8 = Enumerable.Range(0, m * cg * taps).Select(_ => rng.Next(-127, 128)).ToArray();
    var bias = new int[m];
    var zw = new int[m];
    var scale = Enumerable.Repeat(RequantScale.FromReal(1.0 / 4096), m).ToArray();
    var y8 = new byte[m * plane];
    bool depthwise = group == c && group == m;
    Action f, q;
    if (depthwise)
    {
        var sf = new float[Conv2D.DepthwiseScratchLength(h, wd, s, pad, pad, pad, pad)];
        f = () => Conv2D.Depthwise(xf, wf, bf, yf, sf, 1, c, h, wd, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 1, 0, 0);
        var diff = QConvWeights.DepthwiseDifferences(w8, zw, taps);
        var s8 = new byte[QConv2D.DepthwiseScratchLength(h, wd, s, pad, pad, pad, pad)];
        var ws = w8.Select(v => (sbyte)v).ToArray();
        var folded = QConvWeights.DepthwiseBias(bias, diff, taps, 128);
        q = () => QConv2D.Depthwise(x8, ws, Array.Empty<int>(), folded, scale, y8, s8, 1, c, h, wd, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 128, 128, 0, 255);
    }
    else
    {
        // The float lowering's choice (ConvOp.Lower): pointwise GEMM, implicit GEMM, or im2col.
        if (k == 1 && s == 1 && pad == 0)
        {
            var sf = new float[Math.Min(512, cg) * Math.Min(8, (h * wd + 15) / 16) * 16];
            f = () => Conv2D.Pointwise(xf, wf, bf, yf, sf, 1, c, h * wd, m, group, 1, 0, 0);
        }
        else
        {
            var sf = new float[Conv2D.ImplicitGemmScratchLength(c, h, wd, m, k, k, s, s, 1, group, pad, pad, pad, pad)];
            f = () => Conv2D.ImplicitGemm(xf, wf, bf, yf, sf, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, group, 1, 0, 0);
        }
        var (packed, sums, minus128) = QConvWeights.PackGemm(w8, m, cg, taps, group);
        int chunk = QConv2D.ChunkFor(cg * taps, plane);
        var s8 = new byte[QConv2D.GemmScratchLength(c, h, wd, m, k, k, s, s, pad, pad, pad, pad, group, chunk, false)];
        q = () => QConv2D.Gemm(x8, packed, sums, bias, zw, scale, y8, s8, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, group, 128, 128, 0, 255, minus128);
    }
    var (tf, tq) = TimePair(f, q);
    totalF += tf; totalQ += tq;
    string nchw = "";
    if (!depthwise && group == 1)
    {
        // The NCHW-native kernel (QConvNchw) on the same layer.
        var (packedN, sumsN, minusN) = QConvWeights.PackNchw(w8, m, c * taps);
        var foldedN = QConvWeights.NchwBias(bias, sumsN, 128);
        packedN = QConvWeights.NchwWithFlags(packedN, m, c * taps, foldedN, scale);
        int chunkN = QConvNchw.ChunkFor(c * taps, plane);
        var sN = new byte[QConvNchw.ScratchLength(c, h, wd, k, k, s, s, pad, pad, pad, pad, chunkN)];
        Action qn = () => QConvNchw.Gemm(x8, packedN, foldedN, scale, y8, sN, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 128, 128, 0, 255, minusN);
        var (_, tn) = TimePair(q, qn);
        nchw = $" {tn,9:F1} {tf / tn,7:F2}x";
        totalFN += tf; totalN += tn;
    }
    Console.WriteLine($"{name,-44} {tf,9:F1} {tq,9:F1} {tf / tq,7:F2}x{nchw}");
}

static (double, double) TimePair(Action a, Action b) => PairTimer.Time(a, b, batchMicroseconds: 20_000, batches: 15);
