using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// <see cref="PairSafeChoice"/> (PairSafeWeights="auto"): the decision rule on calibration scores, the choice with and
/// without convolutions to change, and the quantizer's auto mode on mnist-8, which must give exactly the plain or the
/// pair-safe quantization, as the rule says on their scores.
/// </summary>
public sealed class PairSafeChoiceTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    private readonly Xunit.Abstractions.ITestOutputHelper _out;
    public PairSafeChoiceTests(MnistQuantized m, Xunit.Abstractions.ITestOutputHelper output) { _m = m; _out = output; }

    private static ClipMarginScore Score(double worst, params double[] samples) => new(new[] { worst, double.NaN }, samples);

    [Theory]
    // The measured calibration scores (plain, pair-safe) of docs/quantization.md, and what the rule makes of them.
    [InlineData(32.1, 36.0, true)]    // mobilenet-v2-128-0.5: better and above the floor
    [InlineData(49.4, 47.4, true)]    // ultraface-rfb-320: 2 dB lower, within the tolerance, far above the floor
    [InlineData(28.6, 26.9, false)]   // squeezenet-1.0-fp16: below the floor
    [InlineData(17.2, 19.9, false)]   // ppocr-cls-mobile: better, but below the floor
    [InlineData(44.6, 43.2, true)]    // mnist-8 (1,000 digits)
    // The edges: the floor and the tolerance are inclusive.
    [InlineData(31.0, 30.0, true)]
    [InlineData(31.0, 29.99, false)]
    [InlineData(60.0, 57.0, true)]
    [InlineData(60.0, 56.9, false)]
    [InlineData(double.PositiveInfinity, 80.0, false)]   // plain exact: anything finite loses more than the tolerance
    public void Adopts_pair_safe_weights_above_the_floor_and_within_the_tolerance_of_plain(double plain, double pairSafe, bool adopt)
    {
        Assert.Equal(30.0, PairSafeChoice.FloorDb);
        Assert.Equal(3.0, PairSafeChoice.ToleranceDb);
        Assert.Equal(adopt, PairSafeChoice.Adopt(Score(plain), Score(pairSafe)));
    }

    [Fact]
    public void A_model_without_a_float_output_never_adopts()
    {
        var none = new ClipMarginScore(new[] { double.NaN }, new[] { double.PositiveInfinity });
        Assert.False(PairSafeChoice.Adopt(none, none));
    }

    [Fact]
    public void Choose_scores_both_builds_and_notes_the_decision()
    {
        var scores = new Dictionary<string, ClipMarginScore> { ["plain"] = Score(32.1, 30, 35), ["safe"] = Score(36.0, 31, 34) };
        string? noted = null, note = null;
        var chosen = PairSafeChoice.Choose("plain", 35, () => "safe", b => scores[b], (b, n) => (noted, note) = (b, n));
        Assert.Equal("safe", chosen);
        Assert.Equal("safe", noted);
        Assert.Equal("pair-safe weights (auto): adopted for 35 convolutions; output SQNR on the calibration set (simulated int8 model, worst output) "
            + "32.1 dB plain, 36.0 dB pair-safe (1 of 2 samples better); adopted when at least 30 dB and at most 3 dB below plain", note);

        scores["safe"] = Score(26.9, 29, 36);
        chosen = PairSafeChoice.Choose("plain", 1, () => "safe", b => scores[b], (b, n) => (noted, note) = (b, n));
        Assert.Equal("plain", chosen);
        Assert.Equal("plain", noted);
        Assert.StartsWith("pair-safe weights (auto): not adopted for 1 convolution; ", note);
    }

    [Theory]
    // Judged against the pair-safe build: the quad floor, and the tolerance below pair-safe (not below plain).
    [InlineData(49.4, 47.4, 46.4, true)]    // ultraface-rfb-320: 1.0 dB below pair-safe, 3.0 below plain
    [InlineData(32.1, 36.0, 33.9, false)]   // mobilenet-v2-128-0.5: below the quad floor (its test set 1 fell to 25.0 dB)
    [InlineData(44.6, 43.2, 43.4, true)]    // mnist-8
    [InlineData(45.0, 42.5, 39.9, false)]   // below the floor
    [InlineData(45.0, 42.5, 40.0, true)]    // the floor is inclusive
    [InlineData(50.0, 49.0, 46.0, true)]    // the tolerance is inclusive
    [InlineData(50.0, 49.0, 45.9, false)]
    [InlineData(60.0, 50.0, 55.0, true)]    // better than pair-safe, 5 dB below plain
    public void Adopts_quad_safe_weights_above_the_floor_and_within_the_tolerance_of_pair_safe(double plain, double pairSafe, double quadSafe, bool adopt)
    {
        Assert.Equal(40.0, PairSafeChoice.QuadFloorDb);
        Assert.Equal(adopt, PairSafeChoice.AdoptQuad(Score(pairSafe), Score(quadSafe)));
        // The plain score plays no part in the rule.
        Assert.Equal(adopt, PairSafeChoice.ChooseQuad("pair", Score(plain), 3, () => "quad", b => b == "pair" ? Score(pairSafe) : Score(quadSafe), (_, _) => { }) == "quad");
    }

    [Fact]
    public void ChooseQuad_scores_the_quad_safe_build_and_notes_the_decision()
    {
        var scores = new Dictionary<string, ClipMarginScore> { ["pair"] = Score(47.4, 40, 50), ["quad"] = Score(46.0, 41, 49) };
        string? noted = null, note = null;
        var chosen = PairSafeChoice.ChooseQuad("pair", Score(49.4, 42, 52), 26, () => "quad", b => scores[b], (b, n) => (noted, note) = (b, n));
        Assert.Equal("quad", chosen);
        Assert.Equal("quad", noted);
        Assert.Equal("quad-safe weights (auto): adopted for 26 convolutions; output SQNR on the calibration set (simulated int8 model, worst output) "
            + "49.4 dB plain, 47.4 dB pair-safe, 46.0 dB quad-safe (1 of 2 samples better than pair-safe); adopted when at least 40 dB and at most 3 dB below pair-safe", note);

        scores["quad"] = Score(44.3, 39, 48);
        chosen = PairSafeChoice.ChooseQuad("pair", Score(49.5, 42, 52), 1, () => "quad", b => scores[b], (b, n) => (noted, note) = (b, n));
        Assert.Equal("pair", chosen);
        Assert.Equal("pair", noted);
        Assert.StartsWith("quad-safe weights (auto): not adopted for 1 convolution; ", note);

        chosen = PairSafeChoice.ChooseQuad("pair", Score(49.5), 0, () => throw new InvalidOperationException("prepared"),
            _ => throw new InvalidOperationException("scored"), (_, n) => note = n);
        Assert.Equal("pair", chosen);
        Assert.Equal("quad-safe weights (auto): not tried, no int8 convolution on the QConvNchw kernel would change", note);
    }

    [Fact]
    public void Choose_does_not_try_pair_safe_weights_when_no_convolution_would_change()
    {
        string? note = null;
        var chosen = PairSafeChoice.Choose("plain", 0, () => throw new InvalidOperationException("prepared"),
            _ => throw new InvalidOperationException("scored"), (_, n) => note = n);
        Assert.Equal("plain", chosen);
        Assert.Equal("pair-safe weights (auto): not tried, no int8 convolution on the QConvNchw kernel would change", note);
    }

    private static List<long[]> ConvWeights(Graph g) =>
        g.Nodes.Where(n => n.OpType == "QLinearConv").Select(n => g.Constants[n.Inputs[3]].ToLongs()).ToList();

    /// <summary>
    /// The quantizer's auto mode on mnist-8 (40 digits, one clip margin), calibrated two ways: the result is the plain or
    /// the pair-safe quantization bit for bit, the one <see cref="PairSafeChoice.Adopt"/> picks from the two builds'
    /// calibration output SQNR, and the report says which. The Entropy ranges leave the model below the floor (23 dB: plain
    /// stays), the Mse ranges above it (pair-safe is adopted), so both outcomes are exercised.
    /// </summary>
    [SharedFact]
    public void Auto_gives_the_quantization_the_rule_picks_from_the_calibration_scores()
    {
        var outcomes = new List<bool>();
        foreach (var method in new[] { CalibrationMethod.Entropy, CalibrationMethod.Mse })
        {
            var calibration = Calibrator.Run(_m.Float, _m.Samples, new CalibrationOptions { Method = method });
            QuantizedGraph Build(PairSafeWeightsMode mode) =>
                GraphQuantizer.Quantize(_m.Float, calibration, _m.Samples, new QuantizerOptions { PairSafeWeights = mode }, new DiagnosticBag());
            var never = Build(PairSafeWeightsMode.Never);
            var always = Build(PairSafeWeightsMode.Always);
            var quad = Build(PairSafeWeightsMode.Quad);
            var auto = Build(PairSafeWeightsMode.Auto);
            Assert.NotEqual(ConvWeights(never.Graph).SelectMany(w => w), ConvWeights(always.Graph).SelectMany(w => w));
            Assert.NotEqual(ConvWeights(always.Graph).SelectMany(w => w), ConvWeights(quad.Graph).SelectMany(w => w));
            static ClipMarginScore Of(QuantizedGraph q) => new(q.Report.OutputSqnrDb.Values.ToArray(), Array.Empty<double>());
            bool adopt = PairSafeChoice.Adopt(Of(never), Of(always));
            // Quad-safe weights are tried only once pair-safe ones are adopted.
            bool adoptQuad = adopt && PairSafeChoice.AdoptQuad(Of(always), Of(quad));
            var expected = adoptQuad ? quad : adopt ? always : never;
            Assert.Equal(ConvWeights(expected.Graph), ConvWeights(auto.Graph));
            Assert.Equal(expected.Report.OutputSqnrDb, auto.Report.OutputSqnrDb);
            var note = Assert.Single(auto.Report.Notes, n => n.StartsWith("pair-safe weights (auto)", StringComparison.Ordinal));
            _out.WriteLine(method + ": " + note);
            Assert.StartsWith("pair-safe weights (auto): " + (adopt ? "adopted" : "not adopted") + " for 1 convolution;", note);
            Assert.DoesNotContain(never.Report.Notes, n => n.StartsWith("pair-safe", StringComparison.Ordinal));
            var quadNote = auto.Report.Notes.SingleOrDefault(n => n.StartsWith("quad-safe weights (auto)", StringComparison.Ordinal));
            if (adopt)
            {
                _out.WriteLine(method + ": " + quadNote);
                Assert.StartsWith("quad-safe weights (auto): " + (adoptQuad ? "adopted" : "not adopted") + " for 1 convolution;", quadNote);
            }
            else Assert.Null(quadNote);
            Assert.Equal(adopt && !adoptQuad, auto.Report.SummaryLine.Contains(", pair-safe conv weights", StringComparison.Ordinal));
            Assert.Equal(adoptQuad, auto.Report.SummaryLine.Contains(", quad-safe conv weights", StringComparison.Ordinal));
            Assert.Contains(", pair-safe conv weights", always.Report.SummaryLine);
            Assert.DoesNotContain("pair-safe", never.Report.SummaryLine);
            outcomes.Add(adopt);
        }
        Assert.Equal(new[] { false, true }, outcomes);
    }

    /// <summary>With both convolutions kept float, no int8 layer would change: auto does not run the pair-safe quantization.</summary>
    [SharedFact]
    public void Auto_skips_the_extra_quantization_without_a_convolution_to_change()
    {
        var auto = _m.Again(new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Auto, KeepFloat = new[] { "Convolution28", "Convolution110" } }, new DiagnosticBag());
        Assert.Contains("pair-safe weights (auto): not tried, no int8 convolution on the QConvNchw kernel would change", auto.Report.Notes);
    }
}
