using Q.Compiler.IntegrationTests.Support;
using Xunit;

namespace Q.Compiler.IntegrationTests;

/// <summary>The search behind the no-leak test finds every kind of window it looks for, at any offset, and nothing in unrelated bytes.</summary>
public sealed class LeakSearchTests
{
    private static readonly List<float[]> Samples = Enumerable.Range(0, 5).Select(Digits.AsFloats).ToList();

    /// <summary>An assembly that has never seen a digit: the search's false-positive check.</summary>
    private static byte[] Unrelated() => File.ReadAllBytes(typeof(Q.Compiler.Tasks.QCompile).Assembly.Location);

    [Fact]
    public void NothingInAnUnrelatedAssembly()
    {
        var search = new LeakSearch(Samples, Digits.Cols, [(1.0, 0), (0.5, 3)]);
        Assert.True(search.PatternCount > 1000, "the search looks for only " + search.PatternCount + " windows");
        Assert.Empty(search.FindIn(Unrelated()));
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    [InlineData("raw uint8")]
    [InlineData("quantized uint8")]
    [InlineData("quantized int8")]
    public void FindsAPlantedFragmentAtAnOddOffset(string kind)
    {
        const int sample = 2;
        float[] x = Samples[sample];
        (double Scale, int ZeroPoint) q = (0.75, 5);
        // The row with the most distinct grey levels: one row of the digit is all a leak needs to be.
        int row = Enumerable.Range(0, Digits.Rows).MaxBy(r => x.Skip(r * Digits.Cols).Take(Digits.Cols).Distinct().Count());
        var pixels = x.Skip(row * Digits.Cols).Take(Digits.Cols).ToArray();
        byte Quantize(float v) => (byte)Math.Clamp(Math.Round(v / q.Scale, MidpointRounding.ToEven) + q.ZeroPoint, 0, 255);
        byte[] fragment = kind switch
        {
            "float32" => pixels.SelectMany(BitConverter.GetBytes).ToArray(),
            "float64" => pixels.SelectMany(v => BitConverter.GetBytes((double)v)).ToArray(),
            "raw uint8" => Digits.Raw(sample).AsSpan(row * Digits.Cols, Digits.Cols).ToArray(),
            "quantized uint8" => pixels.Select(Quantize).ToArray(),
            _ => pixels.Select(v => (byte)(Quantize(v) ^ 0x80)).ToArray(),
        };
        byte[] haystack = Unrelated();
        fragment.CopyTo(haystack, 10_001);

        var hits = new LeakSearch(Samples, Digits.Cols, [q]).FindIn(haystack);
        Assert.NotEmpty(hits);
        Assert.All(hits, h => Assert.StartsWith($"sample {sample}: ", h));
        string expected = kind switch { "float32" => "float32", "float64" => "float64", "raw uint8" => "raw uint8", "quantized uint8" => "as uint8", _ => "as int8" };
        Assert.Contains(hits, h => h.Contains(expected, StringComparison.Ordinal));
    }
}
