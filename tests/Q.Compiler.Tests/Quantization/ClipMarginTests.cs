using Q.Compiler.Diagnostics;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>RangeMargin (widening a calibrated range toward min/max) and the output-guided clip margin search.</summary>
public sealed class ClipMarginTests : IClassFixture<MnistQuantized>
{
    private readonly MnistQuantized _m;
    public ClipMarginTests(MnistQuantized m) => _m = m;

    private static TensorHistogram Stats(params float[] x)
    {
        var h = new TensorHistogram(64, x.Max(v => Math.Abs(v)));
        h.Add(x);
        return h;
    }

    [Fact]
    public void Widen_moves_each_end_the_given_share_of_the_way_to_the_observed_extreme()
    {
        var h = Stats(-2f, 0f, 1f, 10f);
        var clipped = new TensorRange(-1, 4);
        Assert.Equal(clipped, RangeMargin.Widen(clipped, h, 0));
        var quarter = RangeMargin.Widen(clipped, h, 0.25);
        Assert.Equal(-1.25, quarter.Min, 12);
        Assert.Equal(5.5, quarter.Max, 12);
        var full = RangeMargin.Widen(clipped, h, 1);
        Assert.Equal(-2, full.Min, 12);
        Assert.Equal(10, full.Max, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => RangeMargin.Widen(clipped, h, 1.5));
    }

    [Fact]
    public void Search_takes_a_larger_margin_only_if_it_is_better_over_the_set_and_on_most_samples()
    {
        var scores = new Dictionary<double, ClipMarginScore>
        {
            [0] = new(new[] { 20.0, double.NaN }, new[] { 30.0, 30, 30, 10 }),
            [0.25] = new(new[] { 22.0, double.NaN }, new[] { 31.0, 31, 31, 9 }),   // better over the set and on 3 of 4
            [0.5] = new(new[] { 30.0, double.NaN }, new[] { 20.0, 20, 40, 40 }),  // much better over the set, on 2 of 4 only
        };
        string? note = null;
        double chosen = ClipMarginSearch.Choose(new[] { 0, 0.25, 0.5 }, m => m, m => scores[m], (_, n) => note = n);
        Assert.Equal(0.25, chosen);
        Assert.Contains("clip margin 0.25 chosen", note);
        Assert.Contains("0.5: 30.0 dB, 2 of 4 samples better", note);
        // Better on every sample but not over the set (ties included): the first stays.
        var flat = new Dictionary<double, ClipMarginScore> { [0] = new(new[] { 20.0 }, new[] { 1.0, 1 }), [1] = new(new[] { 20.0 }, new[] { 2.0, 2 }) };
        Assert.Equal(0, ClipMarginSearch.Choose(new[] { 0.0, 1 }, m => m, m => flat[m], (_, _) => { }));
    }

    /// <summary>
    /// The searched margins (a calibrated build's): the quantization keeps the one the search rule picks from the
    /// single-margin quantizations: the same model-output SQNR as that one's, at least the unwidened ranges'.
    /// </summary>
    [SharedFact]
    public void Searched_quantization_takes_the_margin_with_the_best_calibration_output_sqnr()
    {
        var margins = QuantizerOptions.SearchedClipMargins;
        Assert.True(margins.Count > 1);
        var result = _m.Again(new QuantizerOptions { ClipMargins = margins }, new DiagnosticBag());
        var note = Assert.Single(result.Report.Notes, n => n.StartsWith("clip margin", StringComparison.Ordinal));
        double searched = result.Report.OutputSqnrDb.Values.Min();
        var single = margins
            .Select(m => _m.Again(new QuantizerOptions { ClipMargins = new[] { m } }, new DiagnosticBag()).Report.OutputSqnrDb.Values.Min()).ToList();
        Assert.Contains(single, s => Math.Abs(s - searched) < 1e-9);
        Assert.True(searched >= single[0]);
        Assert.Equal(margins.Count - 1, note.Split("samples better").Length - 1);
        Assert.DoesNotContain(_m.Result.Report.Notes, n => n.StartsWith("clip margin", StringComparison.Ordinal));   // QuantizerOptions alone: no search
    }
}
