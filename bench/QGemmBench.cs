// Quick timing of the int8 GEMM against the float GEMM on a MobileNet-like pointwise shape.
// Run: dotnet run -c Release bench/QGemmBench.cs [M K N]
// (A file-based app; it builds Q.Compiler.Kernels' sources into itself under the name the kernels grant access to.)
#:property AssemblyName=Q.Compiler.Benchmarks
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:project ../src/Q.Compiler.Core/Q.Compiler.Core.csproj
#:project ../src/Q.Compiler.Kernels/Q.Compiler.Kernels.csproj
using System;
using System.Diagnostics;
using System.Linq;
using System.Runtime.Intrinsics;
using Q.Compiler.Kernels;
using Q.Compiler.Quantization;

int m = args.Length > 0 ? int.Parse(args[0]) : 64, k = args.Length > 1 ? int.Parse(args[1]) : 576, n = args.Length > 2 ? int.Parse(args[2]) : 1024;
var rng = new Random(1);
var af = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble()).ToArray();
var bf = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
var yf = new float[m * n];
var a8 = Enumerable.Range(0, m * k).Select(_ => (byte)rng.Next(256)).ToArray();
var b8 = Enumerable.Range(0, k * n).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray();
var packed = PackedQGemmWeights.FromKxN(b8, k, n);
var bias = new int[n];
var scale = Enumerable.Repeat(RequantScale.FromReal(1.0 / 4096), n).ToArray();
var y8 = new byte[m * n];
var y32 = new int[m * n];
double macs = (double)m * n * k;

// Best of 15 batches of ~50 ms: on a shared machine the minimum is the stable figure.
double Time(string name, Action run)
{
    for (int i = 0; i < 20; i++) run();
    int reps = 1;
    var sw = Stopwatch.StartNew();
    while (true)
    {
        sw.Restart();
        for (int i = 0; i < reps; i++) run();
        if (sw.Elapsed.TotalMilliseconds > 50) break;
        reps *= 2;
    }
    double best = double.MaxValue;
    for (int batch = 0; batch < 15; batch++)
    {
        sw.Restart();
        for (int i = 0; i < reps; i++) run();
        best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 1000 / reps);
    }
    Console.WriteLine($"{name,-28} {best,9:F1} us  {macs / best / 1000,6:F2} GMAC/s");
    return best;
}

Console.WriteLine($"M={m} K={k} N={n}, QGemm path {QGemm.SelectedPath}");
double f = Time("float Gemm", () => Gemm.Run(af, bf, default, yf, m, n, k, false, false, 1f, 0f, 0, 0, 0f, 0f));
foreach (var p in Enum.GetValues<QGemm.Path>().Where(QGemm.IsSupported))
{
    double q = Time("QGemm u8s8→u8 " + p, () => QGemm.Run(p, a8, packed.Data, packed.ColumnSums, bias, default, scale, y8, default, m, n, k, 128, 3, 0, 255));
    Console.WriteLine($"{"",-28} {f / q,9:F2}x float");
}
Time("QGemm u8s8→i32 (no requant)", () => QGemm.U8S8Int32(a8, packed.Data, packed.ColumnSums, bias, default, y32, m, n, k, 128, false));

// A register-blocked float GEMM (4 rows × 16 columns of FMA accumulators over B packed in 16-column panels), as a fair
// float baseline: the shipped Gemm streams all of B once per row of A.
var bp = new float[(n + 15) / 16 * 16 * k];
for (int kk = 0; kk < k; kk++) for (int j = 0; j < n; j++) bp[(j / 16 * k + kk) * 16 + j % 16] = bf[kk * n + j];
double fb = Time("float blocked 4x16 FMA", () => BlockedFloat.Run(af, bp, yf, m, n, k));
double best8 = Time("QGemm U8S8 (dispatch)", () => QGemm.U8S8(a8, packed.Data, packed.ColumnSums, bias, default, scale, y8, m, n, k, 128, 3, 0, 255, false));
Console.WriteLine($"int8 dispatch vs float Gemm: {f / best8:F2}x, vs blocked float: {fb / best8:F2}x");


static class BlockedFloat
{
    public static void Run(float[] a, float[] bp, float[] y, int m, int n, int k)
    {
        for (int p = 0; p < n / 16; p++)
            for (int i = 0; i + 4 <= m; i += 4)
            {
                var c00 = System.Runtime.Intrinsics.Vector256<float>.Zero; var c01 = c00; var c10 = c00; var c11 = c00;
                var c20 = c00; var c21 = c00; var c30 = c00; var c31 = c00;
                int bo = p * k * 16;
                for (int kk = 0; kk < k; kk++)
                {
                    var b0 = System.Runtime.Intrinsics.Vector256.Create(bp.AsSpan(bo + kk * 16, 8));
                    var b1 = System.Runtime.Intrinsics.Vector256.Create(bp.AsSpan(bo + kk * 16 + 8, 8));
                    var x = System.Runtime.Intrinsics.Vector256.Create(a[i * k + kk]);
                    c00 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b0, c00); c01 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b1, c01);
                    x = System.Runtime.Intrinsics.Vector256.Create(a[(i + 1) * k + kk]);
                    c10 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b0, c10); c11 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b1, c11);
                    x = System.Runtime.Intrinsics.Vector256.Create(a[(i + 2) * k + kk]);
                    c20 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b0, c20); c21 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b1, c21);
                    x = System.Runtime.Intrinsics.Vector256.Create(a[(i + 3) * k + kk]);
                    c30 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b0, c30); c31 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(x, b1, c31);
                }
                c00.CopyTo(y.AsSpan(i * n + p * 16)); c01.CopyTo(y.AsSpan(i * n + p * 16 + 8));
                c10.CopyTo(y.AsSpan((i + 1) * n + p * 16)); c11.CopyTo(y.AsSpan((i + 1) * n + p * 16 + 8));
                c20.CopyTo(y.AsSpan((i + 2) * n + p * 16)); c21.CopyTo(y.AsSpan((i + 2) * n + p * 16 + 8));
                c30.CopyTo(y.AsSpan((i + 3) * n + p * 16)); c31.CopyTo(y.AsSpan((i + 3) * n + p * 16 + 8));
            }
    }
}
