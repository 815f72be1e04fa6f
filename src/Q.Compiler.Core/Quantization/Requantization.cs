using System;
using System.Globalization;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// A real multiplier 0 ≤ M &lt; 2^16 in fixed point: M ≈ Multiplier · 2^−Shift with Multiplier in [2^30, 2^31)
    /// (the form of gemmlowp/TFLite's QuantizeMultiplier), so that requantization is pure integer arithmetic and every
    /// instruction set computes the same bits.
    /// </summary>
    /// <remarks>
    /// Applying it to an int32 accumulator: <c>v = (acc · Multiplier + 2^(Shift−1)) >> Shift</c> with a 64-bit product and an
    /// arithmetic shift, i.e. round(acc · M) with <b>ties rounded toward +∞</b> (one rounding, as ARM's SRSHL rounding shift;
    /// gemmlowp's two-step SQRDMULH + rounding divide differs only on exact ties). Shift is in [15, 62], so the product
    /// (|acc · m| &lt; 2^62) plus the rounding term never overflows.
    /// <para><b>M ≥ 1</b> (Shift ≤ 30; pre-quantized models have them): the accumulator is first clamped to
    /// ±<see cref="SaturationBound"/> = ±2^14. Any |acc| ≥ 2^14 gives |acc · M| ≥ 2^14, outside every 8-bit output range
    /// however the zero point lies, so the clamp saturates without changing any requantized 8-bit result, and it keeps
    /// |v| ≤ 2^14 · 2^16 within int32. For M &lt; 1 nothing is clamped (|v| ≤ |acc|).</para>
    /// Multipliers below 2^−32 round every accumulator to 0 and are stored as Multiplier 0, Shift 31.
    /// </remarks>
    public readonly struct RequantMultiplier : IEquatable<RequantMultiplier>
    {
        public const int MinShift = 15;
        public const int MaxShift = 62;
        /// <summary>Accumulators are clamped to ±2^14 before a multiplier M ≥ 1 (Shift ≤ 30) is applied.</summary>
        public const int SaturationBound = 1 << 14;
        /// <summary>Multipliers must be below this (2^16).</summary>
        public const double Limit = 65536.0;

        public RequantMultiplier(int multiplier, int shift)
        {
            if (multiplier < 0) throw new ArgumentOutOfRangeException(nameof(multiplier));
            if (shift < MinShift || shift > MaxShift) throw new ArgumentOutOfRangeException(nameof(shift), shift, "shift must be in [15, 62]");
            if (multiplier != 0 && multiplier < (1 << 30)) throw new ArgumentOutOfRangeException(nameof(multiplier), multiplier, "multiplier must be 0 or in [2^30, 2^31)");
            Multiplier = multiplier;
            Shift = shift;
        }

        public int Multiplier { get; }
        public int Shift { get; }

        /// <summary>The real value this fixed-point pair stands for.</summary>
        public double Value => Multiplier * Math.Pow(2, -Shift);

        /// <summary>Whether <paramref name="real"/> can be represented (0 ≤ M &lt; 2^16 and finite).</summary>
        public static bool IsRepresentable(double real) => real >= 0 && real < Limit;

        /// <summary>
        /// M = m·2^−shift, m = round(q·2^31) where M = q·2^e, q in [0.5, 1) (frexp); a rounding that reaches 2^31 moves
        /// to m = 2^30 with one less shift. Throws for M outside [0, 2^16): such an output scale is degenerate (see
        /// docs/quantization.md).
        /// </summary>
        public static RequantMultiplier FromReal(double real)
        {
            if (!IsRepresentable(real))
                throw new ArgumentOutOfRangeException(nameof(real), real, "requantization multiplier must be in [0, 2^16)");
            if (real == 0) return new RequantMultiplier(0, 31);
            int e = Exponent(real);                 // real = q · 2^e, q in [0.5, 1)
            double q = real * Math.Pow(2, -e);
            long m = (long)Math.Round(q * 2147483648.0, MidpointRounding.AwayFromZero);
            if (m == 1L << 31) { m = 1L << 30; e++; }
            int shift = 31 - e;
            if (shift > MaxShift) return new RequantMultiplier(0, 31);
            if (shift < MinShift) throw new ArgumentOutOfRangeException(nameof(real), real, "requantization multiplier must be in [0, 2^16)");
            return new RequantMultiplier((int)m, shift);
        }

        /// <summary>round(acc · M), ties toward +∞ (acc clamped to ±2^14 first when M ≥ 1), computed exactly as the kernels do.</summary>
        public int Apply(int acc)
        {
            if (Shift <= 30) acc = Math.Max(-SaturationBound, Math.Min(SaturationBound, acc));
            long p = (long)acc * Multiplier;
            return (int)((p + (1L << (Shift - 1))) >> Shift);
        }

        /// <summary>frexp's exponent: the e with x = q·2^e, q in [0.5, 1), for finite x &gt; 0.</summary>
        private static int Exponent(double x)
        {
            long bits = BitConverter.DoubleToInt64Bits(x);
            int biased = (int)((bits >> 52) & 0x7FF);
            if (biased == 0) // subnormal: scale up first
                return Exponent(x * Math.Pow(2, 64)) - 64;
            return biased - 1022;
        }

        public bool Equals(RequantMultiplier o) => o.Multiplier == Multiplier && o.Shift == Shift;
        public override bool Equals(object? obj) => obj is RequantMultiplier r && Equals(r);
        public override int GetHashCode() => Multiplier * 67 + Shift;
        public override string ToString() => string.Format(CultureInfo.InvariantCulture, "{0}·2^-{1}", Multiplier, Shift);
    }
}

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Requantization with a float32 scale, as ONNX Runtime's MLAS does it (QLinearConv, QLinearMatMul):
    /// <c>r = RoundHalfEven(Clamp((float)acc · scale, −2^22, 2^22))</c> and <c>y = clamp(zy + r, lo, hi)</c>, where
    /// <c>scale = (float)(s_x · s_w[c] / s_y)</c> is computed in double and rounded once to float32.
    /// </summary>
    /// <remarks>
    /// Every step is an exactly specified IEEE 754 operation — int32 → float32 conversion (round to nearest even), one
    /// float32 multiply (no fused multiply-add), a clamp, and round half to even — so the kernels' vector paths
    /// (cvtdq2ps/mulps/cvtps2dq on x86, SCVTF/FMUL/FCVTNS on Arm, the 1.5·2^23 addition on the portable paths) give the
    /// same bits as this reference. The clamp to ±2^22 keeps the value where float32 still has a fraction bit and where
    /// the 1.5·2^23 rounding trick is exact; every 8-bit result lies far inside it.
    /// </remarks>
    public static class RequantScale
    {
        /// <summary>The product is clamped to ±this (2^22) before rounding.</summary>
        public const float Bound = 4194304f;

        /// <summary>The float32 scale of a real multiplier M = s_x·s_w/s_y (computed by the caller in double).</summary>
        public static float FromReal(double real) => (float)real;

        /// <summary>RoundHalfEven(Clamp((float)acc · scale, −2^22, 2^22)): one float32 multiply, as every kernel path.</summary>
        public static int Apply(int acc, float scale)
        {
            // The explicit casts force float32 rounding of the conversion and of the product (ECMA allows wider temporaries).
            float p = (float)((float)acc * scale);
            if (p > Bound) p = Bound;
            else if (p < -Bound) p = -Bound;
            else if (float.IsNaN(p)) p = 0;   // unreachable for finite scales; keeps the result defined
            return (int)Math.Round((double)p, MidpointRounding.ToEven);
        }

        /// <summary>y = clamp(zy + <see cref="Apply"/>(acc, scale), lo, hi).</summary>
        public static int Requantize(int acc, float scale, int outputZeroPoint, int clampMin, int clampMax) =>
            Math.Max(clampMin, Math.Min(clampMax, Apply(acc, scale) + outputZeroPoint));
    }
}
