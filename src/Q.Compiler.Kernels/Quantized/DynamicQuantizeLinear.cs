#nullable enable
using System;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    // Requires: QuantizeLinear
    /// <summary>
    /// ONNX DynamicQuantizeLinear, float32 → uint8 with parameters chosen per run from the data:
    /// lo = min(0, min x), hi = max(0, max x), scale = (hi − lo) / 255, zero point = saturate(round_half_even(−lo / scale)),
    /// y = saturate(round_half_even(x / scale) + zero point), all in float32 as the ONNX reference computes it.
    /// A tensor of zeros gives scale 0 and zero point 0 (and y = 0). The building block of Quantize="Dynamic".
    /// </summary>
    internal static class DynamicQuantizeLinear
    {
        public static void ToUInt8(ReadOnlySpan<float> x, Span<byte> y, Span<float> yScale, Span<byte> yZeroPoint)
        {
            if (y.Length < x.Length || yScale.Length < 1 || yZeroPoint.Length < 1)
                throw new ArgumentException("DynamicQuantizeLinear operand sizes do not match");
            var (lo, hi) = Range(x);
            float scale = (hi - lo) / 255f;
            int zp = 0;
            if (scale != 0)
            {
                float z = MathF.Round(-lo / scale, MidpointRounding.ToEven);
                zp = (int)MathF.Min(255f, MathF.Max(0f, z));
            }
            yScale[0] = scale;
            yZeroPoint[0] = (byte)zp;
            if (x.Length == 0) return;
            ReadOnlySpan<float> s = stackalloc float[] { scale };
            ReadOnlySpan<int> z0 = stackalloc int[] { zp };
            QuantizeLinear.Run(QuantizeLinear.Best, x, s, z0, y, 1, x.Length, 0, 255);
        }

        /// <summary>(min(0, min x), max(0, max x)).</summary>
        public static (float Lo, float Hi) Range(ReadOnlySpan<float> x)
        {
            float lo = 0, hi = 0;
            int i = 0;
            if (Vector256.IsHardwareAccelerated && x.Length >= 8)
            {
                ref float r = ref MemoryMarshal.GetReference(x);
                var vlo = Vector256<float>.Zero;
                var vhi = Vector256<float>.Zero;
                for (; i + 8 <= x.Length; i += 8)
                {
                    var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                    vlo = Vector256.Min(vlo, v);
                    vhi = Vector256.Max(vhi, v);
                }
                for (int j = 0; j < 8; j++)
                {
                    lo = MathF.Min(lo, vlo.GetElement(j));
                    hi = MathF.Max(hi, vhi.GetElement(j));
                }
            }
            for (; i < x.Length; i++)
            {
                lo = MathF.Min(lo, x[i]);
                hi = MathF.Max(hi, x[i]);
            }
            return (lo, hi);
        }
    }
}
