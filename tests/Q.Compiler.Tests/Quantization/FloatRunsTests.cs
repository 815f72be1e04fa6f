using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The float runs of an Int8 build are interpreted once and reused by the later passes (range histograms, per-layer
/// SQNR, model-output SQNR) within a memory budget; reuse changes the time only, never a range, a scale or a figure.
/// </summary>
public sealed class FloatRunsTests
{
    private const int Samples = 40;

    private sealed record Outcome(string Ranges, string Histograms, string ReportJson, string GraphText, int Interpreted, int Kept);

    /// <summary>Calibrates and quantizes mnist-8 on <see cref="Samples"/> digits with the given budget, as ModelCompiler does.</summary>
    private static Outcome Build(Graph graph, long budget, List<string>? progress = null)
    {
        var samples = QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(100, Samples)).ToList();
        var runs = new FloatRuns(graph, samples, budget, progress is null ? null : progress.Add);
        var calibration = Calibrator.Run(runs, new CalibrationOptions { Method = CalibrationMethod.Mse });
        var q = GraphQuantizer.Quantize(graph, calibration, runs, new QuantizerOptions { MinLayerSqnrDb = 20 }, new DiagnosticBag());
        return new Outcome(
            string.Join("\n", calibration.Ranges.Select(kv => kv.Key + " " + kv.Value)),
            string.Join("\n", calibration.Histograms.Select(kv => kv.Key + " " + kv.Value.Threshold.ToString("R") + " " + string.Join(",", kv.Value.Counts.ToArray()))),
            q.Report.ToJson(),
            GraphText(q.Graph),
            runs.Interpreted, runs.KeptRuns);
    }

    /// <summary>Every node with its attributes and every constant with its bytes, in order.</summary>
    private static string GraphText(Graph g) =>
        string.Join("\n", g.Nodes.Select(n => $"{n.OpType} {n.Name} [{string.Join(",", n.Inputs)}] -> [{string.Join(",", n.Outputs)}] "
            + string.Join(";", n.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Key + "=" + a.Value))))
        + "\n" + string.Join("\n", g.Constants.OrderBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => c.Key + " " + c.Value.Type + " " + string.Join(",", c.Value.ToDoubles().Select(d => d.ToString("R")))));

    [SharedFact]
    public void Kept_runs_give_the_same_ranges_graph_and_report_as_interpreting_every_pass()
    {
        var graph = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        var none = Build(graph, budget: 0);
        var all = Build(graph, budget: FloatRuns.DefaultBudgetBytes);
        long oneRun = new FloatRuns(graph, QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(100, 1)).ToList()).Pass("x").Single().Bytes;
        var some = Build(graph, budget: oneRun * 15 + oneRun / 2);

        // Interpreted: with no budget, the two range passes and the per-layer SQNR pass each interpret every sample
        // (the model-output SQNR takes the float outputs from the per-layer pass); with room for all, once; with room
        // for 15, the other 25 are interpreted again by the two later passes.
        Assert.Equal((3 * Samples, 0), (none.Interpreted, none.Kept));
        Assert.Equal((Samples, Samples), (all.Interpreted, all.Kept));
        Assert.Equal((Samples + 2 * (Samples - 15), 15), (some.Interpreted, some.Kept));

        foreach (var o in new[] { all, some })
        {
            Assert.Equal(none.Ranges, o.Ranges);
            Assert.Equal(none.Histograms, o.Histograms);
            Assert.Equal(none.GraphText, o.GraphText);
            Assert.Equal(none.ReportJson, o.ReportJson);
        }
        Assert.Contains("QLinearConv", none.GraphText, StringComparison.Ordinal);
    }

    [SharedFact]
    public void The_old_entry_points_give_the_same_result()
    {
        var graph = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        var samples = QuantizerFixtures.AsSamples(QuantizerFixtures.MnistDigits(100, Samples)).ToList();
        var calibration = Calibrator.Run(graph, samples, new CalibrationOptions { Method = CalibrationMethod.Mse });
        var q = GraphQuantizer.Quantize(graph, calibration, samples, new QuantizerOptions { MinLayerSqnrDb = 20 }, new DiagnosticBag());
        var kept = Build(graph, FloatRuns.DefaultBudgetBytes);
        Assert.Equal(kept.Ranges, string.Join("\n", calibration.Ranges.Select(kv => kv.Key + " " + kv.Value)));
        Assert.Equal(kept.ReportJson, q.Report.ToJson());
        Assert.Equal(kept.GraphText, GraphText(q.Graph));
    }

    [SharedFact]
    public void Each_pass_reports_progress()
    {
        var graph = QuantizerFixtures.OptimizedGraph("mnist-8/model.onnx");
        var lines = new List<string>();
        Build(graph, FloatRuns.DefaultBudgetBytes, lines);
        Assert.Collection(lines.Where(l => l.Contains(" samples in ", StringComparison.Ordinal)),
            l => Assert.StartsWith($"range statistics, pass 1 of 2 (min/max): {Samples} samples in ", l),
            l => Assert.Matches($@"^range statistics, pass 2 of 2 \(histograms\): {Samples} samples in [0-9.]+ s \({Samples} float runs reused, 0 interpreted\)$", l),
            l => Assert.Matches($@"^per-layer SQNR: {Samples} samples in [0-9.]+ s \({Samples} float runs reused, 0 interpreted\)$", l),
            l => Assert.StartsWith($"bias correction: {Samples} samples in ", l),
            l => Assert.StartsWith($"model-output SQNR (simulated int8 model): {Samples} samples in ", l));
        Assert.Contains($"{Samples} runs kept for the later passes", lines[lines.FindIndex(l => l.StartsWith("range statistics, pass 1", StringComparison.Ordinal) && l.Contains(" in ", StringComparison.Ordinal))]);
    }

    [SharedFact]
    public void The_compiler_passes_progress_to_the_caller()
    {
        using var dir = new TempDir();
        QuantizerFixtures.WriteNpy(dir.File("calib/digits.npy"), QuantizerFixtures.MnistDigits(0, 8));
        var lines = new List<string>();
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "M", Namespace = "T",
            Quantize = QuantizeMode.Int8, Calibration = dir.File("calib"), Progress = lines.Add,
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        // Two calibration passes, then per clip margin candidate (QuantizerOptions.SearchedClipMargins) the per-layer SQNR,
        // bias correction and the search's simulated-model pass, whose output SQNR the report reuses; then the same three for
        // the pair-safe candidate (PairSafeWeights="auto", the default: mnist's first convolution would change) and, since
        // these 8 digits adopt it, for the quad-safe candidate.
        Assert.Contains(", quad-safe conv weights", r.QuantizationReport!.SummaryLine);
        Assert.Equal(2 + 3 * (QuantizerOptions.SearchedClipMargins.Count + 2), lines.Count(l => l.Contains(": 8 samples in ", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.StartsWith("pair-safe weights (simulated int8 model): 8 samples in ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("quad-safe weights (simulated int8 model): 8 samples in ", StringComparison.Ordinal));
    }
}
