extern alias gen;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// Compiles plans to C# with the real emitter and kernels, then to an in-memory assembly with Roslyn, and runs them.
/// Many plans can share one compilation (the conformance suite batches hundreds).
/// </summary>
public sealed class CompiledModels
{
    private readonly Assembly _assembly;
    private readonly Dictionary<string, ModelPlan> _plans;

    private CompiledModels(Assembly assembly, Dictionary<string, ModelPlan> plans) { _assembly = assembly; _plans = plans; }

    private static readonly Lazy<MetadataReference[]> s_refs = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    /// <summary>Compiles one model from disk with the full pipeline; fails the test with the diagnostics if it does not compile.</summary>
    public static (CompiledModels Assembly, ModelPlan Plan) CompileModel(string onnxPath, string? inputShapes = null, string className = "Model")
    {
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = onnxPath, ClassName = className, Namespace = "Test", InputShapes = inputShapes });
        if (!r.Success) throw new InvalidOperationException("model did not compile: " + string.Join("\n", r.Diagnostics));
        // Go through the text form, as the build does.
        var plan = PlanText.Read(r.PlanText!);
        return (Compile(new[] { plan }), plan);
    }

    /// <summary>Compiles plans into one assembly; throws with the compiler's messages if any plan's code has an error or a warning.</summary>
    public static CompiledModels Compile(IReadOnlyList<ModelPlan> plans, string? assemblyName = null)
    {
        var batch = CompileBatch(plans, assemblyName);
        if (batch.Failures.Count > 0) throw new InvalidOperationException(batch.Failures.First().Value);
        return batch.Assembly!;
    }

    /// <summary>
    /// Compiles many plans into one assembly. A plan whose generated code has an error or a warning does not sink the batch:
    /// diagnostics are mapped back to the plan whose syntax trees they are in, those plans are dropped (reported in
    /// <see cref="BatchResult.Failures"/>) and the rest is compiled again. An error inside the shared kernel sources fails every plan.
    /// </summary>
    public static BatchResult CompileBatch(IReadOnlyList<ModelPlan> plans, string? assemblyName = null)
    {
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        var failures = new Dictionary<ModelPlan, string>();
        var treesOf = new Dictionary<ModelPlan, List<SyntaxTree>>();
        foreach (var p in plans)
        {
            try
            {
                var own = new List<SyntaxTree>();
                // A kernel that has no source, or one the code uses but the plan does not list (another plan of the batch
                // would hide that), is this plan's failure.
                var listed = new HashSet<string>(gen::Q.Compiler.Generator.KernelSources.For(p.Kernels).Select(f => KernelClassOf(f.HintName)));
                foreach (var (hint, src) in gen::Q.Compiler.Generator.ModelEmitter.EmitText(PlanText.Write(p)))
                {
                    foreach (Match m in Regex.Matches(src, @"\b([A-Z][A-Za-z0-9]*)\.[A-Z]"))
                        if (s_kernelClasses.Value.Contains(m.Groups[1].Value) && !listed.Contains(m.Groups[1].Value))
                            throw new InvalidOperationException($"the code calls kernel {m.Groups[1].Value}, which the plan's kernel list ({string.Join(", ", p.Kernels)}) does not bring in");
                    own.Add(CSharpSyntaxTree.ParseText(src, parse, path: hint, encoding: Encoding.UTF8));
                }
                own.Add(CSharpSyntaxTree.ParseText(Adapter(p), parse, path: p.ClassName + ".Adapter.cs"));
                treesOf[p] = own;
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException)
            {
                failures[p] = "cannot emit the plan: " + e.Message;
            }
        }

        while (treesOf.Count > 0)
        {
            var owner = new Dictionary<SyntaxTree, ModelPlan>();
            foreach (var (p, ts) in treesOf) foreach (var t in ts) owner[t] = p;
            var trees = treesOf.Values.SelectMany(t => t).ToList();
            foreach (var (hint, src) in gen::Q.Compiler.Generator.KernelSources.For(treesOf.Keys.SelectMany(p => p.Kernels).Distinct()))
                trees.Add(CSharpSyntaxTree.ParseText(src, parse, path: hint, encoding: Encoding.UTF8));
            var comp = CSharpCompilation.Create(assemblyName ?? "QModels_" + Guid.NewGuid().ToString("N"), trees, s_refs.Value,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release,
                    nullableContextOptions: NullableContextOptions.Enable));
            using var ms = new MemoryStream();
            var emit = comp.Emit(ms);
            var bad = emit.Diagnostics.Where(d => d.Severity is DiagnosticSeverity.Error or DiagnosticSeverity.Warning).ToList();
            if (bad.Count == 0)
            {
                ms.Position = 0;
                var alc = new AssemblyLoadContext(null, isCollectible: true);
                var asm = alc.LoadFromStream(ms);
                return new BatchResult(new CompiledModels(asm, treesOf.Keys.ToDictionary(p => FullName(p))), failures);
            }
            var kernelErrors = bad.Where(d => d.Location.SourceTree is not { } t || !owner.ContainsKey(t)).ToList();
            var culprits = kernelErrors.Count > 0 ? treesOf.Keys.ToList()
                : bad.Select(d => owner[d.Location.SourceTree!]).Distinct().ToList();
            foreach (var p in culprits)
            {
                var mine = kernelErrors.Count > 0 ? kernelErrors : bad.Where(d => owner[d.Location.SourceTree!] == p).ToList();
                bool errors = mine.Any(d => d.Severity == DiagnosticSeverity.Error);
                failures[p] = (errors ? "generated code does not compile:\n" : "generated code has warnings:\n") +
                              string.Join("\n", mine.Where(d => !errors || d.Severity == DiagnosticSeverity.Error).Take(20));
                treesOf.Remove(p);
            }
        }
        return new BatchResult(null, failures);
    }

    /// <summary>Every kernel class that has a source ("Conv2D" for Conv2D.cs and Conv2D.Avx2.cs).</summary>
    private static readonly Lazy<HashSet<string>> s_kernelClasses = new(() =>
        new HashSet<string>(gen::Q.Compiler.Generator.KernelSources.Files.Keys.Select(k => k.Substring(k.LastIndexOf('/') + 1).Split('.')[0])));

    /// <summary>"Q.Compiler.Kernels.Conv2D.Avx2.g.cs" → "Conv2D".</summary>
    private static string KernelClassOf(string hintName) => hintName.Substring("Q.Compiler.Kernels.".Length).Split('.')[0];

    /// <summary>The outcome of <see cref="CompileBatch"/>: an assembly holding every plan that compiled (null if none did), and why the others did not.</summary>
    public sealed record BatchResult(CompiledModels? Assembly, IReadOnlyDictionary<ModelPlan, string> Failures);

    /// <summary>Whether the assembly holds the plan's model.</summary>
    public bool Contains(ModelPlan plan) => _plans.ContainsKey(FullName(plan));

    private static string FullName(ModelPlan p) => (p.Namespace.Length > 0 ? p.Namespace + "." : "") + p.ClassName;

    /// <summary>Test-only glue: spans cannot pass through reflection, so each model gets a static method taking arrays.</summary>
    private static string Adapter(ModelPlan p)
    {
        var sb = new StringBuilder();
        string full = "global::" + FullName(p);
        sb.Append("public static class QTestAdapter_").Append(FullName(p).Replace('.', '_')).Append("\n{\n");
        sb.Append("    public static object Create() => new ").Append(full).Append("();\n");
        sb.Append("    public static void Run(object model, System.Array[] inputs, System.Array[] outputs) => ((").Append(full).Append(")model).Run(");
        var args = p.Inputs.Select((v, i) => $"({CsArray(v.Type)})inputs[{i}]").Concat(p.Outputs.Select((v, i) => $"({CsArray(v.Type)})outputs[{i}]"));
        sb.Append(string.Join(", ", args)).Append(");\n}\n");
        return sb.ToString();
    }

    private static string CsArray(string t) => t switch
    {
        "f32" => "float[]", "f64" => "double[]", "f16" => "System.Half[]", "i8" => "sbyte[]", "u8" => "byte[]", "i16" => "short[]",
        "u16" => "ushort[]", "i32" => "int[]", "u32" => "uint[]", "i64" => "long[]", "u64" => "ulong[]", "bool" => "bool[]",
        _ => throw new ArgumentException(t),
    };

    public ModelInstance Create(ModelPlan plan)
    {
        var t = _assembly.GetType("QTestAdapter_" + FullName(plan).Replace('.', '_'), throwOnError: true)!;
        return new ModelInstance(plan, t);
    }

    public ModelInstance Create() => Create(_plans.Values.Single());

    public Type ModelType(ModelPlan plan) => _assembly.GetType(FullName(plan), throwOnError: true)!;
}

