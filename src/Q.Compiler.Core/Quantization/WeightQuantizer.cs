using System;
using System.Collections.Generic;
using Q.Compiler.Ops.QConv;

namespace Q.Compiler.Quantization
{
    /// <summary>Weights quantized to int8, symmetric, one scale per output channel.</summary>
    public sealed class QuantizedWeights
    {
        public QuantizedWeights(sbyte[] values, float[] scales, int channelAxisSize, int innerSize)
        {
            Values = values; Scales = scales; Channels = channelAxisSize; InnerSize = innerSize;
        }

        /// <summary>Quantized values, same layout as the float weights.</summary>
        public sbyte[] Values { get; }
        /// <summary>One scale per output channel.</summary>
        public float[] Scales { get; }
        public int Channels { get; }
        /// <summary>Elements between consecutive channels along the channel axis (1 when the channel is the last axis).</summary>
        public int InnerSize { get; }

        /// <summary>The channel of element <paramref name="index"/>.</summary>
        public int ChannelOf(int index) => index / InnerSize % Channels;
    }

    /// <summary>
    /// Build-time weight and bias quantization: symmetric int8 per output channel (scale = max|w|/127, values in [−127, 127]),
    /// int32 bias in accumulator scale (s_x · s_w[c]), and the requantization multipliers s_x · s_w[c] / s_y.
    /// </summary>
    public static class WeightQuantizer
    {
        /// <summary>
        /// Quantizes weights whose channel axis has <paramref name="channels"/> entries and whose elements of one channel
        /// are <paramref name="innerSize"/> apart in the flat array: Conv OIHW is (Cout, Cin·kh·kw), a Gemm B of [K, N]
        /// with channel = column is (N, 1). A channel whose weights are all zero gets scale 1.
        /// </summary>
        public static QuantizedWeights PerChannel(float[] weights, int channels, int innerSize)
        {
            if (channels <= 0 || innerSize <= 0 || weights.Length % (channels * innerSize) != 0)
                throw new ArgumentException($"{weights.Length} weights cannot have {channels} channels with inner size {innerSize}");
            var amax = new double[channels];
            for (int i = 0; i < weights.Length; i++)
            {
                float w = weights[i];
                if (float.IsNaN(w) || float.IsInfinity(w)) throw new ArgumentException("weights contain NaN or infinity", nameof(weights));
                int c = i / innerSize % channels;
                amax[c] = Math.Max(amax[c], Math.Abs(w));
            }
            var scales = new float[channels];
            for (int c = 0; c < channels; c++)
            {
                float s = (float)(amax[c] / 127.0);
                scales[c] = s > 0 && !float.IsInfinity(s) ? s : 1f;
            }
            var q = new sbyte[weights.Length];
            for (int i = 0; i < weights.Length; i++)
                q[i] = (sbyte)QuantMath.Quantize(weights[i], scales[i / innerSize % channels], 0, -127, 127);
            return new QuantizedWeights(q, scales, channels, innerSize);
        }

        private const int MaxPairSum = QConvWeights.MaxPairSum;

        /// <summary>Scale factors t tried by <see cref="PairSafePerChannel"/>: 1 · r^i up to 127/64, where no |q| exceeds 64.</summary>
        internal static readonly double[] PairSafeScaleFactors = ScaleFactors(16);

        internal static double[] ScaleFactors(int steps) => ScaleFactors(steps, 127.0 / 64.0);

        /// <summary><paramref name="steps"/> + 1 factors from 1 to <paramref name="last"/>, geometric, the last exact.</summary>
        internal static double[] ScaleFactors(int steps, double last)
        {
            var t = new double[steps + 1];
            for (int i = 0; i <= steps; i++) t[i] = Math.Pow(last, (double)i / steps);
            t[steps] = last;
            return t;
        }

        /// <summary>
        /// As <see cref="PerChannel"/> for channel-major weights (Conv OIHW: channel c holds elements c·k .. c·k + k − 1), but
        /// every channel <i>pair-safe</i> (QConvWeights.IsPairSafe): for each pair (2i, 2i + 1) of a channel's k weights (an odd
        /// k pairs the last with 0), the positive parts sum to at most 128 and the negative parts to at least −128, so that
        /// vpmaddubsw on raw uint8 activations cannot saturate. A channel whose usual quantization already is pair-safe keeps
        /// it bit for bit. Any other channel takes, among the candidates below, the one with the smallest weight-domain error
        /// Σ (w − s·q)² (in double; ties go to the smaller scale): for each factor t of <see cref="PairSafeScaleFactors"/>
        /// (1 ≤ t ≤ 127/64), scale s = t · max|w|/127, q = round(w/s), then each violating pair projected onto its bound by
        /// the least-error integer pair (q_a + q_b = ±128). t = 127/64 needs no projection (|q| ≤ 64): the plain 7-bit
        /// quantization, which the result is therefore never worse than.
        /// </summary>
        public static QuantizedWeights PairSafePerChannel(float[] weights, int channels, int k) =>
            PairSafePerChannel(weights, channels, k, PairSafeScaleFactors);

