using System;
using System.Collections.Generic;
using System.Globalization;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// A real multiplier 0 ≤ M &lt; 2^30 − 1/4 in fixed point for the com.microsoft quantized ops: M ≈ Multiplier · 2^−Shift with
    /// Multiplier in [2^30, 2^31) (or 0) and Shift in [1, 62] (the form of gemmlowp/TFLite's QuantizeMultiplier), applied
    /// as (acc · Multiplier + 2^(Shift−1)) >> Shift on a 64-bit product: round(acc · M) with <b>ties toward +∞</b> (one
    /// rounding, as ARM's SRSHL), the arithmetic of the fixed-point helpers in Kernels/Quantized/Requantize.cs, which these
    /// ops' kernels use. M &gt; 1 is allowed: the accumulator is first clamped to ±<see cref="AccLimit"/> (|acc · M| ≤ 2^30,
    /// beyond which every 8-bit output saturates anyway), so the product stays within int32 on every path. (The kernels'
    /// helper also clamps to ±2^14 when Shift ≤ 30, i.e. M ≥ 1; that changes no 8-bit result either.) Multipliers below
    /// 2^−32 round every accumulator to 0 and are stored as Multiplier 0, Shift 31.
    /// </summary>
    public readonly struct QFixedMultiplier : IEquatable<QFixedMultiplier>
    {
        /// <summary>Multipliers must be below this, 2^30 − 1/4 (a larger one rounds to 2^30, which would need a shift of 0).</summary>
        public const double Limit = 1073741823.75;

        public QFixedMultiplier(int multiplier, int shift) { Multiplier = multiplier; Shift = shift; }

        public int Multiplier { get; }
        public int Shift { get; }

        /// <summary>|acc| is clamped to this before applying (2^30 / M, at most int.MaxValue).</summary>
        public int AccLimit => Multiplier == 0 ? int.MaxValue : (int)Math.Min(int.MaxValue, Math.Floor(Math.Pow(2, 30) / Value));

        /// <summary>The real value this fixed-point pair stands for.</summary>
        public double Value => Multiplier * Math.Pow(2, -Shift);

        /// <summary>
        /// M = m·2^−shift, m = round(q·2^31) (ties away from zero) where M = q·2^e, q in [0.5, 1) (frexp); a rounding that
        /// reaches 2^31 moves to m = 2^30 with one less shift. Throws for M outside [0, <see cref="Limit"/>) (callers report QC2011 first).
        /// </summary>
        public static QFixedMultiplier FromReal(double real)
        {
            if (!(real >= 0 && real < Limit)) throw new ArgumentOutOfRangeException(nameof(real), real, "multiplier must be in [0, 2^30 - 1/4)");
            if (real == 0) return new QFixedMultiplier(0, 31);
            int e = Exponent(real);                                  // real = q · 2^e, q in [0.5, 1)
            double q = real * Math.Pow(2, -e);
            long m = (long)Math.Round(q * 2147483648.0, MidpointRounding.AwayFromZero);
            if (m == 1L << 31) { m = 1L << 30; e++; }
            int shift = 31 - e;
            if (shift > 62) return new QFixedMultiplier(0, 31);
            return new QFixedMultiplier((int)m, shift);
        }

        /// <summary>round(clamp(acc) · M), ties toward +∞, exactly as the kernels compute it.</summary>
        public long Apply(int acc)
        {
            int lim = AccLimit;
            long a = Math.Max(-lim, Math.Min(lim, acc));
            return (a * Multiplier + (1L << (Shift - 1))) >> Shift;
        }

        /// <summary>frexp's exponent: the e with x = q·2^e, q in [0.5, 1), for finite x &gt; 0 (exact, subnormals included).</summary>
        private static int Exponent(double x)
        {
            long bits = BitConverter.DoubleToInt64Bits(x);
            int biased = (int)((bits >> 52) & 0x7FF);
            if (biased == 0) return Exponent(x * Math.Pow(2, 64)) - 64;   // subnormal: scale up first
            return biased - 1022;
        }

        public bool Equals(QFixedMultiplier o) => o.Multiplier == Multiplier && o.Shift == Shift;
        public override bool Equals(object? obj) => obj is QFixedMultiplier r && Equals(r);
        public override int GetHashCode() => Multiplier * 67 + Shift;
        public override string ToString() => string.Format(CultureInfo.InvariantCulture, "{0}·2^-{1}", Multiplier, Shift);
    }

    /// <summary>Quantization parameters and shared checks of the com.microsoft QLinear* ops.</summary>
    public static class QContribMath
    {
        /// <summary>The com.microsoft domain.</summary>
        public const string Domain = "com.microsoft";

        public static bool IsQuantType(DataType t) => t == DataType.UInt8 || t == DataType.Int8;
        public static int QMin(DataType t) => t == DataType.UInt8 ? 0 : -128;
        public static int QMax(DataType t) => t == DataType.UInt8 ? 255 : 127;

        /// <summary>Checks that input <paramref name="i"/> is a uint8/int8 tensor of type <paramref name="t"/> (or sets it).</summary>
        public static DataType CheckQuantInput(OpContext ctx, int i, DataType? t = null)
        {
            var e = ctx.Input(i).ElementType;
            if (!IsQuantType(e)) throw ctx.Unsupported($"input {i} is {e.ShortName()}; quantized tensors are uint8 or int8");
            if (t is DataType want && e != want) throw ctx.ShapeError($"input {i} is {e.ShortName()} but the op's other quantized tensors are {want.ShortName()}");
            return e;
        }

        /// <summary>Checks that a scale input is a scalar (or one-element) float and a zero-point input (if present) a scalar of <paramref name="t"/>.</summary>
        public static void CheckParams(OpContext ctx, int scaleInput, int zeroPointInput, DataType t)
        {
            var s = ctx.Input(scaleInput);
            if (s.ElementType != DataType.Float || s.Shape.ElementCount != 1)
                throw ctx.Unsupported($"input {scaleInput} (scale) must be one float32 value (per-tensor quantization), got {s}");
            if (ctx.HasInput(zeroPointInput))
            {
                var z = ctx.Input(zeroPointInput);
                if (z.ElementType != t || z.Shape.ElementCount != 1)
                    throw ctx.Unsupported($"input {zeroPointInput} (zero point) must be one {t.ShortName()} value, got {z}");
            }
        }

        /// <summary>Scale and zero point from the given inputs (zero point 0 when omitted).</summary>
        public static (float Scale, int ZeroPoint) Params(OpContext ctx, IReadOnlyList<Tensor?> inputs, int scaleInput, int zeroPointInput)
        {
            var s = inputs[scaleInput] ?? throw ctx.Error(DiagnosticIds.MalformedGraph, $"input {scaleInput} (scale) is required");
            float scale = s.ToFloats()[0];
            if (!(scale > 0) || float.IsInfinity(scale))
                throw ctx.Error(DiagnosticIds.QuantMultiplierOutOfRange, $"input {scaleInput} (scale) is {scale}; a quantization scale must be positive and finite");
            int zp = zeroPointInput < inputs.Count && inputs[zeroPointInput] is Tensor z ? (int)z.ToLongs()[0] : 0;
            return (scale, zp);
        }

        /// <summary>As <see cref="Params(OpContext, IReadOnlyList{Tensor?}, int, int)"/> from constant inputs (lowering needs them at build time).</summary>
        public static (float Scale, int ZeroPoint) ConstParams(OpContext ctx, int scaleInput, int zeroPointInput)
        {
            var list = new Tensor?[Math.Max(scaleInput, zeroPointInput) + 1];
            list[scaleInput] = ctx.RequireConstant(scaleInput, "scale");
            if (ctx.HasInput(zeroPointInput)) list[zeroPointInput] = ctx.RequireConstant(zeroPointInput, "zero point");
            return Params(ctx, list, scaleInput, zeroPointInput);
        }

        /// <summary>Lowering works on uint8 activations (a pass shifts int8 ones by +128 first); int8 here is refused.</summary>
        public static void RequireUInt8(LowerContext ctx, DataType t)
        {
            if (t != DataType.UInt8)
                throw ctx.Op.Error(DiagnosticIds.QuantInt8Activation,
                    $"{t.ShortName()} activations reach lowering; the kernels take uint8 (int8 tensors are shifted by +128, zero points included, before lowering)");
        }

        /// <summary>A fixed-point multiplier, or QC2011 when the real one is outside [0, 2^30 − 1/4).</summary>
        public static QFixedMultiplier Multiplier(OpContext ctx, double real, string what)
        {
            if (!(real >= 0 && real < QFixedMultiplier.Limit))
                throw ctx.Error(DiagnosticIds.QuantMultiplierOutOfRange, $"the {what} scale ratio {real} is outside the supported range [0, 2^30)");
            return QFixedMultiplier.FromReal(real);
        }

        /// <summary>
        /// The output clamp bounds [lo, hi] of a node with a fused Relu or Clip (per the quantization contract:
        /// lo = max(qmin, zp + round(min / scale)), hi = min(qmax, zp + round(max / scale)), rounding half to even).
        /// </summary>
        public static (int Lo, int Hi) ClampBounds(OpContext ctx, float scale, int zp, DataType t)
        {
            int lo = QMin(t), hi = QMax(t);
            var a = ctx.Node.Activation;
            if (a is null) return (lo, hi);
            switch (a.Op)
            {
                case "Relu":
                    lo = Math.Max(lo, Math.Min(hi, zp));
                    break;
                case "Clip":
                    lo = (int)Math.Max(lo, Math.Min(hi, zp + Math.Round(a.Alpha / (double)scale, MidpointRounding.ToEven)));
                    hi = (int)Math.Min(hi, Math.Max(lo, zp + Math.Round(a.Beta / (double)scale, MidpointRounding.ToEven)));
                    break;
                default:
                    throw ctx.Unsupported($"a fused {a.Op} on a quantized {ctx.Node.OpType} is not supported (only Relu and Clip)");
            }
            return (lo, hi);
        }

        /// <summary>A uint8/int8 tensor from integer values (already in range).</summary>
        public static Tensor ToTensor(DataType t, Shape shape, int[] values)
        {
            if (t == DataType.UInt8)
            {
                var b = new byte[values.Length];
                for (int i = 0; i < b.Length; i++) b[i] = (byte)values[i];
                return new Tensor(t, shape, b);
            }
            var s = new sbyte[values.Length];
            for (int i = 0; i < s.Length; i++) s[i] = (sbyte)values[i];
            return new Tensor(t, shape, s);
        }

        /// <summary>The integer values of a uint8/int8 tensor.</summary>
        public static int[] Values(Tensor t)
        {
            var l = t.ToLongs();
            var r = new int[l.Length];
            for (int i = 0; i < r.Length; i++) r[i] = (int)l[i];
            return r;
        }

        public static Tensor IntConstant(params int[] values) => new Tensor(DataType.Int32, new Shape(values.Length), values);
    }
}
