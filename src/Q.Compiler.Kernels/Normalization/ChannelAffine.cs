#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

// Requires: VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>A per-channel affine map over [n, c, plane]: y = scale[c]·x + shift[c] (an unfolded BatchNormalization).</summary>
    internal static class ChannelAffine
    {
        public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, Span<float> y, int n, int c, int plane)
        {
            if (plane == 1)
            {
                // [n, c]: the channel is the contiguous axis, so vectorize across channels.
                for (int b = 0; b < n; b++) Row(x.Slice(b * c, c), scale, shift, y.Slice(b * c, c));
                return;
            }
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    int off = (b * c + ch) * plane;
                    VectorMath.Affine(x.Slice(off, plane), y.Slice(off, plane), scale[ch], shift[ch]);
                }
        }

        /// <summary>BatchNormalization whose statistics are only known at run time: s = γ/√(σ²+ε), y = s·x + β − μ·s.</summary>
        public static void BatchNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, ReadOnlySpan<float> mean,
            ReadOnlySpan<float> variance, Span<float> y, int n, int c, int plane, float epsilon)
        {
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    float s = gamma[ch] / MathF.Sqrt(variance[ch] + epsilon);
                    int off = (b * c + ch) * plane;
                    VectorMath.Affine(x.Slice(off, plane), y.Slice(off, plane), s, beta[ch] - mean[ch] * s);
                }
        }

        private static void Row(ReadOnlySpan<float> x, ReadOnlySpan<float> s, ReadOnlySpan<float> t, Span<float> y)
        {
            int n = y.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float sr = ref MemoryMarshal.GetReference(s);
            ref float tr = ref MemoryMarshal.GetReference(t);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    (Vector256.LoadUnsafe(ref xr, (nuint)i) * Vector256.LoadUnsafe(ref sr, (nuint)i) + Vector256.LoadUnsafe(ref tr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    (Vector128.LoadUnsafe(ref xr, (nuint)i) * Vector128.LoadUnsafe(ref sr, (nuint)i) + Vector128.LoadUnsafe(ref tr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref xr, i) * Unsafe.Add(ref sr, i) + Unsafe.Add(ref tr, i);
        }
    }
}
