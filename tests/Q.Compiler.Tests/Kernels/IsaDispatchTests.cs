using System.Runtime.Intrinsics.X86;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// The kernels' instruction-set dispatch, end to end: <see cref="KernelSelfCheck"/> runs in process, and again in child
/// processes built from the kernel sources exactly as the generator emits them (C# 12), with the runtime's switches
/// turning instruction sets off (DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0), so each
/// path the JIT can select on this machine is exercised through the public entry points.
/// </summary>
public sealed class IsaDispatchTests : IClassFixture<IsaDispatchTests.SelfCheckProgram>
{
    private readonly ITestOutputHelper _out;
    private readonly SelfCheckProgram _program;

    public IsaDispatchTests(ITestOutputHelper output, SelfCheckProgram program) => (_out, _program) = (output, program);

    /// <summary>The child program: emitted kernel sources + KernelSelfCheck.cs + a Main, compiled once for the class.</summary>
    public sealed class SelfCheckProgram : KernelProbe
    {
        public SelfCheckProgram() : base("QKernelSelfCheck", new[] { "Gemm", "Conv2D", "Pool2D", "Elementwise", "Softmax", "Strided", "Transpose", "QLookup" }, Sources(), referenceCore: false)
        {
        }

        private static IEnumerable<(string, string)> Sources()
        {
            string selfCheck = System.IO.Path.Combine(SharedData.RepoRoot, "tests", "Q.Compiler.Tests", "Kernels", "KernelSelfCheck.cs");
            yield return (selfCheck, File.ReadAllText(selfCheck));
            yield return ("Program.cs", "public static class Program { public static int Main() => Q.Compiler.Tests.Kernels.KernelSelfCheck.RunAndReport(); }");
        }
    }

    [Fact]
    public void InProcessChecksPass()
    {
        var log = new StringWriter();
        int failures = KernelSelfCheck.Run(log);
        _out.WriteLine(log.ToString());
        Assert.Equal(0, failures);
    }

    public static TheoryData<string, string?> Switches => new()
    {
        // (environment switch, the GEMM path it must select; null: whatever this machine does by default)
        { "", null },
        { "DOTNET_EnableAVX512=0", null },
        { "DOTNET_EnableAVX2=0", "Vector128" },
        { "DOTNET_EnableHWIntrinsic=0", "Scalar" },
    };

    [Theory]
    [MemberData(nameof(Switches))]
    public void ChildProcessChecksPass(string env, string? expectedPath)
    {
        string? disable = env.Length == 0 ? null : env.Split('=')[0];
        var (exit, output) = _program.Run(disable);
        _out.WriteLine($"[{(env.Length == 0 ? "defaults" : env)}]\n{output}");
        Assert.True(exit == 0, $"self-check failed under '{env}':\n{output}");
        string first = output.Split('\n')[0].Trim();
        if (expectedPath is not null && (X86Base.IsSupported || expectedPath == "Scalar"))
            Assert.StartsWith($"gemm={expectedPath} ", first);
        if (env.Length == 0) Assert.Equal(KernelSelfCheck.Paths, first);
        if (env == "DOTNET_EnableAVX512=0" && Avx2.IsSupported && Fma.IsSupported) Assert.StartsWith("gemm=Avx2 ", first);
    }
}
