#nullable enable
using System;

// Requires: VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Local response normalisation across channels over [n, c, plane]. The output plane first accumulates Σ x² over the
    /// channel window (vectorized), then each element becomes x / (bias + α/size·Σ)^β.
    /// </summary>
    internal static class Lrn
    {
        public static void Run(ReadOnlySpan<float> x, Span<float> y, int n, int c, int plane, int size, float alpha, float beta, float bias)
        {
            int lo = (size - 1) / 2, hi = size - 1 - lo;
            float a = alpha / size;
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                {
                    int off = (b * c + ch) * plane;
                    Span<float> yp = y.Slice(off, plane);
                    yp.Clear();
                    for (int k = Math.Max(0, ch - lo); k <= Math.Min(c - 1, ch + hi); k++)
                        VectorMath.AddSquaresInto(x.Slice((b * c + k) * plane, plane), yp);
                    ReadOnlySpan<float> xp = x.Slice(off, plane);
                    for (int i = 0; i < plane; i++) yp[i] = xp[i] / MathF.Pow(bias + a * yp[i], beta);
                }
        }
    }
}
