extern alias gen;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
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

    public static CompiledModels Compile(IReadOnlyList<ModelPlan> plans, string? assemblyName = null)
    {
        var trees = new List<SyntaxTree>();
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        foreach (var p in plans)
        {
            foreach (var (hint, src) in gen::Q.Compiler.Generator.ModelEmitter.EmitText(PlanText.Write(p))) trees.Add(CSharpSyntaxTree.ParseText(src, parse, path: hint, encoding: Encoding.UTF8));
            trees.Add(CSharpSyntaxTree.ParseText(Adapter(p), parse, path: p.ClassName + ".Adapter.cs"));
        }
        foreach (var (hint, src) in gen::Q.Compiler.Generator.KernelSources.For(plans.SelectMany(p => p.Kernels).Distinct()))
            trees.Add(CSharpSyntaxTree.ParseText(src, parse, path: hint, encoding: Encoding.UTF8));
        var comp = CSharpCompilation.Create(assemblyName ?? "QModels_" + Guid.NewGuid().ToString("N"), trees, s_refs.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release,
                nullableContextOptions: NullableContextOptions.Enable));
        using var ms = new MemoryStream();
        var emit = comp.Emit(ms);
        if (!emit.Success)
            throw new InvalidOperationException("generated code does not compile:\n" + string.Join("\n",
                emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(20)));
        var warnings = emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToList();
        if (warnings.Count > 0)
            throw new InvalidOperationException("generated code has warnings:\n" + string.Join("\n", warnings.Take(20)));
        ms.Position = 0;
        var alc = new AssemblyLoadContext(null, isCollectible: true);
        var asm = alc.LoadFromStream(ms);
        return new CompiledModels(asm, plans.ToDictionary(p => FullName(p)));
    }

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

    /// <summary>
    /// Converts the inputs once, allocates the outputs once and returns an action that runs the model on them through a
    /// delegate (no reflection or allocation per call): for benchmarks.
    /// </summary>
    public Action Bind(Tensor[] inputs, out Array[] outputs)
    {
        var ins = new Array[_plan.Inputs.Count];
        for (int i = 0; i < ins.Length; i++) ins[i] = ToClr(inputs[i], _plan.Inputs[i].Type);
        var outs = _plan.Outputs.Select(o => Array.CreateInstance(ClrType(o.Type), Shape.ParseCompact(o.Shape).ElementCount)).ToArray();
        var run = _run.CreateDelegate<Action<object, Array[], Array[]>>();
        object model = _model;
        outputs = outs;
        return () => run(model, ins, outs);
    }

    /// <summary>Output arrays (as returned by <see cref="Bind"/>) as tensors.</summary>
    public Tensor[] ToTensors(Array[] outputs) => outputs.Select((a, i) => FromClr(a, _plan.Outputs[i])).ToArray();

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
