using System;

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
