using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Plan;
using Q.Compiler.Planning;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Weight-only layers (float activations, int8 weights): the rewrite (a float layer whose weights are the dequantized
/// int8 weights), its agreement with the quantizer's simulation and with the compiled C#, its weight bytes (stored as
/// int8 × scale), and the output-guided prefix rule (<see cref="WeightOnlySearch"/>, MinOutputSqnrDb).
/// </summary>
public sealed class WeightOnlyLayerTests
{
    /// <summary>x [1,8,12,12] → Conv 3×3 + Relu → Conv 3×3 → Sigmoid → Conv 1×1 + Relu → GlobalAveragePool → Flatten → Gemm (10).</summary>
    private static Graph Model()
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 8, 12, 12)
            .Initializer("w1", OnnxModelBuilder.Random(1, -0.3f, 0.3f, 16, 8, 3, 3))
            .Initializer("b1", OnnxModelBuilder.Random(2, -0.5f, 0.5f, 16))
            .Initializer("w2", OnnxModelBuilder.Random(3, -0.3f, 0.3f, 24, 16, 3, 3))
            .Initializer("b2", OnnxModelBuilder.Random(4, -0.5f, 0.5f, 24))
            .Initializer("w3", OnnxModelBuilder.Random(5, -0.3f, 0.3f, 32, 24, 1, 1))
            .Initializer("wg", OnnxModelBuilder.Random(6, -0.3f, 0.3f, 10, 32))
            .Initializer("bg", OnnxModelBuilder.Random(7, -0.5f, 0.5f, 10))
            .Node("Conv", new[] { "x", "w1", "b1" }, new[] { "c1" }, ("pads", new long[] { 1, 1, 1, 1 }))
            .Node("Relu", new[] { "c1" }, new[] { "a1" })
            .Node("Conv", new[] { "a1", "w2", "b2" }, new[] { "c2" }, ("pads", new long[] { 1, 1, 1, 1 }))
            .Node("Sigmoid", new[] { "c2" }, new[] { "a2" })
            .Node("Conv", new[] { "a2", "w3" }, new[] { "c3" })
            .Node("Relu", new[] { "c3" }, new[] { "a3" })
            .Node("GlobalAveragePool", new[] { "a3" }, new[] { "p" })
            .Node("Flatten", new[] { "p" }, new[] { "f" })
            .Node("Gemm", new[] { "f", "wg", "bg" }, new[] { "y" }, ("transB", 1L), ("alpha", 0.75f))
            .Output("y");
        string path = Path.Combine(Path.GetTempPath(), "qc-weightonly-" + Guid.NewGuid().ToString("N") + ".onnx");
        b.Save(path);
        try
        {
            var bag = new DiagnosticBag();
            return GraphQuantizer.Unfuse(PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(path), new Dictionary<string, int[]>(), bag), bag));
        }
        finally { File.Delete(path); }
    }

    private static List<IReadOnlyList<Tensor>> Samples(int first, int count) =>
        QuantizerFixtures.AsSamples(Enumerable.Range(first, count).Select(i => OnnxModelBuilder.Random(100 + i, -2, 2, 1, 8, 12, 12))).ToList();

    private static QuantizedGraph Quantize(Graph g, QuantizerOptions options, DiagnosticBag? bag = null) =>
        GraphQuantizer.Quantize(g, Calibrator.Run(g, Samples(0, 8), new CalibrationOptions { Method = CalibrationMethod.Mse }), Samples(0, 8), options, bag ?? new DiagnosticBag());

    private static string Ops(Graph g) => string.Join(" ", g.Nodes.Select(n => n.OpType + (n.Activation is null ? "" : "+" + n.Activation.Op)));

    private static ModelPlan PlanOf(Graph g, string className)
    {
        var lowered = Lowerer.Lower(g);
        return PlanBuilder.Build(lowered, MemoryPlanner.Plan(lowered), "T", className, "int8");
    }

    private static double Sqnr(IEnumerable<(float[] Reference, float[] Approx)> pairs)
    {
        double s = 0, n = 0;
        foreach (var (r, a) in pairs)
            for (int i = 0; i < r.Length; i++) { s += (double)r[i] * r[i]; n += Math.Pow(r[i] - a[i], 2); }
        return 10 * Math.Log10(s / n);
    }

    [Fact]
    public void A_weight_only_prefix_becomes_float_layers_with_the_dequantized_int8_weights()
    {
        var g = Model();
        var int8 = Quantize(g, new QuantizerOptions());
        Assert.Equal("QuantizeLinear QLinearConv+Relu QLinearConv QLinearSigmoid QLinearConv+Relu QLinearGlobalAveragePool Flatten Reshape ConvInteger DynamicDequantize Reshape",
            Ops(int8.Graph));
        // The first two compute layers and the Sigmoid between them (4 int8 layers: Conv, Conv, Sigmoid, Conv...) weight-only.
        var wo = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = 3 });
        Assert.Equal("Conv+Relu Conv+Sigmoid QuantizeLinear QLinearConv+Relu QLinearGlobalAveragePool Flatten Reshape ConvInteger DynamicDequantize Reshape", Ops(wo.Graph));
        var rows = wo.Report.Layers.Where(l => l.WeightOnly).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.StartsWith("weight-only", r.Scheme));
        Assert.All(rows, r => Assert.False(r.Quantized));
        Assert.All(rows, r => Assert.Contains("int8 weights", r.KeptFloatReason));
        Assert.Contains("| weight-only: f32 × (s8 per-channel × scale), Relu |", wo.Report.ToMarkdown());
        // Each weight is an int8 value times its channel's scale, the float product, as WeightEncoder finds it.
        var conv = wo.Graph.Nodes[0];
        var w = wo.Graph.Constants[conv.Inputs[1]];
        Assert.Equal(new Shape(16, 8, 3, 3), w.Shape);
        Assert.Equal(WeightCodingKind.Scaled, WeightEncoder.Encode(w).Coding?.Kind);
        Assert.NotEqual(g.Constants[g.Nodes[0].Inputs[1]].ToFloats(), w.ToFloats());
        var wf = w.ToFloats();
        for (int c = 0; c < 16; c++)
        {
            var channel = wf.Skip(72 * c).Take(72).ToArray();
            float max = channel.Max(Math.Abs);
            Assert.Equal(127, channel.Select(v => Math.Abs(v / (max / 127))).Select(v => Math.Round(v)).Max());
        }
        // The float bias is a float constant (corrected), not an int32 one, on an int16 grid of one scale: stored as
        // int16 values and the scale.
        // (The second layer's, 24 channels: 16 would save less than WeightEncoder.MinSavedBytes.)
        Assert.Equal(DataType.Float, wo.Graph.Constants[conv.Inputs[2]].ElementType);
        var bias = wo.Graph.Constants[wo.Graph.Nodes[1].Inputs[2]];
        Assert.Equal(DataType.Float, bias.ElementType);
        var biasCoding = WeightEncoder.Encode(bias).Coding;
        Assert.Equal("scaled:24:1:1:plain:plain:i16", biasCoding?.ToString());
        float step = bias.ToFloats().Max(Math.Abs) / 32767;
        Assert.All(bias.ToFloats(), v => Assert.True(Math.Abs(v / step - Math.Round(v / step)) < 0.01, $"{v} is not on the grid of {step}"));
    }

    [Fact]
    public void The_rewritten_graph_computes_what_the_simulation_computes()
    {
        var g = Model();
        int layers = Quantize(g, new QuantizerOptions()).Report.Layers.Count(l => l.Quantized);
        var all = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = layers });
        Assert.DoesNotContain(all.Graph.Nodes, n => n.OpType.Contains("Quantize") || n.OpType.StartsWith("QLinear"));
        Assert.Equal(4, all.Report.Layers.Count(l => l.WeightOnly));
        // Every layer weight-only: the graph is float, and its reference run is the simulation up to float rounding (the
        // simulation's Gemm adds the bias first, in double; GemmOp after the sum).
        foreach (var s in Samples(60, 3))
        {
            var sim = all.Simulate(s)[0].ToFloats();
            var reference = FloatInterpreter.Run(all.Graph, s)[0].ToFloats();
            for (int i = 0; i < sim.Length; i++) Assert.True(Math.Abs(sim[i] - reference[i]) <= 1e-6f * (1 + Math.Abs(sim[i])), $"{i}: {sim[i]} vs {reference[i]}");
        }
        // A prefix: the int8 part is the integer reference against fake quantization, so close but not exact.
        var part = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = 3 });
        double agree = Sqnr(Samples(60, 3).Select(s => (part.Simulate(s)[0].ToFloats(), FloatInterpreter.Run(part.Graph, s)[0].ToFloats())));
        Assert.True(agree > 40, $"integer reference vs simulation: {agree:F1} dB");
        // Weight-only layers are closer to float than int8 ones on the calibration set.
        var int8 = Quantize(g, new QuantizerOptions());
        double Against(QuantizedGraph q) => Sqnr(Samples(0, 8).Select(s => (FloatInterpreter.Run(g, s)[0].ToFloats(), q.Simulate(s)[0].ToFloats())));
        Assert.True(Against(all) > Against(part) && Against(part) > Against(int8), $"{Against(int8):F1} < {Against(part):F1} < {Against(all):F1} dB");
        Assert.Equal(Against(all), all.Report.OutputSqnrDb.Single().Value, 6);
    }

    [Fact]
    public void The_compiled_weight_only_model_matches_the_simulation_to_float_rounding_and_stores_int8_weights()
    {
        var g = Model();
        int layers = Quantize(g, new QuantizerOptions()).Report.Layers.Count(l => l.Quantized);
        var int8 = Quantize(g, new QuantizerOptions());
        var all = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = layers });
        var part = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = 3 });
        var plans = new[] { PlanOf(int8.Graph, "Int8"), PlanOf(all.Graph, "WeightOnly"), PlanOf(part.Graph, "Prefix"), PlanOf(g, "Float") };
        // Every weight-only layer's weights are stored scaled (int8 values and scales): about the int8 build's bytes.
        var weightOnly = plans[1].Buffers.Where(b => b.Kind == BufferKind.Weight && b.Type == "f32" && b.Elements >= 320).ToList();
        Assert.NotEmpty(weightOnly);
        Assert.All(weightOnly, b => Assert.Equal(WeightCodingKind.Scaled, b.Coding?.Kind));
        Assert.True(plans[1].Weights.Length < 1.15 * plans[0].Weights.Length && plans[1].Weights.Length < 0.4 * plans[3].Weights.Length,
            $"weight-only {plans[1].Weights.Length} B, int8 {plans[0].Weights.Length} B, float {plans[3].Weights.Length} B");
        var asm = CompiledModels.Compile(plans);
        foreach (var s in Samples(60, 3))
        {
            var sim = all.Simulate(s)[0].ToFloats();
            var run = asm.Create(plans[1]).Run(s[0])[0].ToFloats();
            for (int i = 0; i < sim.Length; i++)
                Assert.True(Math.Abs(sim[i] - run[i]) <= 1e-4f * (1 + Math.Abs(sim[i])), $"output {i}: compiled {run[i]}, simulated {sim[i]}");
            // The prefix build: its int8 part runs the integer kernels, bit for bit the integer reference; the float part
            // differs from the reference's double accumulation by float rounding.
            var reference = FloatInterpreter.Run(part.Graph, s)[0].ToFloats();
            var prefix = asm.Create(plans[2]).Run(s[0])[0].ToFloats();
            Assert.True(Sqnr(new[] { (reference, prefix) }) > 40, "prefix build vs its reference");
        }
    }

    [Fact]
    public void The_rule_leaves_a_model_above_the_target_unchanged()
    {
        var g = Model();
        var plain = Quantize(g, new QuantizerOptions());
        double sqnr = plain.Report.OutputSqnrDb.Single().Value;
        var bag = new DiagnosticBag();
        var ruled = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = sqnr - 1 }, bag);
        Assert.DoesNotContain(bag.Items, d => d.Id is DiagnosticIds.WeightOnlyLayers or DiagnosticIds.WeightOnlyTargetMissed);
        Assert.Equal(PlanText.Write(PlanOf(plain.Graph, "M")), PlanText.Write(PlanOf(ruled.Graph, "M")));
        Assert.Equal(plain.Report.ToJson(), ruled.Report.ToJson());
    }

    [Fact]
    public void The_rule_makes_the_smallest_prefix_that_reaches_the_target_weight_only()
    {
        var g = Model();
        var plain = Quantize(g, new QuantizerOptions());
        int layers = plain.Report.Layers.Count(l => l.Quantized);
        var scores = Enumerable.Range(0, layers + 1)
            .Select(k => Quantize(g, new QuantizerOptions { WeightOnlyPrefix = k }).Report.OutputSqnrDb.Single().Value).ToList();
        Assert.True(scores[layers] > scores[0] + 3, string.Join(", ", scores));
        // A target between none and all: the rule's choice reaches it, and (the scores being monotone here) the prefix
        // one shorter does not.
        double target = (scores[0] + scores[layers]) / 2;
        var bag = new DiagnosticBag();
        var ruled = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = target }, bag);
        int chosen = ruled.Report.Layers.Count(l => l.KeptFloatReason?.Contains("weight-only") == true || l.WeightOnly);
        double got = ruled.Report.OutputSqnrDb.Single().Value;
        Assert.True(got >= target, $"{got:F1} dB for target {target:F1} (scores {string.Join(", ", scores.Select(v => v.ToString("F1")))})");
        int smallest = Enumerable.Range(0, layers + 1).First(k => scores[k] >= target);
        Assert.Equal(scores[smallest], got, 6);
        var d = Assert.Single(bag.Items, x => x.Id == DiagnosticIds.WeightOnlyLayers);
        Assert.Equal(Severity.Info, d.Severity);
        Assert.Contains("weight-only", d.Message);
        Assert.Contains(ruled.Report.Notes, n => n.StartsWith("weight-only prefix: "));
        // Out of reach: the whole model weight-only, with a warning.
        var far = new DiagnosticBag();
        var all = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = scores[layers] + 20 }, far);
        Assert.Equal(Severity.Warning, Assert.Single(far.Items, x => x.Id == DiagnosticIds.WeightOnlyTargetMissed).Severity);
        Assert.Equal(scores[layers], all.Report.OutputSqnrDb.Single().Value, 6);
    }

    /// <summary>
    /// CompensatedWeightOnly: the weight-only layers take compensated weights (other integers on the same int8 × scale
    /// grid, closer to float on the calibration set), and nothing else changes.
    /// </summary>
    [Fact]
    public void Weight_only_layers_take_compensated_weights_when_asked()
    {
        var g = Model();
        int layers = Quantize(g, new QuantizerOptions()).Report.Layers.Count(l => l.Quantized);
        double all = Quantize(g, new QuantizerOptions { WeightOnlyPrefix = layers }).Report.OutputSqnrDb.Single().Value;
        // A target out of reach: every int8 layer weight-only, rounded to nearest or compensated.
        var nearest = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = all + 20 });
        var compensated = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = all + 20, CompensatedWeightOnly = true });
        Assert.Equal(Ops(nearest.Graph), Ops(compensated.Graph));
        Assert.StartsWith("Conv+Relu Conv+Sigmoid Conv+Relu", Ops(compensated.Graph));
        int changed = 0;
        foreach (var (a, b) in nearest.Graph.Nodes.Zip(compensated.Graph.Nodes).Where(p => p.First.OpType is "Conv" or "Gemm"))
        {
            var wa = nearest.Graph.Constants[a.Inputs[1]];
            var wb = compensated.Graph.Constants[b.Inputs[1]];
            Assert.Equal(WeightCodingKind.Scaled, WeightEncoder.Encode(wb).Coding?.Kind);
            if (!wa.ToFloats().SequenceEqual(wb.ToFloats())) changed++;
        }
        Assert.True(changed >= 2, $"{changed} weight-only layers changed");
        double n = nearest.Report.OutputSqnrDb.Single().Value, c = compensated.Report.OutputSqnrDb.Single().Value;
        Assert.True(c > n, $"compensated {c:F2} dB, round-to-nearest {n:F2} dB on the calibration set");
        // Above the target nothing is weight-only, and nothing is compensated.
        var above = Quantize(g, new QuantizerOptions { MinOutputSqnrDb = 1, CompensatedWeightOnly = true });
        Assert.Equal(Ops(Quantize(g, new QuantizerOptions()).Graph), Ops(above.Graph));
    }

    /// <summary>mnist-8 (output SQNR well above 30 dB on its calibration digits): the rule changes nothing, plan and report alike.</summary>
    [SharedFact]
    public void Mnist8_above_the_target_builds_the_same_plan_with_the_rule()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qc-wo-mnist-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            QuantizerFixtures.WriteNpy(Path.Combine(dir, "digits.npy"), QuantizerFixtures.MnistDigits(0, 200));
            Pipeline.CompileResult Build(double target) => Pipeline.ModelCompiler.Compile(new Pipeline.CompileOptions
            {
                ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "M", Namespace = "T", Quantize = Pipeline.QuantizeMode.Int8, Calibration = dir,
                MinOutputSqnrDb = target,
            });
            var off = Build(0);
            var on = Build(30);
            Assert.True(on.Success, string.Join("\n", on.Diagnostics));
            Assert.True(off.QuantizationReport!.OutputSqnrDb.Single().Value > 30);
            Assert.Equal(off.PlanText, on.PlanText);
            Assert.Equal(off.QuantizationReport.ToJson(), on.QuantizationReport!.ToJson());
            Assert.DoesNotContain(on.Diagnostics, d => d.Id is DiagnosticIds.WeightOnlyLayers or DiagnosticIds.WeightOnlyTargetMissed);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(100, 30.0, 37)]
    [InlineData(100, 30.0, 1)]
    [InlineData(100, 30.0, 100)]
    [InlineData(7, 30.0, 4)]
    public void Bisection_finds_the_smallest_prefix_in_about_log2_runs(int layers, double target, int threshold)
    {
        // A monotone score that crosses the target at prefix `threshold`.
        var runs = new List<int>();
        double Score(int k) { runs.Add(k); return k >= threshold ? target + 0.5 + k * 0.01 : target - 5 + k * 0.01; }
        var c = WeightOnlySearch.Choose(layers, target, Score);
        Assert.Equal(threshold, c.Prefix);
        Assert.True(c.Reached);
        Assert.Equal(runs.Distinct().Count(), runs.Count);
        Assert.InRange(runs.Count, 2, 2 + (int)Math.Ceiling(Math.Log2(layers)));
        Assert.Contains("weight-only", c.Note);
    }

    [Fact]
    public void Bisection_stops_at_once_above_the_target_and_says_when_it_is_out_of_reach()
    {
        var runs = new List<int>();
        var above = WeightOnlySearch.Choose(50, 25, k => { runs.Add(k); return 31; });
        Assert.Equal(0, above.Prefix);
        Assert.Equal(new[] { 0 }, runs);
        var unreachable = WeightOnlySearch.Choose(50, 40, k => 20 + k * 0.1);
        Assert.Equal(50, unreachable.Prefix);
        Assert.False(unreachable.Reached);
        Assert.Contains("below MinOutputSqnrDb", unreachable.Message);
        var worse = WeightOnlySearch.Choose(50, 40, k => 20 - k * 0.1);
        Assert.Equal(0, worse.Prefix);
        Assert.False(worse.Reached);
    }
}