        /// <summary>As <see cref="PairSafePerChannel(float[], int, int)"/> with the scale factors <paramref name="factors"/> (measurements).</summary>
        internal static QuantizedWeights PairSafePerChannel(float[] weights, int channels, int k, IReadOnlyList<double> factors) =>
            SafePerChannel(weights, channels, k, factors, q => QConvWeights.IsPairSafe(q, 0, k), (offset, s, q) =>
            {
                for (int i = 0; i + 1 < k; i += 2) ProjectPair(weights, offset + i, s, q, i);
            });

        /// <summary>
        /// The search <see cref="PairSafePerChannel(float[], int, int)"/> and <see cref="QuadSafePerChannel(float[], int, int)"/>
        /// share: per channel (elements offset .. offset + k − 1), keep the usual quantization if <paramref name="isSafe"/>
        /// accepts it, else try each factor t of <paramref name="factors"/> (scale t · max|w|/127, round, then
        /// <paramref name="project"/>(offset, scale, q) brings q within the bound) and keep the least Σ (w − s·q)² (in double;
        /// ties go to the earlier, smaller scale).
        /// </summary>
        private static QuantizedWeights SafePerChannel(float[] weights, int channels, int k, IReadOnlyList<double> factors,
            Func<int[], bool> isSafe, Action<int, float, int[]> project)
        {
            var plain = PerChannel(weights, channels, k);
            var values = plain.Values;
            var scales = plain.Scales;
            var q = new int[k];
            var best = new int[k];
            for (int c = 0; c < channels; c++)
            {
                int offset = c * k;
                for (int i = 0; i < k; i++) q[i] = values[offset + i];
                if (isSafe(q)) continue;
                double amax = 0;
                for (int i = 0; i < k; i++) amax = Math.Max(amax, Math.Abs(weights[offset + i]));
                double bestError = double.PositiveInfinity;
                float bestScale = scales[c];
                foreach (double t in factors)
                {
                    float s = t == 1.0 ? scales[c] : (float)(amax / (127.0 / t));
                    for (int i = 0; i < k; i++) q[i] = QuantMath.Quantize(weights[offset + i], s, 0, -127, 127);
                    project(offset, s, q);
                    double error = 0;
                    for (int i = 0; i < k; i++)
                    {
                        double d = weights[offset + i] - (double)s * q[i];
                        error += d * d;
                    }
                    if (error < bestError)
                    {
                        bestError = error; bestScale = s;
                        Array.Copy(q, best, k);
                    }
                }
                scales[c] = bestScale;
                for (int i = 0; i < k; i++) values[offset + i] = (sbyte)best[i];
            }
            return plain;
        }

        /// <summary>Scale factors t tried by <see cref="QuadSafePerChannel"/>: 1 · r^i up to 127/32, where no |q| exceeds 32.</summary>
        internal static readonly double[] QuadSafeScaleFactors = ScaleFactors(32, 127.0 / 32.0);

        /// <summary>
        /// As <see cref="PairSafePerChannel(float[], int, int)"/>, but every channel <i>quad-safe</i> (QConvWeights.IsQuadSafe):
        /// in each group of four weights that QConvNchw's unsigned AVX2 tile adds in one int16 lane when it pairs quads 2j and
        /// 2j + 1 (k = 8j+2t, 8j+2t+1, 8j+4+2t, 8j+5+2t; t = 0, 1), and in each pair of an odd last quad, the positive parts
        /// sum to at most 128 and the negative parts to at least −128. That implies pair-safety, and lets the block flag
        /// NchwPairQuads hold for every block (QConvWeights.NchwBlockFlags). A channel whose usual quantization already is
        /// quad-safe keeps it bit for bit. Any other channel takes, among the candidates below, the one with the smallest
        /// weight-domain error Σ (w − s·q)² (in double; ties go to the smaller scale): for each factor t of
        /// <see cref="QuadSafeScaleFactors"/> (1 ≤ t ≤ 127/32), scale s = t · max|w|/127, q = round(w/s), then each group over
        /// its bound brought onto it by the least-error integer change (<see cref="ProjectGroup"/>). t = 127/32 needs no
        /// projection (|q| ≤ 32, four of them sum to at most 128): the plain 6-bit quantization (levels −32 .. 32), which the
        /// result is therefore never worse than.
        /// </summary>
        public static QuantizedWeights QuadSafePerChannel(float[] weights, int channels, int k) =>
            QuadSafePerChannel(weights, channels, k, QuadSafeScaleFactors);

