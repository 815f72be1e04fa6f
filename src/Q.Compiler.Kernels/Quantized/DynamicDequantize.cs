#nullable enable
using System;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    // Requires: Activation
    /// <summary>
    /// The float epilogue of a dynamically quantized layer (Quantize="Dynamic"): int32 accumulators of MatMulInteger or
    /// ConvInteger to float32 in one pass, y = act((float)acc · (x_scale · w_scale[c]) + bias[c]), acc viewed as
    /// [outer, channels, inner]. Each product and sum is rounded to float32 on its own (no fused multiply-add), so every
    /// path gives the same bits as the reference in Q.Compiler.Ops.QDynamic.DynamicDequantizeOp.
    /// </summary>
    internal static class DynamicDequantize
    {
        public static void Run(ReadOnlySpan<int> acc, ReadOnlySpan<float> xScale, ReadOnlySpan<float> wScale, ReadOnlySpan<float> bias,
            Span<float> y, int outer, int channels, int inner, int activation, float alpha, float beta)
        {
            int total = outer * channels * inner;
            if (acc.Length < total || y.Length < total || xScale.Length < 1 || wScale.Length < channels || (!bias.IsEmpty && bias.Length < channels))
                throw new ArgumentException("DynamicDequantize operand sizes do not match");
            float xs = xScale[0];
            ref int a0 = ref MemoryMarshal.GetReference(acc);
            ref float y0 = ref MemoryMarshal.GetReference(y);
            for (int o = 0; o < outer; o++)
            {
                int rowStart = o * channels * inner;
                if (inner == 1)
                {
                    // One row of a matrix product: vectors run across the channels (columns).
                    int c = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        var vx = Vector256.Create(xs);
                        ref float w0 = ref MemoryMarshal.GetReference(wScale);
                        for (; c + 8 <= channels; c += 8)
                        {
                            var s = vx * Vector256.LoadUnsafe(ref w0, (nuint)c);
                            var p = Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref a0, (nuint)(rowStart + c))) * s;
                            var b = bias.IsEmpty ? Vector256<float>.Zero : Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(bias), (nuint)c);
                            (p + b).StoreUnsafe(ref y0, (nuint)(rowStart + c));
                        }
                    }
                    for (; c < channels; c++)
                        y[rowStart + c] = One(acc[rowStart + c], xs * wScale[c], bias.IsEmpty ? 0f : bias[c]);
                }
                else
                {
                    // NCHW: one scale and bias per plane, vectors run across the plane.
                    for (int c = 0; c < channels; c++)
                    {
                        float s = xs * wScale[c], bc = bias.IsEmpty ? 0f : bias[c];
                        int start = rowStart + c * inner, j = 0;
                        if (Vector256.IsHardwareAccelerated)
                        {
                            var vs = Vector256.Create(s);
                            var vb = Vector256.Create(bc);
                            for (; j + 8 <= inner; j += 8)
                                (Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref a0, (nuint)(start + j))) * vs + vb).StoreUnsafe(ref y0, (nuint)(start + j));
                        }
                        else if (Vector128.IsHardwareAccelerated)
                        {
                            var vs = Vector128.Create(s);
                            var vb = Vector128.Create(bc);
                            for (; j + 4 <= inner; j += 4)
                                (Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref a0, (nuint)(start + j))) * vs + vb).StoreUnsafe(ref y0, (nuint)(start + j));
                        }
                        for (; j < inner; j++) y[start + j] = One(acc[start + j], s, bc);
                    }
                }
                Activation.Apply(y.Slice(rowStart, channels * inner), activation, alpha, beta);
            }
        }

        private static float One(int acc, float scale, float bias)
        {
            float p = acc * scale;
            return p + bias;
        }
    }
}
