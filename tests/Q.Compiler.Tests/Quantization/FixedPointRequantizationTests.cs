using System.Numerics;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The fixed-point schemes the requantization measurement compares the product with (<see cref="FixedPointRequantization"/>),
/// and the claim of docs/requantization.md that the float32 scale is within one step of the exact result.
/// </summary>
public sealed class FixedPointRequantizationTests
{
    /// <summary>Round half to even of acc·m, with m's exact binary value, in big integers (independent of <see cref="FixedPointRequantization.Exact"/>).</summary>
    private static long ExactBig(int acc, double m)
    {
        long bits = BitConverter.DoubleToInt64Bits(m);
        int exp = (int)((bits >> 52) & 0x7FF);
        long mant = (bits & 0xFFFFFFFFFFFFFL) | (exp == 0 ? 0 : 1L << 52);
        int sh = 1075 - Math.Max(exp, 1);
        var num = (BigInteger)acc * mant;
        if (sh <= 0) return (long)(num << -sh);
        var den = BigInteger.One << sh;
        var q = BigInteger.DivRem(BigInteger.Abs(num), den, out var rem);
        int c = (rem * 2).CompareTo(den);
        if (c > 0 || (c == 0 && !q.IsEven)) q += 1;
        return (long)(num.Sign < 0 ? -q : q);
    }

    private static IEnumerable<(int Acc, double M)> Cases(int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            double m = Math.Pow(2, -20 + 21 * rng.NextDouble());            // 1e-6 .. 2
            int acc = rng.Next(-(1 << 20), 1 << 20);
            yield return (acc, m);
        }
        // Exact ties: M = 0.5, 0.25 and odd accumulators.
        foreach (var m in new[] { 0.5, 0.25 })
            for (int acc = -9; acc <= 9; acc += 2) yield return (acc, m);
    }

    [Fact]
    public void Exact_is_round_half_even_of_the_exact_product()
    {
        foreach (var (acc, m) in Cases(1, 20_000))
            Assert.Equal(ExactBig(acc, m), FixedPointRequantization.Exact(acc, m));
        Assert.Equal(2, FixedPointRequantization.Exact(5, 0.5));    // 2.5 → 2
        Assert.Equal(-2, FixedPointRequantization.Exact(-5, 0.5));  // −2.5 → −2
    }

    [Fact]
    public void The_Q31_multiplier_is_within_half_a_unit_of_M()
    {
        foreach (var (_, m) in Cases(2, 2_000))
        {
            var (q, e) = FixedPointRequantization.Multiplier(m);
            Assert.InRange(q, 1 << 30, int.MaxValue);
            Assert.True(Math.Abs(Math.ScaleB(q, e - 31) - m) <= Math.ScaleB(1, e - 32), $"M {m:R}: q {q}, e {e}");
        }
    }

    [Fact]
    public void The_schemes_round_ties_as_their_sources_say()
    {
        var (q, e) = FixedPointRequantization.Multiplier(0.5);
        Assert.Equal((1 << 30, 0), (q, e));
        // One rounding: ties toward +∞.
        Assert.Equal(3, FixedPointRequantization.SingleRounding(5, q, e));
        Assert.Equal(-2, FixedPointRequantization.SingleRounding(-5, q, e));
        // gemmlowp's doubling high multiply: ties toward +∞ (the nudge for a negative product is 1 − 2^30 and the division truncates).
        Assert.Equal(3, FixedPointRequantization.Gemmlowp(5, q, e));
        Assert.Equal(-2, FixedPointRequantization.Gemmlowp(-5, q, e));
        // Its division by a power of two: ties away from zero. M = 0.25: −10·2^30 / 2^31 = −5 exactly, then −5 / 2 → −3.
        var (q4, e4) = FixedPointRequantization.Multiplier(0.25);
        Assert.Equal((1 << 30, -1), (q4, e4));
        Assert.Equal(-3, FixedPointRequantization.Gemmlowp(-10, q4, e4));
        Assert.Equal(-2, FixedPointRequantization.SingleRounding(-10, q4, e4));
        Assert.Equal(3, FixedPointRequantization.RoundingDivideByPot(5, 1));
        Assert.Equal(-3, FixedPointRequantization.RoundingDivideByPot(-5, 1));
        Assert.Equal(int.MaxValue, FixedPointRequantization.SaturatingRoundingDoublingHighMul(int.MinValue, int.MinValue));
    }

    /// <summary>
    /// On non-tie products, the float32 scale and the one-rounding fixed point are each within one step of the exact result,
    /// and gemmlowp's double rounding too.
    /// </summary>
    [Fact]
    public void Every_scheme_is_within_one_step_of_exact()
    {
        int floatOff = 0, fixedOff = 0;
        foreach (var (acc, m) in Cases(3, 50_000))
        {
            long exact = ExactBig(acc, m);
            long fl = RequantScale.Apply(acc, RequantScale.FromReal(m));
            var (q, e) = FixedPointRequantization.Multiplier(m);
            long fx = FixedPointRequantization.SingleRounding(acc, q, e);
            long gl = FixedPointRequantization.Gemmlowp(acc, q, e);
            Assert.InRange(fl - exact, -1, 1);
            Assert.InRange(fx - exact, -1, 1);
            Assert.InRange(gl - exact, -1, 1);
            if (fl != exact) floatOff++;
            if (fx != exact) fixedOff++;
        }
        // Rare: the float scale has 24 significant bits, the Q31 multiplier 31 (the ties above account for some of them).
        Assert.True(floatOff < 500 && fixedOff < 500, $"float off {floatOff}, fixed off {fixedOff} of 50,000");
    }
}
