// Times the int8 build's input layer: QuantizeLinear then QConvNchw (two kernels, the uint8 image written and read back)
// against QConvNchw.GemmFloatInput (the quantization fused into the padded image), and the float build's first
// convolution (Conv2D.ImplicitGemm), at UltraFace's and MobileNet's first-layer shapes; pairs timed alternately.
// Run: dotnet run -c Release bench/QInputBench.cs [name substring]
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
Console.WriteLine($"QConvNchw path {QConvNchw.PathFor(false)}, timing by {ThreadClock.Kind}");
Console.WriteLine($"{"layer",-40} {"float us",9} {"q+conv us",9} {"fused us",9} {"fused/q+conv",12} {"float/fused",11}");
Layer("ultraface first 3->16 s2 @240x320", 3, 240, 320, 16);
Layer("mobilenet first 3->16 s2 @128x128", 3, 128, 128, 16);

void Layer(string name, int c, int h, int wd, int m)
{
    if (only != null && !name.Contains(only)) return;
    const int k = 3, s = 2, pad = 1, taps = 9;
    int oh = (h + 2 * pad - k) / s + 1, ow = (wd + 2 * pad - k) / s + 1, plane = oh * ow;
    var xf = Enumerable.Range(0, c * h * wd).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    float qs = 2f / 255; int qz = 128;
    var wf = Enumerable.Range(0, m * c * taps).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
    var yf = new float[m * plane];
    var sf = new float[Conv2D.ImplicitGemmScratchLength(c, h, wd, m, k, k, s, s, 1, 1, pad, pad, pad, pad)];
    Action f = () => Conv2D.ImplicitGemm(xf, wf, new float[m], yf, sf, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, 1, 1, 0, 0);

    var w8 = Enumerable.Range(0, m * c * taps).Select(_ => rng.Next(-127, 128)).ToArray();
    var (packed, sums, minus) = QConvWeights.PackNchw(w8, m, c * taps);
    var bias = QConvWeights.NchwBias(new int[m], sums, qz);
    var scale = Enumerable.Repeat(RequantScale.FromReal(1.0 / 4096), m).ToArray();
    var scratch = new byte[QConvNchw.ScratchLength(c, h, wd, k, k, s, s, pad, pad, pad, pad, QConvNchw.ChunkFor(c * taps, plane))];
    var x8 = new byte[xf.Length];
    var y8 = new byte[m * plane];
    var y8f = new byte[m * plane];
    Action two = () =>
    {
        QuantizeLinear.ToUInt8(xf, [qs], [qz], x8, 1, xf.Length);
        QConvNchw.Gemm(x8, packed, bias, scale, y8, scratch, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1, pad, pad, pad, pad, qz, 0, 0, 255, minus);
    };
    Action fused = () => QConvNchw.GemmFloatInput(xf, qs, qz, packed, bias, scale, y8f, scratch, 1, c, h, wd, m, oh, ow, k, k, s, s, 1, 1,
        pad, pad, pad, pad, qz, 0, 0, 255, minus);
    two(); fused();
    if (!y8.AsSpan().SequenceEqual(y8f)) throw new InvalidOperationException("fused output differs");
    var (tt, tfu) = PairTimer.Time(two, fused, 20_000, 40);
    var (tf, tfu2) = PairTimer.Time(f, fused, 20_000, 40);
    Console.WriteLine($"{name,-40} {tf,9:F1} {tt,9:F1} {tfu,9:F1} {tfu / tt,11:F2}x {tf / tfu2,10:F2}x");
}
