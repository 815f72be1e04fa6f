// Times the int8 depthwise kernel (QConv2D.Depthwise) against the float Conv2D.Depthwise on the depthwise layers of
// mobilenet-v2-128-0.5 (and UltraFace-like shapes), one thread; then QuantizeLinear and QLinearAdd against their float
// counterparts.
// Run: dotnet run -c Release bench/DwBench.cs [filter[,filter...]]   (substrings of the layer names)
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
string[] filters = (args.Length > 0 ? args[0] : "").Split(',');
Console.WriteLine($"depthwise path {QConv2D.DepthwiseBest}, timing by {ThreadClock.Kind}");
Console.WriteLine($"{"layer",-36} {"float us",9} {"int8 us",9} {"speed-up",8}");
double totalF = 0, totalQ = 0;
//  name                        c    h   s
Dw("dw 8 @64x64 s1 (L2)",        8, 64, 1);
Dw("dw 48 @64x64 s2 (L5)",      48, 64, 2);
Dw("dw 80 @32x32 s1 (L8)",      80, 32, 1);
Dw("dw 96 @32x32 s2 (L12)",     96, 32, 2);
Dw("dw 64 @16x16 s1 (L15)",     64, 16, 1);
Dw("dw 96 @16x16 s1 (L19)",     96, 16, 1);
Dw("dw 96 @16x16 s2 (L23)",     96, 16, 2);
Dw("dw 152 @8x8 s1 (L26)",     152,  8, 1);
Dw("dw 232 @8x8 s1 (L41)",     232,  8, 1);
Dw("dw 272 @8x8 s2 (L49)",     272,  8, 2);
Dw("dw 272 @4x4 s1 (L52)",     272,  4, 1);
Dw("dw 328 @4x4 s1 (L60)",     328,  4, 1);
// UltraFace-RFB-320's depthwise layers (the int8 plan's shapes; count of layers of the shape in brackets)
Dw("dw 16 @120x160 s1 (uf L1)",     16, 120, 1, 160);
Dw("dw 32 @120x160 s2 (uf L3)",     32, 120, 2, 160);
Dw("dw 32 @60x80 s1 (uf L5)",       32, 60, 1, 80);
Dw("dw 32 @60x80 s2 (uf L7)",       32, 60, 2, 80);
Dw("dw 64 @30x40 s1 (uf L9 [4])",   64, 30, 1, 40);
Dw("dw 64 @30x40 s2 (uf L31)",      64, 30, 2, 40);
Dw("dw 128 @15x20 s1 (uf L33 [4])", 128, 15, 1, 20);
Dw("dw 128 @15x20 s2 (uf L41)",     128, 15, 2, 20);
Dw("dw 256 @8x10 s1 (uf L43 [3])",  256,  8, 1, 10);
Dw("dw 64 @8x10 s2 (uf L50)",       64,  8, 2, 10);
Console.WriteLine($"{"depthwise total",-36} {totalF,9:F1} {totalQ,9:F1} {totalF / totalQ,7:F2}x");
Other();

void Dw(string name, int c, int h, int s, int wd = 0)
{
    if (!filters.Any(f => name.Contains(f))) return;
    if (wd == 0) wd = h;
    int k = 3, pad = 1;
    int oh = (h + 2 * pad - k) / s + 1, ow = (wd + 2 * pad - k) / s + 1, taps = k * k, plane = oh * ow;
    var xf = Enumerable.Range(0, c * h * wd).Select(_ => (float)rng.NextDouble()).ToArray();
    var wf = Enumerable.Range(0, c * taps).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
    var bf = new float[c];
    var yf = new float[c * plane];
    var x8 = Enumerable.Range(0, c * h * wd).Select(_ => (byte)rng.Next(256)).ToArray();
    var w8 = Enumerable.Range(0, c * taps).Select(_ => rng.Next(-127, 128)).ToArray();
    var bias = new int[c];
    var zw = new int[c];
    var scale = Enumerable.Repeat(RequantScale.FromReal(1.0 / 4096), c).ToArray();
    var y8 = new byte[c * plane];
    var sf = new float[Conv2D.DepthwiseScratchLength(h, wd, s, pad, pad, pad, pad)];
    Action f = () => Conv2D.Depthwise(xf, wf, bf, yf, sf, 1, c, h, wd, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 1, 0, 0);
    var diff = QConvWeights.DepthwiseDifferences(w8, zw, taps);
    var s8 = new byte[QConv2D.DepthwiseScratchLength(h, wd, s, pad, pad, pad, pad)];
    var ws = w8.Select(v => (sbyte)v).ToArray();
    Action q = () => QConv2D.Depthwise(x8, ws, Array.Empty<int>(), bias, scale, y8, s8, 1, c, h, wd, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 0, 0, 0, 255);
    var (tf, tq) = TimePair(f, q);
    totalF += tf; totalQ += tq;
    Console.WriteLine($"{name,-36} {tf,9:F2} {tq,9:F2} {tf / tq,7:F2}x");
}

void Other()
{
    if (!filters.Any(f => f == "" || "quantize add".Contains(f))) return;
    int n = 3 * 128 * 128;
    var xf = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    var y8 = new byte[n];
    var yf = new float[n];
    var one = new float[] { 0.0078125f };
    var zp = new byte[] { 128 };
    Action q = () => QuantizeLinear.ToUInt8(xf, one, zp, y8, 1, n);
    Action f = () => { for (int i = 0; i < n; i++) yf[i] = xf[i]; };
    var (tf, tq) = TimePair(f, q);
    Console.WriteLine($"{"quantize 1x3x128x128 (vs float copy)",-36} {tf,9:F2} {tq,9:F2} {tf / tq,7:F2}x");

    // QLinearAdd of two [1,16,32,32] tensors (mobilenet L10) against the float Add of the same shape.
    int m = 16 * 32 * 32;
    var a8 = Enumerable.Range(0, m).Select(_ => (byte)rng.Next(256)).ToArray();
    var b8 = Enumerable.Range(0, m).Select(_ => (byte)rng.Next(256)).ToArray();
    var c8 = new byte[m];
    var af = Enumerable.Range(0, m).Select(_ => (float)rng.NextDouble()).ToArray();
    var bf = Enumerable.Range(0, m).Select(_ => (float)rng.NextDouble()).ToArray();
    var cf = new float[m];
    Action qa = () => QLinearBinary.Add(a8, b8, c8, [m], [1], [1], 124, 119, 1812670, 1702036, 21, 123, 0, 255);
    Action fa = () => { for (int i = 0; i < m; i++) cf[i] = af[i] + bf[i]; };
    (tf, tq) = TimePair(fa, qa);
    Console.WriteLine($"{"qlinearadd 16x32x32 (vs float loop)",-36} {tf,9:F2} {tq,9:F2} {tf / tq,7:F2}x");
}

static (double, double) TimePair(Action a, Action b) => PairTimer.Time(a, b, batchMicroseconds: 10_000, batches: 11);
