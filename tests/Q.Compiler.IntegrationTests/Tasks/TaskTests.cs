using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Q.Compiler.IntegrationTests.Support;
using Q.Compiler.Tasks;
using Xunit;

namespace Q.Compiler.IntegrationTests.Tasks;

/// <summary>
/// QPrepareModels and QCompile run directly, as MSBuild would, on files in a temporary folder: defaults, stamps,
/// dependency files, and how every outcome is logged. Uses the model the sample carries (no ../shared needed).
/// </summary>
public sealed partial class TaskTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qcompiler-tasks-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _out;
    private readonly string _model;

    public TaskTests()
    {
        _out = Path.Combine(_dir, "obj", "qmodels");
        Directory.CreateDirectory(_dir);
        _model = Path.Combine(_dir, "models", "mnist-8.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(_model)!);
        File.Copy(Path.Combine(Repository.Root, "samples", "Mnist", "mnist-8.onnx"), _model);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private (QPrepareModels Task, RecordingBuildEngine Engine, bool Ok) Prepare(params ITaskItem[] models)
    {
        var engine = new RecordingBuildEngine();
        var task = new QPrepareModels
        {
            BuildEngine = engine,
            Models = models,
            OutputDirectory = _out,
            ProjectDirectory = _dir,
            RootNamespace = "My.App",
            HelpLinkBase = "https://example.org/diagnostics",
        };
        bool ok = task.Execute();
        return (task, engine, ok);
    }

    private (QCompile Task, RecordingBuildEngine Engine, bool Ok) Compile(ITaskItem[] prepared)
    {
        var engine = new RecordingBuildEngine();
        var task = new QCompile { BuildEngine = engine, Models = prepared, HelpLinkBase = "https://example.org/diagnostics" };
        bool ok = task.Execute();
        return (task, engine, ok);
    }

    private TaskItem Item(string path, string? className = null, string? ns = null, string? shapes = null)
    {
        var item = new TaskItem(path);
        if (className is not null) item.SetMetadata("ClassName", className);
        if (ns is not null) item.SetMetadata("Namespace", ns);
        if (shapes is not null) item.SetMetadata("InputShapes", shapes);
        return item;
    }

    [Fact]
    public void PrepareFillsInDefaultsAndNamesTheFiles()
    {
        var (task, engine, ok) = Prepare(Item(_model));
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Message)));
        var model = Assert.Single(task.CompileModels);
        Assert.Equal("Mnist8", model.GetMetadata("ClassName"));
        Assert.Equal("My.App", model.GetMetadata("Namespace"));
        Assert.Equal("models/mnist-8.onnx", model.GetMetadata("DisplayPath"));
        Assert.Equal(Path.Combine(_out, "Mnist8.qplan"), model.GetMetadata("PlanFile"));
        Assert.Equal(Path.Combine(_out, "Mnist8.qstamp"), model.GetMetadata("Source"));
        Assert.Equal(5, task.FileWrites.Length); // plan, dependency file, stamp, and the two quantization report files
        Assert.Equal(Path.Combine(_out, "Mnist8.qplan"), Assert.Single(task.Plans).ItemSpec);
        // The stamp is an input of the up-to-date check, and every input carries the model as its Source (for batching).
        Assert.Contains(task.Dependencies, d => d.ItemSpec.EndsWith("Mnist8.qstamp", StringComparison.Ordinal));
        Assert.All(task.Dependencies.Concat(task.ExpectedOutputs).Concat(task.Plans), d => Assert.Equal(Path.Combine(_out, "Mnist8.qstamp"), d.GetMetadata("Source")));
    }

    [Fact]
    public void StampIsRewrittenOnlyWhenTheMetadataChanges()
    {
        Prepare(Item(_model, "Mnist", "Demo"));
        string stamp = Path.Combine(_out, "Mnist.qstamp");
        var old = DateTime.UtcNow.AddMinutes(-5);
        File.SetLastWriteTimeUtc(stamp, old);

        Prepare(Item(_model, "Mnist", "Demo"));
        Assert.Equal(old, File.GetLastWriteTimeUtc(stamp));

        Prepare(Item(_model, "Mnist", "Demo", "Input3=1x1x28x28"));
        Assert.NotEqual(old, File.GetLastWriteTimeUtc(stamp));
        Assert.Contains("InputShapes=Input3=1x1x28x28", File.ReadAllText(stamp));
    }

    [Theory]
    [InlineData("9Lives", null)]
    [InlineData("My-Model", null)]
    [InlineData("Mnist", "Demo..Models")]
    [InlineData("Mnist", "Demo.1st")]
    public void BadClassNameOrNamespaceIsQC0002NamingTheModel(string className, string? ns)
    {
        var (_, engine, ok) = Prepare(Item(_model, className, ns));
        Assert.False(ok);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("QC0002", error.Code);
        Assert.Equal(_model, error.File);
        Assert.Equal("https://example.org/diagnostics/QC0002.md", error.HelpLink);
    }

    [Fact]
    public void TwoModelsWithOneClassNameIsQC0002()
    {
        string other = Path.Combine(_dir, "models", "other.onnx");
        File.Copy(_model, other);
        var (_, engine, ok) = Prepare(Item(_model, "Net"), Item(other, "net"));
        Assert.False(ok);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("QC0002", error.Code);
        Assert.Contains("ClassName", error.Message);
    }

    [Fact]
    public void CompileWritesPlanAndDependencyFileAndLogsOneSummary()
    {
        var (prepared, _, _) = Prepare(Item(_model, "Mnist", "Demo"));
        var (task, engine, ok) = Compile(prepared.CompileModels);
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Code + " " + e.Message)));
        string plan = Path.Combine(_out, "Mnist.qplan");
        Assert.True(File.Exists(plan));
        Assert.True(File.Exists(Path.Combine(_out, "Mnist.qdep")));
        Assert.Equal(plan, Assert.Single(task.WrittenPlans).ItemSpec);
        var summary = Assert.Single(engine.Messages, m => m.Code == "QC4001");
        Assert.Equal(MessageImportance.High, summary.Importance);
        Assert.Equal(_model, summary.File);
        Assert.Contains("wrote", summary.Message);

        // Again, same model: the plan's text is the same, so the file is left alone.
        var old = DateTime.UtcNow.AddMinutes(-5);
        File.SetLastWriteTimeUtc(plan, old);
        var (again, engine2, ok2) = Compile(prepared.CompileModels);
        Assert.True(ok2);
        Assert.Empty(again.WrittenPlans);
        Assert.Equal(old, File.GetLastWriteTimeUtc(plan));
        Assert.Contains("plan unchanged", Assert.Single(engine2.Messages, m => m.Code == "QC4001").Message);
    }

    [Fact]
    public void PrepareDropsTheDependencyFileWhenThePlanIsGone()
    {
        var (prepared, _, _) = Prepare(Item(_model, "Mnist", "Demo"));
        Compile(prepared.CompileModels);
        File.Delete(Path.Combine(_out, "Mnist.qplan"));
        Prepare(Item(_model, "Mnist", "Demo"));
        Assert.False(File.Exists(Path.Combine(_out, "Mnist.qdep")), "without the plan, the up-to-date check must see a missing output");
    }

    [Fact]
    public void BrokenModelIsAnErrorWithCodeFileAndHelpLinkAndDropsTheDependencyFile()
    {
        var (prepared, _, _) = Prepare(Item(_model, "Mnist", "Demo"));
        Compile(prepared.CompileModels);
        Assert.True(File.Exists(Path.Combine(_out, "Mnist.qdep")));

        File.WriteAllBytes(_model, File.ReadAllBytes(_model)[..1000]);
        var (_, engine, ok) = Compile(prepared.CompileModels);
        Assert.False(ok);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("QC1001", error.Code);
        Assert.Equal(_model, error.File);
        Assert.Equal("Q.Compiler.QC1001", error.HelpKeyword);
        Assert.Equal("https://example.org/diagnostics/QC1001.md", error.HelpLink);
        Assert.False(File.Exists(Path.Combine(_out, "Mnist.qdep")), "a failed compile must make the next build try again");
    }

    [Fact]
    public void MissingModelIsQC0001NotACrash()
    {
        var (prepared, _, _) = Prepare(Item(Path.Combine(_dir, "models", "missing.onnx"), "Missing"));
        var (_, engine, ok) = Compile(prepared.CompileModels);
        Assert.False(ok);
        Assert.Equal("QC0001", Assert.Single(engine.Errors).Code);
    }

    [Fact]
    public void HelpLinkToAFolderIsAFileUri()
    {
        string folder = Path.Combine(_dir, "docs", "diagnostics");
        Assert.Equal(new Uri(Path.Combine(folder, "QC1001.md")).AbsoluteUri, QModelItem.HelpLink(folder, "QC1001"));
        Assert.Equal("https://example.org/d/QC1001.md", QModelItem.HelpLink("https://example.org/d/", "QC1001"));
        Assert.Equal("", QModelItem.HelpLink("", "QC1001"));
    }
}
