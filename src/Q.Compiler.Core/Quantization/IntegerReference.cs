using System;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// The integer oracle for the quantized kernels: plain loops over unpacked operands with 64-bit intermediates.
    /// Every kernel path must reproduce these results bit for bit.
    /// </summary>
    public static class IntegerReference
    {
        /// <summary>
        /// acc[i, n] = bias[n] + Σ_k (a[i, k] − za) · (b[k, n] − zb[n]) for uint8 A (M×K, row-major) and int8 B (K×N, row-major),
        /// wrapped to int32 (exact whenever the true value fits, which the kernels share: their arithmetic is exact mod 2^32).
        /// <paramref name="bZeroPoints"/> is empty (all 0), one value, or one per column; <paramref name="bias"/> is empty or one per column.
        /// </summary>
        public static int[] GemmU8S8Accumulate(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> b, int m, int n, int k, int aZeroPoint,
            ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<int> bias)
        {
            var acc = new int[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    long zb = bZeroPoints.Length == 0 ? 0 : bZeroPoints[bZeroPoints.Length == 1 ? 0 : j];
                    long s = bias.Length == 0 ? 0 : bias[j];
                    for (int kk = 0; kk < k; kk++)
                        s += (a[i * k + kk] - (long)aZeroPoint) * (b[kk * n + j] - zb);
                    acc[i * n + j] = unchecked((int)s);
                }
            return acc;
        }

        /// <summary>
        /// y = clamp(zy + RoundHalfEven((float)acc · scale), lo, hi) with a float32 scale (see <see cref="RequantScale"/>), the
        /// requantization QLinearConv and QLinearMatMul kernels end with.
        /// </summary>
        public static int Requantize(int acc, float scale, int outputZeroPoint, int clampMin, int clampMax) =>
            RequantScale.Requantize(acc, scale, outputZeroPoint, clampMin, clampMax);

        /// <summary>The full quantized GEMM: <see cref="GemmU8S8Accumulate"/> then per-column <see cref="Requantize"/> to uint8.</summary>
        public static byte[] GemmU8S8(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> b, int m, int n, int k, int aZeroPoint,
            ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<int> bias, ReadOnlySpan<float> scales,
            int outputZeroPoint, int clampMin, int clampMax)
        {
            if (clampMin < 0 || clampMax > 255 || clampMin > clampMax) throw new ArgumentOutOfRangeException(nameof(clampMin));
            var acc = GemmU8S8Accumulate(a, b, m, n, k, aZeroPoint, bZeroPoints, bias);
            var y = new byte[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    y[i * n + j] = (byte)Requantize(acc[i * n + j], scales[scales.Length == 1 ? 0 : j], outputZeroPoint, clampMin, clampMax);
            return y;
        }

        /// <summary>Requantizes int32 values per channel (element i belongs to channel i / innerSize % channels) to uint8 or int8 range.</summary>
        public static int[] Requantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, int innerSize,
            int outputZeroPoint, int clampMin, int clampMax)
        {
            var r = new int[acc.Length];
            for (int i = 0; i < acc.Length; i++)
                r[i] = Requantize(acc[i], scales[i / innerSize % scales.Length], outputZeroPoint, clampMin, clampMax);
            return r;
        }

        /// <summary>QuantizeLinear: saturate(round_half_even(x / scale) + zp) into [qmin, qmax].</summary>
        public static int[] Quantize(ReadOnlySpan<float> x, float scale, int zeroPoint, int qmin, int qmax)
        {
            var r = new int[x.Length];
            for (int i = 0; i < x.Length; i++) r[i] = QuantMath.Quantize(x[i], scale, zeroPoint, qmin, qmax);
            return r;
        }

        /// <summary>DequantizeLinear: (q − zp) · scale in float32.</summary>
        public static float[] Dequantize(ReadOnlySpan<int> q, float scale, int zeroPoint)
        {
            var r = new float[q.Length];
            for (int i = 0; i < q.Length; i++) r[i] = (float)(q[i] - zeroPoint) * scale;
            return r;
        }
    }
}