/// <summary>An instance of a generated model, run with Tensors.</summary>
public sealed class ModelInstance
{
    private readonly ModelPlan _plan;
    private readonly MethodInfo _run;
    private readonly object _model;

    internal ModelInstance(ModelPlan plan, Type adapter)
    {
        _plan = plan;
        _run = adapter.GetMethod("Run")!;
        _model = adapter.GetMethod("Create")!.Invoke(null, null)!;
    }

    public ModelPlan Plan => _plan;

    public Tensor[] Run(params Tensor[] inputs)
    {
        var ins = new Array[_plan.Inputs.Count];
        for (int i = 0; i < ins.Length; i++) ins[i] = ToClr(inputs[i], _plan.Inputs[i].Type);
        var outs = _plan.Outputs.Select(o => Array.CreateInstance(ClrType(o.Type), Shape.ParseCompact(o.Shape).ElementCount)).ToArray();
        try { _run.Invoke(null, new object[] { _model, ins, outs }); }
        catch (TargetInvocationException e) when (e.InnerException is not null) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw(); }
        return outs.Select((a, i) => FromClr(a, _plan.Outputs[i])).ToArray();
    }

    /// <summary>Runs with raw arrays (for tests of argument validation).</summary>
    public void RunRaw(Array[] inputs, Array[] outputs)
    {
        try { _run.Invoke(null, new object[] { _model, inputs, outputs }); }
        catch (TargetInvocationException e) when (e.InnerException is not null) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw(); }
    }

    private static Type ClrType(string t) => t == "f16" ? typeof(Half) : DataTypes.ParseShortName(t).ClrType();

    private static Array ToClr(Tensor t, string type)
    {
        if (type == "f16") return t.As<ushort>().Select(b => BitConverter.UInt16BitsToHalf(b)).ToArray();
        if (DataTypes.ParseShortName(type) != t.ElementType)
            throw new ArgumentException($"input is {t.ElementType} but the model takes {type}");
        return t.Data;
    }

    private static Tensor FromClr(Array a, PlanValue v)
    {
        var shape = Shape.ParseCompact(v.Shape);
        if (v.Type == "f16") return new Tensor(DataType.Float16, shape, ((Half[])a).Select(BitConverter.HalfToUInt16Bits).ToArray());
        return new Tensor(DataTypes.ParseShortName(v.Type), shape, a);
    }
}
