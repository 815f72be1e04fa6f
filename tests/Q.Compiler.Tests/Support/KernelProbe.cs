extern alias gen;
using System.Diagnostics;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// A console program built from kernel sources exactly as the generator emits them into a user's assembly (C# 12, the
/// "// Requires:" closure of the named kernels) plus a probe's own sources, and run in child processes with the
/// runtime's instruction-set switches (DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0), so
/// each dispatch path the JIT can select on this machine runs through the kernels' public entry points. Built once
/// (use it as a class fixture, derived with a parameterless constructor); its folder is deleted on dispose.
/// </summary>
public abstract class KernelProbe : IDisposable
{
    /// <summary>The runtime switches that turn instruction sets off (each is cleared in the child unless asked for).</summary>
    public static readonly string[] InstructionSetSwitches = { "DOTNET_EnableAVX512", "DOTNET_EnableAVX2", "DOTNET_EnableHWIntrinsic" };

    /// <param name="name">The assembly name (and folder prefix) of the probe.</param>
    /// <param name="kernels">Kernel classes to embed; the kernels they require come with them.</param>
    /// <param name="sources">The probe's own sources (hint path, text); one of them has the Main.</param>
    /// <param name="referenceCore">Whether the probe references Q.Compiler.Core (for the integer references); it is copied next to the probe.</param>
    protected KernelProbe(string name, IEnumerable<string> kernels, IEnumerable<(string Path, string Source)> sources, bool referenceCore)
    {
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        var files = gen::Q.Compiler.Generator.KernelSources.For(kernels.ToArray());
        KernelFiles = files.Select(f => f.HintName).ToList();
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(f.Source, parse, path: f.HintName, encoding: Encoding.UTF8)).ToList();
        var own = sources.Select(s => CSharpSyntaxTree.ParseText(s.Source, parse, path: s.Path, encoding: Encoding.UTF8)).ToList();
        string core = typeof(Q.Compiler.Pipeline.ModelCompiler).Assembly.Location;
        var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(System.IO.Path.PathSeparator)
            .Where(p => System.IO.Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || System.IO.Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Concat(referenceCore ? new[] { core } : Array.Empty<string>())
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
        var comp = CSharpCompilation.Create(name, trees.Concat(own), refs,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"qc-{name.ToLowerInvariant()}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        Path = System.IO.Path.Combine(dir, name + ".dll");
        var emit = comp.Emit(Path);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10)));
        // The kernels must compile warning-free in a user's assembly, like all generated code.
        var ownPaths = own.Select(t => t.FilePath).ToHashSet(StringComparer.Ordinal);
        Assert.Empty(emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning && !ownPaths.Contains(d.Location.GetLineSpan().Path)));
        if (referenceCore) File.Copy(core, System.IO.Path.Combine(dir, System.IO.Path.GetFileName(core)));
        var v = Environment.Version;
        File.WriteAllText(System.IO.Path.Combine(dir, name + ".runtimeconfig.json"),
            $$"""{ "runtimeOptions": { "tfm": "net{{v.Major}}.{{v.Minor}}", "framework": { "name": "Microsoft.NETCore.App", "version": "{{v.Major}}.{{v.Minor}}.0" } } }""");
    }

    /// <summary>The probe's dll.</summary>
    public string Path { get; }

    /// <summary>The hint names of the embedded kernel files (the named kernels and those they require).</summary>
    public IReadOnlyList<string> KernelFiles { get; }

    /// <summary>Runs the probe with every instruction-set switch cleared, then <paramref name="disable"/> (one of <see cref="InstructionSetSwitches"/>) set to 0.</summary>
    public (int ExitCode, string Output) Run(string? disable)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path);
        foreach (var name in InstructionSetSwitches) psi.Environment.Remove(name);
        if (disable is not null) psi.Environment[disable] = "0";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd() + stderr.Result;
        Assert.True(p.WaitForExit(60_000), "probe timed out");
        return (p.ExitCode, output);
    }

    public void Dispose()
    {
        try { Directory.Delete(System.IO.Path.GetDirectoryName(Path)!, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
    }
}
