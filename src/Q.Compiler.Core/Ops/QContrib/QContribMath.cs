using System;
using System.Collections.Generic;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// A real multiplier 0 ≤ M ≤ 2^30 in fixed point for the com.microsoft quantized ops: M ≈ Multiplier · 2^−Shift with
    /// Multiplier in [2^30, 2^31) (or 0) and Shift in [1, 62], applied as (acc · Multiplier + 2^(Shift−1)) >> Shift on a
    /// 64-bit product (round to nearest, ties toward +∞) — the arithmetic of Kernels/Quantized/Requantize.cs, which these ops'
    /// kernels reuse. Unlike <see cref="Quantization.RequantMultiplier"/> it allows M &gt; 1 (shift below 30): the kernels then
    /// first clamp the accumulator to ±<see cref="AccLimit"/>, beyond which the output saturates anyway, so the product stays
    /// within int32 on every path.
    /// </summary>
    public readonly struct QFixedMultiplier
    {
        public QFixedMultiplier(int multiplier, int shift) { Multiplier = multiplier; Shift = shift; }

        public int Multiplier { get; }
        public int Shift { get; }

        /// <summary>|acc| is clamped to this before applying (2^30 / M, at most int.MaxValue).</summary>
        public int AccLimit => Multiplier == 0 ? int.MaxValue : (int)Math.Min(int.MaxValue, Math.Floor(Math.Pow(2, 30) / Value));

        public double Value => Multiplier * Math.Pow(2, -Shift);

        public static QFixedMultiplier FromReal(double real)
        {
            if (!(real >= 0) || real > Math.Pow(2, 30)) throw new ArgumentOutOfRangeException(nameof(real), real, "multiplier must be in [0, 2^30]");
            if (real == 0) return new QFixedMultiplier(0, 31);
            int e = (int)Math.Floor(Math.Log(real, 2)) + 1;           // real = q · 2^e, q in [0.5, 1)
            double q = real * Math.Pow(2, -e);
            while (q >= 1) { q /= 2; e++; }
            while (q < 0.5) { q *= 2; e--; }
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

        /// <summary>A fixed-point multiplier, or QC2011 when the real one is outside [0, 2^30].</summary>
        public static QFixedMultiplier Multiplier(OpContext ctx, double real, string what)
        {
            if (!(real >= 0) || real > Math.Pow(2, 30))
                throw ctx.Error(DiagnosticIds.QuantMultiplierOutOfRange, $"the {what} scale ratio {real} is outside the supported range [0, 2^30]");
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
