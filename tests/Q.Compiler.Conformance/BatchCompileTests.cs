using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Conformance;

/// <summary>One test's broken generated code must not sink the other tests of its batch.</summary>
public sealed class BatchCompileTests
{
    [SharedFact]
    public void ACompileErrorDropsOnlyItsOwnPlan()
    {
        string model = Path.Combine(SharedData.RequirePath("onnx-backend"), "node", "test_abs", "model.onnx");
        ModelPlan Plan(string name)
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = model, ClassName = name, Namespace = "Batch", InputShapes = "x=3x4x5" });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            return PlanText.Read(r.PlanText!);
        }
        var good = Plan("Good");
        var bad = Plan("Bad");
        // A kernel call with one argument too many: CS1501 in Bad's code only.
        bad.Layers[0].Calls[0].Args.Add(PlanArg.Int(7));
        var other = Plan("Other");

        var batch = CompiledModels.CompileBatch(new[] { good, bad, other });

        Assert.Equal(new[] { bad }, batch.Failures.Keys);
        Assert.Contains("does not compile", batch.Failures[bad]);
        Assert.NotNull(batch.Assembly);
        Assert.False(batch.Assembly!.Contains(bad));
        var x = Tensor.FromFloats(new Shape(3, 4, 5), Enumerable.Range(0, 60).Select(i => i - 30f).ToArray());
        foreach (var p in new[] { good, other })
            Assert.Equal(x.As<float>().Select(Math.Abs), batch.Assembly.Create(p).Run(x)[0].As<float>());
    }
}
