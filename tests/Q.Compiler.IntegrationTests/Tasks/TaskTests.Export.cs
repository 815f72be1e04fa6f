using Q.Compiler.Tasks;
using Xunit;

namespace Q.Compiler.IntegrationTests.Tasks;

/// <summary>ExportOnnx="true": the compiled graph written as ONNX beside the plan, in the stamp, in FileWrites, removed when switched off.</summary>
public sealed partial class TaskTests
{
    [Fact]
    public void ExportOnnxWritesTheCompiledGraphBesideThePlanAndRemovesItWhenSwitchedOff()
    {
        string onnx = Path.Combine(_out, "Mnist.compiled.onnx");
        var item = Item(_model, "Mnist", "Demo");
        item.SetMetadata("ExportOnnx", "True");
        var (prepared, _, ok) = Prepare(item);
        Assert.True(ok);
        Assert.Contains(prepared.FileWrites, w => w.ItemSpec == onnx);
        Assert.Contains("ExportOnnx=true", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
        var (_, engine, compiled) = Compile(prepared.CompileModels);
        Assert.True(compiled, string.Join("\n", engine.Errors.Select(e => e.Code + " " + e.Message)));
        // A readable ONNX model of the optimized graph: the fused Relus are nodes again, the bias Adds are gone.
        var model = Q.Compiler.Onnx.OnnxReader.ReadFile(onnx);
        Assert.Contains(model.Nodes, n => n.OpType == "Relu");
        Assert.DoesNotContain(model.Nodes, n => n.OpType == "Add");
        var written = File.GetLastWriteTimeUtc(onnx);

        // Compiled again with the same graph: the file is left alone.
        Thread.Sleep(20);
        Compile(Prepare(item).Task.CompileModels);
        Assert.Equal(written, File.GetLastWriteTimeUtc(onnx));

        item.SetMetadata("ExportOnnx", "false");
        var (off, _, _) = Prepare(item);
        Assert.DoesNotContain("ExportOnnx", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
        Compile(off.CompileModels);
        Assert.False(File.Exists(onnx));
    }

    [Fact]
    public void ExportOnnxThatIsNotTrueOrFalseIsAnError()
    {
        var item = Item(_model, "Mnist", "Demo");
        item.SetMetadata("ExportOnnx", "yes");
        var (task, engine, ok) = Prepare(item);
        Assert.False(ok);
        var error = Assert.Single(engine.Errors);
        Assert.Contains("ExportOnnx 'yes' is not true or false", error.Message);
        Assert.Empty(task.CompileModels);
    }

    [Fact]
    public void CompressWeightsFalseIsInTheStampAndAnythingButTrueOrFalseIsAnError()
    {
        var item = Item(_model, "Mnist", "Demo");
        item.SetMetadata("CompressWeights", "False");
        var (prepared, _, ok) = Prepare(item);
        Assert.True(ok);
        Assert.Contains("CompressWeights=false", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
        Assert.Equal("false", Assert.Single(prepared.CompileModels).GetMetadata("CompressWeights"));

        item.SetMetadata("CompressWeights", "no");
        var (task, engine, failed) = Prepare(item);
        Assert.False(failed);
        Assert.Contains("CompressWeights 'no' is not true or false", Assert.Single(engine.Errors).Message);
        Assert.Empty(task.CompileModels);
    }
}
