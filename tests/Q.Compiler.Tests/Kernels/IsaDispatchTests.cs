extern alias gen;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// The kernels' instruction-set dispatch, end to end: <see cref="KernelSelfCheck"/> runs in process, and again in child
/// processes built from the kernel sources exactly as the generator emits them (C# 12), with the runtime's switches
/// turning instruction sets off (DOTNET_EnableAVX512F=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0), so each
/// path the JIT can select on this machine is exercised through the public entry points.
/// </summary>
public sealed class IsaDispatchTests
{
    private readonly ITestOutputHelper _out;
    public IsaDispatchTests(ITestOutputHelper output) => _out = output;

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
        { "DOTNET_EnableAVX512F=0", null },
        { "DOTNET_EnableAVX2=0", "Vector128" },
        { "DOTNET_EnableHWIntrinsic=0", "Scalar" },
    };

    [Theory]
    [MemberData(nameof(Switches))]
    public void ChildProcessChecksPass(string env, string? expectedPath)
    {
        string exe = s_program.Value;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(exe);
        foreach (var v in new[] { "DOTNET_EnableAVX512F", "DOTNET_EnableAVX2", "DOTNET_EnableHWIntrinsic" }) psi.Environment.Remove(v);
        if (env.Length > 0) psi.Environment[env.Split('=')[0]] = env.Split('=')[1];
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        _out.WriteLine($"[{(env.Length == 0 ? "defaults" : env)}]\n{stdout}{stderr}");
        Assert.True(p.ExitCode == 0, $"self-check failed under '{env}':\n{stdout}{stderr}");
        string first = stdout.Split('\n')[0].Trim();
        if (expectedPath is not null && (X86Base.IsSupported || expectedPath == "Scalar"))
            Assert.StartsWith($"gemm={expectedPath} ", first);
        if (env.Length == 0) Assert.Equal(KernelSelfCheck.Paths, first);
        if (env == "DOTNET_EnableAVX512F=0" && Avx2.IsSupported && Fma.IsSupported) Assert.StartsWith("gemm=Avx2 ", first);
    }

    /// <summary>The child program: emitted kernel sources + KernelSelfCheck.cs + a Main, compiled once per test run.</summary>
    private static readonly Lazy<string> s_program = new(() =>
    {
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        var trees = new List<SyntaxTree>();
        foreach (var (hint, src) in gen::Q.Compiler.Generator.KernelSources.For(new[] { "Gemm", "Conv2D", "Pool2D" }))
            trees.Add(CSharpSyntaxTree.ParseText(src, parse, path: hint));
        string selfCheck = Path.Combine(Support.SharedData.RepoRoot, "tests", "Q.Compiler.Tests", "Kernels", "KernelSelfCheck.cs");
        trees.Add(CSharpSyntaxTree.ParseText(File.ReadAllText(selfCheck), parse, path: selfCheck));
        trees.Add(CSharpSyntaxTree.ParseText("public static class Program { public static int Main() => Q.Compiler.Tests.Kernels.KernelSelfCheck.RunAndReport(); }", parse));
        var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(f => Path.GetFileName(f).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(f) is "netstandard.dll" or "mscorlib.dll")
            .Select(f => (MetadataReference)MetadataReference.CreateFromFile(f));
        var comp = CSharpCompilation.Create("QKernelSelfCheck", trees, refs,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
        string dir = Path.Combine(Path.GetTempPath(), "qc-kernel-selfcheck-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string dll = Path.Combine(dir, "QKernelSelfCheck.dll");
        var result = comp.Emit(dll);
        if (!result.Success)
            throw new InvalidOperationException("self-check program does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        var warnings = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToList();
        if (warnings.Count > 0) throw new InvalidOperationException("kernels compile with warnings:\n" + string.Join("\n", warnings));
        var v = Environment.Version;
        File.WriteAllText(Path.Combine(dir, "QKernelSelfCheck.runtimeconfig.json"),
            $$"""{ "runtimeOptions": { "tfm": "net{{v.Major}}.{{v.Minor}}", "framework": { "name": "Microsoft.NETCore.App", "version": "{{v.Major}}.{{v.Minor}}.{{v.Build}}" } } }""");
        return dll;
    });
}
