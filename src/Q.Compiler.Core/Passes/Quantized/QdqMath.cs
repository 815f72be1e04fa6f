using System;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;

namespace Q.Compiler.Passes.Quantized
{
    /// <summary>Affine parameters of one QuantizeLinear/DequantizeLinear, one scale and zero point per element of its axis.</summary>
    internal sealed class AffineParams
    {
        public AffineParams(float[] scales, long[] zeroPoints, int axis, int axisLength)
        {
            Scales = scales; ZeroPoints = zeroPoints; Axis = axis; AxisLength = axisLength;
        }

        /// <summary>One per channel of <see cref="Axis"/> (or a single value: per tensor).</summary>
        public float[] Scales { get; }
        public long[] ZeroPoints { get; }
        public int Axis { get; }
        public int AxisLength { get; }
        public bool PerTensor => Scales.Length == 1;
    }

    /// <summary>QuantizeLinear / DequantizeLinear arithmetic on build-time tensors (ONNX semantics, per tensor or per axis).</summary>
    internal static class QdqMath
    {
        public static AffineParams Params(Tensor scale, Tensor? zeroPoint, Shape shape, int axis)
        {
            var s = scale.ToFloats();
            var z = zeroPoint is null ? new long[s.Length] : zeroPoint.ToLongs();
            if (z.Length != s.Length) throw new ArgumentException("scale and zero point have different sizes");
            if (s.Length == 1) return new AffineParams(s, z, 0, 1);
            if (axis < 0) axis += shape.Rank;
            if (axis < 0 || axis >= shape.Rank || shape[axis] != s.Length)
                throw new ArgumentException($"per-axis scale of {s.Length} values does not match axis {axis} of {shape}");
            return new AffineParams(s, z, axis, s.Length);
        }

        private static int Channel(AffineParams p, Shape shape, int i)
        {
            if (p.PerTensor) return 0;
            int inner = 1;
            for (int d = p.Axis + 1; d < shape.Rank; d++) inner *= shape[d];
            return i / inner % p.AxisLength;
        }

        public static Tensor Quantize(Tensor x, AffineParams p, DataType type)
        {
            var v = x.ToFloats();
            var q = new long[v.Length];
            int lo = QuantParams.QMin(type), hi = QuantParams.QMax(type);
            for (int i = 0; i < v.Length; i++)
            {
                int c = Channel(p, x.Shape, i);
                q[i] = QuantMath.Quantize(v[i], p.Scales[c], (int)p.ZeroPoints[c], lo, hi);
            }
            return Tensor.FromLongs(type, x.Shape, q);
        }

        public static Tensor Dequantize(Tensor x, AffineParams p)
        {
            var q = x.ToLongs();
            var y = new float[q.Length];
            for (int i = 0; i < q.Length; i++)
            {
                int c = Channel(p, x.Shape, i);
                y[i] = (float)(q[i] - p.ZeroPoints[c]) * p.Scales[c];
            }
            return Tensor.FromFloats(x.Shape, y);
        }

        /// <summary>Identical parameters: equal scales (float32) and zero points on the same axis.</summary>
        public static bool Same(AffineParams a, AffineParams b) =>
            a.Scales.Length == b.Scales.Length && a.Axis == b.Axis
            && a.Scales.SequenceEqual(b.Scales)
            && a.ZeroPoints.SequenceEqual(b.ZeroPoints);
    }
}
