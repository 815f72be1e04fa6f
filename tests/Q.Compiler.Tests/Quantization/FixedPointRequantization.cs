namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The integer (fixed-point) requantization schemes the product does not use for QLinearConv / QLinearMatMul, written out
/// so they can be compared with its float32 scheme (docs/requantization.md): a multiplier M = s_x·s_w/s_y becomes a Q31
/// integer q ∈ [2^30, 2^31) and an exponent e with M ≈ q·2^(e−31) (TFLite's QuantizeMultiplier).
/// </summary>
public static class FixedPointRequantization
{
    /// <summary>
    /// TFLite's QuantizeMultiplier: M = f·2^e with f ∈ [0.5, 1), q = round(f·2^31) (half away from zero; 2^31 becomes
    /// 2^30 with e + 1). M = 0 gives (0, 0); a multiplier below 2^−31 gives (0, 0) as TFLite does.
    /// </summary>
    public static (int Q, int Exponent) Multiplier(double m)
    {
        if (!(m > 0)) return (0, 0);
        int e = Math.ILogB(m) + 1;
        long q = (long)Math.Round(Math.ScaleB(m, 31 - e), MidpointRounding.AwayFromZero);
        if (q == 1L << 31) { q >>= 1; e++; }
        if (e < -31) return (0, 0);
        return ((int)q, e);
    }

    /// <summary>
    /// One rounding: r = (acc·q + 2^(S−1)) >> S with S = 31 − e (ties toward +∞), saturated to int32; what the AVX2
    /// epilogue of bench/RequantBench.cs computes with vpmuldq and a 64-bit shift.
    /// </summary>
    public static int SingleRounding(int acc, int q, int exponent)
    {
        int s = 31 - exponent;
        long p = (long)acc * q;
        long r = s > 0 ? (p + (1L << (s - 1))) >> s : p << -s;
        return (int)Math.Max(int.MinValue, Math.Min(int.MaxValue, r));
    }

    /// <summary>
    /// gemmlowp / TFLite MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul(acc·2^max(e,0), q) then
    /// RoundingDivideByPOT(·, max(−e, 0)): two roundings, the first with ties toward +∞, the second with ties away from zero.
    /// </summary>
    public static int Gemmlowp(int acc, int q, int exponent)
    {
        int left = exponent > 0 ? exponent : 0, right = exponent > 0 ? 0 : -exponent;
        long shifted = (long)acc << left;
        int x = (int)Math.Max(int.MinValue, Math.Min(int.MaxValue, shifted));   // TFLite leaves overflow undefined; saturate
        return RoundingDivideByPot(SaturatingRoundingDoublingHighMul(x, q), right);
    }

    /// <summary>
    /// gemmlowp: round(a·b / 2^31). The nudge is 2^30 for a non-negative product and 1 − 2^30 for a negative one and the
    /// division truncates, so ties go toward +∞; INT_MIN·INT_MIN saturates to INT_MAX.
    /// </summary>
    public static int SaturatingRoundingDoublingHighMul(int a, int b)
    {
        if (a == int.MinValue && b == int.MinValue) return int.MaxValue;
        long ab = (long)a * b;
        long nudge = ab >= 0 ? 1L << 30 : 1 - (1L << 30);
        return (int)((ab + nudge) / (1L << 31));   // C++ integer division truncates toward zero, as C#'s
    }

    /// <summary>gemmlowp: x / 2^exponent rounded half away from zero.</summary>
    public static int RoundingDivideByPot(int x, int exponent)
    {
        if (exponent == 0) return x;
        int mask = (int)((1L << exponent) - 1);
        int remainder = x & mask;
        int threshold = (mask >> 1) + (x < 0 ? 1 : 0);
        return (x >> exponent) + (remainder > threshold ? 1 : 0);
    }

    /// <summary>
    /// The exact result: acc·M rounded half to even, M the double the multiplier is made from (s_x·s_w/s_y in double),
    /// formed exactly in 128-bit integers (a 31-bit accumulator times a 53-bit mantissa).
    /// </summary>
    public static long Exact(int acc, double m)
    {
        long bits = BitConverter.DoubleToInt64Bits(m);
        if (bits < 0) throw new ArgumentOutOfRangeException(nameof(m), "multipliers are positive");
        int exp = (int)((bits >> 52) & 0x7FF);
        long mant = bits & 0xFFFFFFFFFFFFFL;
        if (exp == 0) exp++; else mant |= 1L << 52;
        Int128 n = (Int128)acc * mant;
        int sh = 1075 - exp;   // acc·M = n·2^−sh
        if (sh <= 0) return (long)(n << -sh);
        if (sh >= 100) return 0;   // |n| < 2^85
        Int128 floor = n >> sh, rem = n - (floor << sh), half = (Int128)1 << (sh - 1);
        if (rem > half || (rem == half && (floor & 1) != 0)) floor++;
        return (long)floor;
    }
}
