using System;
using System.Globalization;
using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Per-tensor affine quantization of an activation: real = scale · (q − zeroPoint), q stored as uint8 or int8.
    /// Scales are float32, as in ONNX's QuantizeLinear/DequantizeLinear, so imported and computed parameters look alike.
    /// </summary>
    public readonly struct QuantParams : IEquatable<QuantParams>
    {
        public QuantParams(float scale, int zeroPoint, DataType type)
        {
            if (type != DataType.UInt8 && type != DataType.Int8)
                throw new ArgumentException("quantized activations are uint8 or int8, not " + type, nameof(type));
            if (!(scale > 0) || float.IsInfinity(scale))
                throw new ArgumentOutOfRangeException(nameof(scale), scale, "a quantization scale must be positive and finite");
            if (zeroPoint < QMin(type) || zeroPoint > QMax(type))
                throw new ArgumentOutOfRangeException(nameof(zeroPoint), zeroPoint, "zero point outside the range of " + type.ShortName());
            Scale = scale;
            ZeroPoint = zeroPoint;
            Type = type;
        }

        public float Scale { get; }
        public int ZeroPoint { get; }
        /// <summary><see cref="DataType.UInt8"/> or <see cref="DataType.Int8"/>.</summary>
        public DataType Type { get; }
        public int Min => QMin(Type);
        public int Max => QMax(Type);

        /// <summary>The real range this quantization represents exactly at its ends.</summary>
        public double RealMin => (double)Scale * (Min - ZeroPoint);
        public double RealMax => (double)Scale * (Max - ZeroPoint);

        public static int QMin(DataType t) => t == DataType.UInt8 ? 0 : -128;
        public static int QMax(DataType t) => t == DataType.UInt8 ? 255 : 127;

        /// <summary>
        /// Asymmetric uint8 parameters for a real range: the range is first widened to include 0 (so that 0, the value of
        /// padding and of Relu's lower half, is exact), scale = (hi − lo) / 255, zero point = round(−lo / scale) clamped to
        /// [0, 255] (round half to even). An empty range (lo = hi = 0) gives scale 1, zero point 0.
        /// </summary>
        public static QuantParams AsymmetricUInt8(double lo, double hi)
        {
            CheckRange(lo, hi);
            lo = Math.Min(lo, 0);
            hi = Math.Max(hi, 0);
            float scale = (float)((hi - lo) / 255.0);
            if (!(scale > 0) || float.IsInfinity(scale)) return new QuantParams(1f, 0, DataType.UInt8);
            double zp = Math.Round(-lo / scale, MidpointRounding.ToEven);
            return new QuantParams(scale, (int)Math.Max(0, Math.Min(255, zp)), DataType.UInt8);
        }

        /// <summary>
        /// Symmetric int8 parameters: scale = max(|lo|, |hi|) / 127, zero point 0; values map to [−127, 127]
        /// (−128 is never produced by quantizing in range, which keeps the x86 sign trick exact).
        /// </summary>
        public static QuantParams SymmetricInt8(double lo, double hi)
        {
            CheckRange(lo, hi);
            double amax = Math.Max(Math.Abs(lo), Math.Abs(hi));
            float scale = (float)(amax / 127.0);
            if (!(scale > 0) || float.IsInfinity(scale)) return new QuantParams(1f, 0, DataType.Int8);
            return new QuantParams(scale, 0, DataType.Int8);
        }

        /// <summary>Quantizes as ONNX QuantizeLinear does: saturate(round_half_even(x / scale) + zeroPoint), x / scale in float32. NaN maps to the zero point.</summary>
        public int Quantize(float x) => QuantMath.Quantize(x, Scale, ZeroPoint, Min, Max);

        /// <summary>(q − zeroPoint) · scale in float32, as DequantizeLinear.</summary>
        public float Dequantize(int q) => (float)(q - ZeroPoint) * Scale;

        /// <summary>
        /// Quantize then dequantize every value (the float a quantized tensor stands for), e.g. to measure a layer's
        /// SQNR on the calibration set with <see cref="QuantMath.Sqnr"/>.
        /// </summary>
        public float[] FakeQuantize(ReadOnlySpan<float> values)
        {
            var r = new float[values.Length];
            for (int i = 0; i < r.Length; i++) r[i] = Dequantize(Quantize(values[i]));
            return r;
        }

        public bool Equals(QuantParams o) => o.Scale.Equals(Scale) && o.ZeroPoint == ZeroPoint && o.Type == Type;
        public override bool Equals(object? obj) => obj is QuantParams q && Equals(q);
        public override int GetHashCode() => (Scale.GetHashCode() * 397 ^ ZeroPoint) * 31 + (int)Type;

        /// <summary>u8 scale=0.0235294 zp=0 (invariant culture, round-trippable scale).</summary>
        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "{0} scale={1} zp={2}", Type.ShortName(), Scale.ToString("R", CultureInfo.InvariantCulture), ZeroPoint);

        private static void CheckRange(double lo, double hi)
        {
            if (double.IsNaN(lo) || double.IsNaN(hi) || double.IsInfinity(lo) || double.IsInfinity(hi))
                throw new ArgumentOutOfRangeException(nameof(lo), $"range [{lo}, {hi}] is not finite");
            if (lo > hi) throw new ArgumentOutOfRangeException(nameof(lo), $"range [{lo}, {hi}] is reversed");
        }
    }

    /// <summary>Scalar quantization arithmetic shared by the parameter types, the reference and the tests.</summary>
    public static class QuantMath
    {
        /// <summary>saturate(round_half_even(x / scale) + zeroPoint) with x / scale computed in float32; NaN gives the zero point clamped.</summary>
        public static int Quantize(float x, float scale, int zeroPoint, int qmin, int qmax)
        {
            float v = x / scale;
            if (float.IsNaN(v)) return Math.Max(qmin, Math.Min(qmax, zeroPoint));
            if (v > 1e9f) v = 1e9f;
            if (v < -1e9f) v = -1e9f;
            double r = Math.Round((double)v, MidpointRounding.ToEven) + zeroPoint;
            return (int)Math.Max(qmin, Math.Min(qmax, r));
        }

        /// <summary>Signal-to-quantization-noise ratio in dB: 10·log10(Σx² / Σ(x − x̂)²); +∞ when the two are equal.</summary>
        public static double Sqnr(ReadOnlySpan<float> reference, ReadOnlySpan<float> approx)
        {
            if (reference.Length != approx.Length) throw new ArgumentException("lengths differ");
            double signal = 0, noise = 0;
            for (int i = 0; i < reference.Length; i++)
            {
                double x = reference[i], d = x - approx[i];
                signal += x * x;
                noise += d * d;
            }
            if (noise == 0) return double.PositiveInfinity;
            if (signal == 0) return double.NegativeInfinity;
            return 10.0 * Math.Log10(signal / noise);
        }
    }
}
