#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

// Requires: VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Softmax and LogSoftmax over [outer, n, inner] views: y = e^(x − max) / Σ e^(x − max), or x − max − ln Σ e^(x − max).
    /// Subtracting the maximum keeps e^… in range for any input.
    /// </summary>
    internal static class Softmax
    {
        /// <summary>Normalises <paramref name="rows"/> contiguous rows of <paramref name="n"/> values (the common case: the last axis).</summary>
        public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int n, bool log)
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> xr = x.Slice(r * n, n);
                Span<float> yr = y.Slice(r * n, n);
                float max = VectorMath.Max(xr);
                float sum = VectorMath.ExpSubtract(xr, max, yr);
                if (log)
                {
                    // (x − max) first: it is exact near the maximum, where max + ln Σ would round away small differences.
                    float logSum = MathF.Log(sum);
                    for (int i = 0; i < n; i++) yr[i] = (xr[i] - max) - logSum;
                }
                else VectorMath.Scale(yr, 1f / sum);
            }
        }

        /// <summary>
        /// Normalises along an axis whose elements are <paramref name="inner"/> apart. <paramref name="stats"/> holds
        /// 2·inner floats: the running maximum and sum of each column, so every pass walks memory contiguously.
        /// </summary>
        public static void Strided(ReadOnlySpan<float> x, Span<float> y, Span<float> stats, int outer, int n, int inner, bool log)
        {
            Span<float> max = stats.Slice(0, inner);
            Span<float> sum = stats.Slice(inner, inner);
            for (int o = 0; o < outer; o++)
            {
                int b = o * n * inner;
                x.Slice(b, inner).CopyTo(max);
                for (int k = 1; k < n; k++) VectorMath.MaxInto(x.Slice(b + k * inner, inner), max);
                sum.Clear();
                for (int k = 0; k < n; k++)
                {
                    ReadOnlySpan<float> xs = x.Slice(b + k * inner, inner);
                    Span<float> ys = y.Slice(b + k * inner, inner);
                    for (int j = 0; j < inner; j++)
                    {
                        float e = MathF.Exp(xs[j] - max[j]);
                        ys[j] = e;
                        sum[j] += e;
                    }
                }
                if (log)
                {
                    for (int j = 0; j < inner; j++) sum[j] = MathF.Log(sum[j]);
                    for (int k = 0; k < n; k++)
                    {
                        ReadOnlySpan<float> xs = x.Slice(b + k * inner, inner);
                        Span<float> ys = y.Slice(b + k * inner, inner);
                        for (int j = 0; j < inner; j++) ys[j] = (xs[j] - max[j]) - sum[j];
                    }
                }
                else
                {
                    for (int j = 0; j < inner; j++) sum[j] = 1f / sum[j];
                    for (int k = 0; k < n; k++) VectorMath.MultiplyInto(sum, y.Slice(b + k * inner, inner));
                }
            }
        }
    }
}
