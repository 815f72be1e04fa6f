using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Onnx;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Planning;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>Stage-level checks: plan text round trip, memory planning, the reference interpreter.</summary>
public sealed class PipelineTests
{
    private static CompileResult CompileMnist() =>
        ModelCompiler.Compile(new CompileOptions { ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "Mnist", Namespace = "Demo" });

    [SharedFact]
    public void PlanTextRoundTripsByteForByte()
    {
        var r = CompileMnist();
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var again = PlanText.Write(PlanText.Read(r.PlanText!));
        Assert.Equal(r.PlanText, again);
    }

    [SharedFact]
    public void MnistFoldsBiasAndReluIntoConvAndMatMulIntoGemm()
    {
        var r = CompileMnist();
        var ops = r.Plan!.Layers.Select(l => l.Op).ToList();
        Assert.Equal(new[] { "Conv + Relu", "MaxPool", "Conv + Relu", "MaxPool", "Gemm" }, ops);
        Assert.Contains("Plus30", r.Plan.Layers[0].Nodes);
        Assert.Contains("ReLU32", r.Plan.Layers[0].Nodes);
    }

    [SharedFact]
    public void ArenaNeverOverlapsLiveBuffersAndStaysNearTheLowerBound()
    {
        var model = OnnxReader.ReadFile(SharedData.Model("mnist-8/model.onnx"));
        var bag = new Diagnostics.DiagnosticBag();
        var graph = Passes.PassPipeline.Optimize(Import.GraphImporter.Import(model, new Dictionary<string, int[]>(), bag), bag);
        var lowered = Lowerer.Lower(graph);
        var layout = MemoryPlanner.Plan(lowered);
        Assert.True(layout.ArenaBytes >= layout.LowerBound);
        Assert.True(layout.ArenaBytes <= layout.LowerBound * 1.25, $"arena {layout.ArenaBytes} vs lower bound {layout.LowerBound}");

        // Any two arena buffers alive in the same layer must not share bytes.
        var byId = lowered.Buffers.ToDictionary(b => b.Id);
        var live = new Dictionary<string, (int First, int Last)>();
        for (int li = 0; li < lowered.Layers.Count; li++)
            foreach (var a in lowered.Layers[li].Calls.SelectMany(c => c.Args).Where(a => a.Kind is ArgKind.In or ArgKind.Out))
            {
                var root = byId[a.Buffer].Root;
                if (root.Kind != BufferKind.Arena) continue;
                live[root.Id] = live.TryGetValue(root.Id, out var l) ? (l.First, li) : (li, li);
            }
        var ids = live.Keys.ToList();
        foreach (var x in ids)
            foreach (var y in ids.Where(y => string.CompareOrdinal(y, x) > 0))
            {
                bool timeOverlap = live[x].First <= live[y].Last && live[y].First <= live[x].Last;
                long xo = layout.Offsets[x], yo = layout.Offsets[y];
                long xs = byId[x].Type.ByteSize, ys = byId[y].Type.ByteSize;
                bool spaceOverlap = xo < yo + ys && yo < xo + xs;
                Assert.False(timeOverlap && spaceOverlap, $"{x} and {y} overlap");
            }
    }

    [SharedFact]
    public void InterpreterMatchesReferenceOutputs()
    {
        var r = CompileMnist();
        foreach (var set in TestData.Sets(SharedData.Model("mnist-8")))
        {
            var outs = FloatInterpreter.Run(r.Graph!, TestData.Inputs(set));
            var (maxAbs, range, _) = TestData.Compare(TestData.Outputs(set)[0], outs[0], double.PositiveInfinity);
            Assert.True(maxAbs <= 1e-4 * range, $"max abs {maxAbs} for range {range}");
        }
    }

    [SharedFact]
    public void SameModelGivesIdenticalPlans()
    {
        Assert.Equal(CompileMnist().PlanText, CompileMnist().PlanText);
    }
}
