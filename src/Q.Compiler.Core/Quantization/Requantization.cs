using System;

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

        /// <summary>Multipliers must be below this (2^16); a larger one means degenerate scales (QC2011).</summary>
        public const double Limit = 65536.0;

        /// <summary>Whether a real multiplier M = s_x·s_w/s_y is one the kernels take: 0 ≤ M &lt; 2^16 (and not NaN).</summary>
        public static bool IsSupported(double real) => real >= 0 && real < Limit;

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
