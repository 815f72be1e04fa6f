extern alias gen;
using System.Diagnostics;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;

namespace Q.Compiler.Benchmarks;

/// <summary>
/// <c>--build</c>: what building each shared model costs and produces. "Task" is ModelCompiler.Compile (what the QCompile
/// MSBuild task runs: read, import, passes, lowering, memory planning, plan text); "C#" is the generator's emission plus a
/// Roslyn compile of the model's code and kernels to a Release assembly (what the model adds to CoreCompile).
/// </summary>
public static class BuildReport
{
    public static int Run()
    {
        Console.WriteLine("| Model | Layers | Weights B | Scratch B (lower bound) | Task ms | C# ms | Generated C# KB |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        // Warm up Roslyn and the pipeline once so the first row is not charged for JIT.
        Measure(BenchModel.All[0].Folder, BenchModel.All[0].File, quiet: true);
        foreach (var (name, folder, file) in BenchModel.All)
        {
            var row = Measure(folder, file, quiet: false);
            if (row is null) { Console.WriteLine($"| {name} | does not compile | | | | | |"); continue; }
            var (plan, taskMs, csMs, kb) = row.Value;
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1} | {2:N0} | {3:N0} ({4:N0}) | {5:F0} | {6:F0} | {7:N0} |",
                name, plan.Layers.Count, plan.Weights.Length, plan.ArenaBytes, plan.ArenaLowerBound, taskMs, csMs, kb));
        }
        return 0;
    }

    private static string ModelsDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Q.Compiler.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("cannot find Q.Compiler.sln above " + AppContext.BaseDirectory);
        return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "models"));
    }

    private static (ModelPlan Plan, double TaskMs, double CsMs, double Kb)? Measure(string folder, string file, bool quiet)
    {
        string path = Path.Combine(ModelsDir(), folder, file);
        var sets = TestData.Sets(Path.Combine(ModelsDir(), folder));
        var inputs = TestData.Inputs(sets[0]);
        var model = Onnx.OnnxReader.ReadFile(path);
        string shapes = string.Join(";", model.Inputs.Select((d, i) => d.Name + "=" + string.Join("x", inputs[i].Shape.Dims)));
        var sw = Stopwatch.StartNew();
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "Model", Namespace = "Bench", InputShapes = shapes });
        double taskMs = sw.Elapsed.TotalMilliseconds;
        if (!r.Success) return null;
        sw.Restart();
        var sources = gen::Q.Compiler.Generator.ModelEmitter.EmitText(r.PlanText!)
            .Concat(gen::Q.Compiler.Generator.KernelSources.For(r.Plan!.Kernels)).ToList();
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        var trees = sources.Select(s => CSharpSyntaxTree.ParseText(s.Source, parse, path: s.HintName)).ToList();
        var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal)).Select(p => MetadataReference.CreateFromFile(p));
        var comp = CSharpCompilation.Create("Bench" + Guid.NewGuid().ToString("N"), trees, refs,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release));
        using var ms = new MemoryStream();
        var emit = comp.Emit(ms);
        double csMs = sw.Elapsed.TotalMilliseconds;
        if (!emit.Success) throw new InvalidOperationException("generated code does not compile: " + emit.Diagnostics.First(d => d.Severity == DiagnosticSeverity.Error));
        double kb = sources.Sum(s => s.Source.Length) / 1024.0;
        return (r.Plan, taskMs, csMs, kb);
    }
}
