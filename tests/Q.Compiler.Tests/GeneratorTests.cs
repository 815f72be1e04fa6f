extern alias gen;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;
using ModelGenerator = gen::Q.Compiler.Generator.ModelGenerator;

namespace Q.Compiler.Tests;

/// <summary>
/// The source generator run by Roslyn's <see cref="CSharpGeneratorDriver"/>, as in a build: plans arrive as
/// AdditionalFiles (*.qplan), the generated sources are added to the compilation, and incremental runs are tracked.
/// The plans are compiled here from tiny models built in code, so these tests do not need ../shared.
/// </summary>
public sealed class GeneratorTests
{
    private const string UserCode = """
        namespace App;
        public static class Program
        {
            public static float[] Infer(float[] x)
            {
                var y = new float[Test.Relu.YLength];
                new Test.Relu().Run(x, y);
                return y;
            }
        }
        """;

    private static readonly Lazy<MetadataReference[]> s_refs = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    /// <summary>x f32[1,4] → Relu; the class is Test.Relu.</summary>
    private static string ReluPlan() => Plan(OnnxBuilder.Relu(), "Relu");

    /// <summary>x f32[1,2,4,4] → Sigmoid → MaxPool 2x2; the class is Test.SigmoidPool. Shares the Elementwise kernel with Relu.</summary>
    private static string SigmoidPoolPlan()
    {
        var g = new global::Onnx.GraphProto { Name = "sp" };
        g.Input.Add(OnnxBuilder.Value("x", new object[] { 1L, 2L, 4L, 4L }));
        g.Output.Add(OnnxBuilder.Value("y", new object[] { 1L, 2L, 2L, 2L }));
        g.Node.Add(OnnxBuilder.Node("Sigmoid", "s", new[] { "x" }, new[] { "h" }));
        var pool = OnnxBuilder.Node("MaxPool", "p", new[] { "h" }, new[] { "y" });
        pool.Attribute.Add(new global::Onnx.AttributeProto { Name = "kernel_shape", Type = global::Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 2, 2 } });
        pool.Attribute.Add(new global::Onnx.AttributeProto { Name = "strides", Type = global::Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 2, 2 } });
        g.Node.Add(pool);
        return Plan(OnnxBuilder.Model(g), "SigmoidPool");
    }

    private static string Plan(global::Onnx.ModelProto model, string className)
    {
        using var tmp = new TempDir();
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = OnnxBuilder.Save(model, tmp.Path), DisplayPath = className + ".onnx", ClassName = className, Namespace = "Test",
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return r.PlanText!;
    }

    private static CSharpCompilation Compilation(LanguageVersion version = LanguageVersion.CSharp12, string code = UserCode) =>
        CSharpCompilation.Create("App",
            new[] { CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(version), path: "Program.cs") },
            s_refs.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    private static GeneratorDriver Driver(CSharpCompilation compilation, params (string Path, string Text)[] plans) =>
        CSharpGeneratorDriver.Create(
            new[] { new ModelGenerator().AsSourceGenerator() },
            plans.Select(p => (AdditionalText)new InMemoryText(p.Path, p.Text)),
            (CSharpParseOptions)compilation.SyntaxTrees[0].Options,
            optionsProvider: null,
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    private static void AssertCompiles(Compilation output)
    {
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, "the generated code does not compile cleanly:\n" + string.Join("\n", problems.Take(20)));
    }

    [Fact]
    public void PlanInAdditionalFilesEmitsTheModelAndItsKernels()
    {
        var compilation = Compilation();
        var driver = Driver(compilation, ("obj/Debug/Relu.qplan", ReluPlan()))
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        var run = driver.GetRunResult().Results.Single();
        Assert.Null(run.Exception);
        var hints = run.GeneratedSources.Select(s => s.HintName).ToList();
        Assert.Contains("Test.Relu.g.cs", hints);
        Assert.Contains("Test.Relu.Weights.g.cs", hints);
        Assert.Contains("Q.Compiler.Kernels.Elementwise.g.cs", hints);
        Assert.Contains("Q.Compiler.Kernels.KernelCommon.g.cs", hints);
        Assert.DoesNotContain(hints, h => h.Contains("Conv2D", StringComparison.Ordinal));
        AssertCompiles(output);
    }

    [Fact]
    public void FilesThatAreNotPlansAreIgnored()
    {
        var compilation = Compilation(code: "class C { }");
        var driver = Driver(compilation, ("notes.txt", "qplan 1\n"), ("obj/model.qplan.bak", "garbage"))
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        Assert.Empty(driver.GetRunResult().GeneratedTrees);
        AssertCompiles(output);
    }

    [Fact]
    public void UnrelatedCSharpEditDoesNotRerunEmission()
    {
        var compilation = Compilation();
        var driver = Driver(compilation, ("obj/Debug/Relu.qplan", ReluPlan())).RunGenerators(compilation);

        // Edit the user's code (not the plan) and run again.
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(tree.GetText().Replace(0, 0, "// an edit\n")));
        driver = driver.RunGenerators(edited);
        var run = driver.GetRunResult().Results.Single();

        var planSteps = run.TrackedSteps[ModelGenerator.TrackingName];
        Assert.NotEmpty(planSteps);
        Assert.All(planSteps.SelectMany(s => s.Outputs), o => Assert.Contains(o.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        var outputs = run.TrackedOutputSteps.SelectMany(kv => kv.Value).SelectMany(s => s.Outputs).ToList();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void EditedPlanRerunsEmission()
    {
        // The control for the test above: the tracking does see a change when the plan changes.
        var compilation = Compilation();
        var plan = new InMemoryText("obj/Debug/Relu.qplan", ReluPlan());
        var driver = Driver(compilation).AddAdditionalTexts(ImmutableArray.Create<AdditionalText>(plan)).RunGenerators(compilation);
        string renamed = plan.Text.Replace("class namespace=Test name=Relu", "class namespace=Test name=Relu2");
        Assert.NotEqual(plan.Text, renamed);
        driver = driver.ReplaceAdditionalText(plan, new InMemoryText(plan.Path, renamed)).RunGenerators(compilation);
        var run = driver.GetRunResult().Results.Single();
        Assert.Contains(run.TrackedSteps[ModelGenerator.TrackingName].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains(run.GeneratedSources, s => s.HintName == "Test.Relu2.g.cs");
        Assert.DoesNotContain(run.GeneratedSources, s => s.HintName == "Test.Relu.g.cs");
    }

    [Theory]
    [InlineData("not a plan at all")]
    [InlineData("qplan 0\n")]
    [InlineData("qplan 1\ncompiler version=0.1.0\n")]
    [InlineData("qplan 1\nbogus record=1\nend\n")]
    public void CorruptPlanReportsQC4003(string text)
    {
        var compilation = Compilation(code: "class C { }");
        var driver = Driver(compilation, ("obj/Debug/Broken.qplan", text)).RunGeneratorsAndUpdateCompilation(compilation, out _, out var diagnostics);
        var d = Assert.Single(diagnostics);
        Assert.Equal("QC4003", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains("Broken.qplan", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Null(driver.GetRunResult().Results.Single().Exception);
    }

    [Fact]
    public void PlanThatParsesButCannotBeEmittedReportsQC4003()
    {
        // A call naming a buffer that the plan does not declare: the emitter fails, the generator reports it.
        string plan = ReluPlan();
        string broken = plan.Replace("in:b0", "in:b99");
        Assert.NotEqual(plan, broken);
        var compilation = Compilation(code: "class C { }");
        var driver = Driver(compilation, ("obj/Debug/Relu.qplan", broken)).RunGeneratorsAndUpdateCompilation(compilation, out _, out var diagnostics);
        Assert.Equal("QC4003", Assert.Single(diagnostics).Id);
        Assert.Null(driver.GetRunResult().Results.Single().Exception);
    }

    [Fact]
    public void PlanNamingAnUnknownKernelReportsQC4003()
    {
        string plan = ReluPlan();
        string broken = plan.Replace("kernels list=Elementwise", "kernels list=Elementwise,NoSuchKernel");
        Assert.NotEqual(plan, broken);
        var compilation = Compilation(code: "class C { }");
        var driver = Driver(compilation, ("obj/Debug/Relu.qplan", broken)).RunGeneratorsAndUpdateCompilation(compilation, out _, out var diagnostics);
        var d = Assert.Single(diagnostics);
        Assert.Equal("QC4003", d.Id);
        Assert.Contains("NoSuchKernel", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Null(driver.GetRunResult().Results.Single().Exception);
    }

    [Fact]
    public void TwoModelsEmitEachKernelOnce()
    {
        var compilation = Compilation();
        var driver = Driver(compilation, ("obj/Relu.qplan", ReluPlan()), ("obj/SigmoidPool.qplan", SigmoidPoolPlan()))
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        var hints = driver.GetRunResult().Results.Single().GeneratedSources.Select(s => s.HintName).ToList();
        Assert.Equal(hints.Count, hints.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains("Test.Relu.g.cs", hints);
        Assert.Contains("Test.SigmoidPool.g.cs", hints);
        Assert.Single(hints, h => h == "Q.Compiler.Kernels.Elementwise.g.cs");
        Assert.Single(hints, h => h == "Q.Compiler.Kernels.KernelCommon.g.cs");
        Assert.Contains(hints, h => h.StartsWith("Q.Compiler.Kernels.Pool2D", StringComparison.Ordinal));
        AssertCompiles(output);
    }

    [Fact]
    public void LanguageVersion11ReportsQC5001()
    {
        var compilation = Compilation(LanguageVersion.CSharp11, code: "class C { }");
        var driver = Driver(compilation, ("obj/Relu.qplan", ReluPlan())).RunGeneratorsAndUpdateCompilation(compilation, out _, out var diagnostics);
        var d = Assert.Single(diagnostics);
        Assert.Equal("QC5001", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains("CSharp11", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain(driver.GetRunResult().GeneratedTrees, t => t.FilePath.EndsWith("Test.Relu.g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void GeneratedModelRunsThroughTheGeneratorPipeline()
    {
        // The whole path a build takes (plan → generator → compilation), then the user's method calls the model.
        var compilation = Compilation();
        Driver(compilation, ("obj/Relu.qplan", ReluPlan())).RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        using var ms = new MemoryStream();
        var emit = output.Emit(ms);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var alc = new System.Runtime.Loader.AssemblyLoadContext(null, isCollectible: true);
        try
        {
            ms.Position = 0;
            var infer = alc.LoadFromStream(ms).GetType("App.Program")!.GetMethod("Infer")!;
            var y = (float[])infer.Invoke(null, new object[] { new float[] { -1, 2, -3, 4 } })!;
            Assert.Equal(new float[] { 0, 2, 0, 4 }, y);
        }
        finally { alc.Unload(); }
    }

    [Fact]
    public void GeneratorAndCompilerAgreeOnTheStringLiteralWeightLimit()
    {
        Assert.Equal(gen::Q.Compiler.Generator.ModelEmitter.MaxStringLiteralWeightBytes, ModelCompiler.MaxStringLiteralWeightBytes);
    }

    private sealed class InMemoryText : AdditionalText
    {
        public InMemoryText(string path, string text) { Path = path; Text = text; }
        public override string Path { get; }
        public string Text { get; }
        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(Text, System.Text.Encoding.UTF8);
    }
}
