using System.Runtime.Intrinsics.X86;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Dispatch under reduced instruction sets. The quantized kernels are compiled from their embedded sources (as the
/// generator emits them into a user's assembly) into a small console probe, which runs them through their public entry
/// points against the Core integer reference in child processes started with DOTNET_EnableAVX512=0,
/// DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0.
/// </summary>
public class KernelDispatchTests : IClassFixture<KernelDispatchTests.ProbeBuild>
{
    private readonly ProbeBuild _probe;

    public KernelDispatchTests(ProbeBuild probe) => _probe = probe;

    /// <summary>The probe, compiled once for the class and deleted after it.</summary>
    public sealed class ProbeBuild : KernelProbe
    {
        public ProbeBuild() : base("KernelProbe", new[] { "QGemm", "QuantizeLinear", "DequantizeLinear" }, new[] { ("KernelProbe.cs", Probe) }, referenceCore: true)
        {
        }
    }

    private const string Probe = """
        using System;
        using System.Linq;
        using Q.Compiler.Kernels;
        using Q.Compiler.Quantization;

        public static class KernelProbe
        {
            private static uint s_state = 12345;
            private static int Next(int lo, int hi) { s_state = s_state * 1664525 + 1013904223; return lo + (int)((s_state >> 8) % (uint)(hi - lo)); }

            public static int Main()
            {
                Console.WriteLine("qgemm=" + QGemm.SelectedPath + " requantize=" + Requantize.Best + " quantize=" + QuantizeLinear.Best + " dequantize=" + DequantizeLinear.Best);
                int checks = 0;
                foreach (bool minus128 in new[] { false, true })
                foreach (var (m, n, k) in new[] { (1, 1, 1), (4, 16, 4), (5, 17, 7), (9, 33, 65), (3, 40, 130) })
                foreach (int za in new[] { 0, 128, 255 })
                {
                    var a = Enumerable.Range(0, m * k).Select(_ => (byte)Next(0, 256)).ToArray();
                    var b = Enumerable.Range(0, k * n).Select(_ => (sbyte)Next(minus128 ? -128 : -127, 128)).ToArray();
                    var bias = Enumerable.Range(0, n).Select(_ => Next(-100000, 100000)).ToArray();
                    var mult = Enumerable.Range(0, n).Select(_ => RequantScale.FromReal(Math.Pow(2, -Next(6, 20)) * 0.77)).ToArray();
                    var packed = PackedQGemmWeights.FromKxN(b, k, n);
                    var y = new byte[m * n];
                    QGemm.U8S8(a, packed.Data, packed.ColumnSums, bias, default, mult,
                        y, m, n, k, za, 7, 7, 250, packed.HasMinus128);
                    var want = IntegerReference.GemmU8S8(a, b, m, n, k, za, default, bias, mult, 7, 7, 250);
                    if (!want.AsSpan().SequenceEqual(y)) { Console.WriteLine($"MISMATCH QGemm M={m} N={n} K={k} za={za} minus128={minus128}"); return 1; }
                    var y32 = new int[m * n];
                    QGemm.U8S8Int32(a, packed.Data, packed.ColumnSums, bias, default, y32, m, n, k, za, packed.HasMinus128);
                    if (!IntegerReference.GemmU8S8Accumulate(a, b, m, n, k, za, default, bias).AsSpan().SequenceEqual(y32)) { Console.WriteLine("MISMATCH QGemm int32"); return 1; }
                    checks += 2;
                }
                var acc = Enumerable.Range(0, 3 * 37).Select(_ => Next(int.MinValue / 2, int.MaxValue / 2)).ToArray();
                var rm = new[] { RequantScale.FromReal(1.0), RequantScale.FromReal(1e-4), RequantScale.FromReal(3e-7) };
                var r8 = new byte[acc.Length];
                Requantize.ToUInt8(acc, rm, r8, 3, 37, 128, 0, 255);
                if (!IntegerReference.Requantize(acc, rm, 37, 128, 0, 255).SequenceEqual(r8.Select(v => (int)v))) { Console.WriteLine("MISMATCH Requantize"); return 1; }
                var x = Enumerable.Range(0, 1003).Select(i => (i - 500) * 0.0123f + (i % 7 == 0 ? 0.025f : 0f)).ToArray();
                var q = new byte[x.Length];
                QuantizeLinear.ToUInt8(x, new[] { 0.05f }, new[] { 120 }, q, 1, 1);
                if (!IntegerReference.Quantize(x, 0.05f, 120, 0, 255).SequenceEqual(q.Select(v => (int)v))) { Console.WriteLine("MISMATCH QuantizeLinear"); return 1; }
                var d = new float[q.Length];
                DequantizeLinear.FromUInt8(q, new[] { 0.05f }, new[] { 120 }, d, 1, 1);
                if (!IntegerReference.Dequantize(q.Select(v => (int)v).ToArray(), 0.05f, 120).SequenceEqual(d)) { Console.WriteLine("MISMATCH DequantizeLinear"); return 1; }
                checks += 3;
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
    public void Kernels_dispatch_to_an_exact_path_under_each_instruction_set_limit(string? disable)
    {
        var (exit, output) = _probe.Run(disable);
        Assert.True(exit == 0, output);
        Assert.Contains("ok ", output);
        string qgemm = output.Split(' ', '\n').First(s => s.StartsWith("qgemm=", StringComparison.Ordinal)).Substring(6).Trim();
        if (disable == "DOTNET_EnableHWIntrinsic")
            Assert.Equal("Scalar", qgemm);
        else if (disable == "DOTNET_EnableAVX2" && Sse2.IsSupported)
            Assert.Equal("Vector128", qgemm);
        else if (disable == "DOTNET_EnableAVX512" && Avx2.IsSupported)
            Assert.Equal("Avx2", qgemm);
        else if (disable is null)
            Assert.Equal(Q.Compiler.Kernels.QGemm.SelectedPath, qgemm);
        if (disable == "DOTNET_EnableHWIntrinsic") Assert.Contains("quantize=Scalar", output);
    }
}