        /// <summary>As <see cref="QuadSafePerChannel(float[], int, int)"/> with the scale factors <paramref name="factors"/> (measurements).</summary>
        internal static QuantizedWeights QuadSafePerChannel(float[] weights, int channels, int k, IReadOnlyList<double> factors)
        {
            var groups = new List<int[]>(QConvWeights.QuadSafeGroups(k));
            return SafePerChannel(weights, channels, k, factors, q => QConvWeights.IsQuadSafe(q, 0, k), (offset, s, q) =>
            {
                foreach (var g in groups) ProjectGroup(weights, offset, s, q, g);
            });
        }

        /// <summary>
        /// Brings the weights of one group (channel-local indices <paramref name="group"/>) within the quad bound: while the
        /// positive q of the group sum beyond <see cref="MaxPairSum"/>, lowers by one the positive q whose step costs least in
        /// squared weight error (the largest q − w/s; the first in group order on a tie), and likewise for the negative q.
        /// The error is a sum of convex terms, one per weight, so taking the cheapest unit step each time gives the least-error
        /// integer point on the bound that lies below the rounded values.
        /// </summary>
        private static void ProjectGroup(float[] w, int offset, float s, int[] q, int[] group)
        {
            for (int sign = 1; sign >= -1; sign -= 2)
            {
                int sum = 0;
                foreach (int i in group) if (sign * q[i] > 0) sum += sign * q[i];
                while (sum > MaxPairSum)
                {
                    // In magnitudes m = sign·q, x = sign·w/s: (m − 1 − x)² − (m − x)² = 1 − 2(m − x), least for the largest m − x.
                    int pick = -1;
                    double over = double.NegativeInfinity;
                    foreach (int i in group)
                    {
                        int m = sign * q[i];
                        if (m <= 0) continue;
                        double d = m - sign * w[offset + i] / (double)s;
                        if (d > over) { over = d; pick = i; }
                    }
                    q[pick] -= sign;
                    sum--;
                }
            }
        }

        /// <summary>
        /// If q[i] and q[i + 1] (same sign) sum beyond ±<see cref="MaxPairSum"/>, replaces them by the integer pair on the
        /// bound (a + b = ±128, each in [1, 127] in magnitude) nearest to w/s in squared weight error: the error along the
        /// bound is a convex quadratic in a, so the best a is the floor or the ceiling of its real minimizer.
        /// </summary>
        private static void ProjectPair(float[] w, int at, float s, int[] q, int i)
        {
            int a = q[i], b = q[i + 1];
            int sign = a > 0 && b > 0 && a + b > MaxPairSum ? 1 : a < 0 && b < 0 && a + b < -MaxPairSum ? -1 : 0;
            if (sign == 0) return;
            // In magnitudes: minimize (xa − a)² + (xb − (128 − a))², so a* = (xa − xb + 128) / 2.
            double xa = sign * w[at] / (double)s, xb = sign * w[at + 1] / (double)s;
            double aStar = (xa - xb + MaxPairSum) / 2;
            int lo = Clamp((int)Math.Floor(aStar), MaxPairSum - 127, 127), hi = Clamp(lo + 1, MaxPairSum - 127, 127);
            double ErrorAt(int m) => (xa - m) * (xa - m) + (xb - (MaxPairSum - m)) * (xb - (MaxPairSum - m));
            int pick = ErrorAt(hi) < ErrorAt(lo) ? hi : lo;
            q[i] = sign * pick;
            q[i + 1] = sign * (MaxPairSum - pick);
        }

        private static int Clamp(int v, int lo, int hi) => v < lo ? lo : v > hi ? hi : v;

        /// <summary>Weight SQNR of <paramref name="q"/> against <paramref name="weights"/> in dB: 10·log10(Σw² / Σ(w − s·q)²), in double.</summary>
        public static double SqnrDb(float[] weights, QuantizedWeights q)
        {
            double signal = 0, noise = 0;
            for (int i = 0; i < weights.Length; i++)
            {
                double w = weights[i], d = w - (double)q.Scales[q.ChannelOf(i)] * q.Values[i];
                signal += w * w; noise += d * d;
            }
            return noise == 0 ? double.PositiveInfinity : signal == 0 ? double.NegativeInfinity : 10 * Math.Log10(signal / noise);
        }

        /// <summary>bias_q[c] = round_half_even(b[c] / (s_x · s_w[c])), saturated to int32; the product and quotient in double.</summary>
        public static int[] Bias(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weightScales)
        {
            var r = new int[bias.Length];
            for (int c = 0; c < bias.Length; c++)
            {
                double s = (double)inputScale * weightScales[weightScales.Length == 1 ? 0 : c];
                double v = Math.Round(bias[c] / s, MidpointRounding.ToEven);
                r[c] = v >= int.MaxValue ? int.MaxValue : v <= int.MinValue ? int.MinValue : (int)v;
            }
            return r;
        }
    }
}
