#nullable enable
using System;

// Requires: VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>Instance normalisation over [n, c, plane]: mean and variance per plane (two passes), then one affine pass.</summary>
    internal static class InstanceNorm
    {
        public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> bias, Span<float> y, int n, int c, int plane, float epsilon)
        {
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    int off = (b * c + ch) * plane;
                    ReadOnlySpan<float> xp = x.Slice(off, plane);
                    float mean = VectorMath.Sum(xp) / plane;
                    float variance = VectorMath.SumSquaredDeviations(xp, mean) / plane;
                    float s = scale[ch] / MathF.Sqrt(variance + epsilon);
                    VectorMath.Affine(xp, y.Slice(off, plane), s, bias[ch] - mean * s);
                }
        }
    }
}
