#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// ReverseSequence: for each batch b, the first lengths[b] steps along the time axis are reversed, the rest copied.
    /// Element (t, b, i) is at t·timeStride + b·batchStride + i, with blocks of <paramref name="inner"/> contiguous elements.
    /// </summary>
    internal static class ReverseSequence
    {
        public static void Run<T, TL>(ReadOnlySpan<T> x, ReadOnlySpan<TL> lengths, Span<T> y, int steps, int batches,
            int timeStride, int batchStride, int inner) where TL : INumberBase<TL>
        {
            for (int b = 0; b < batches; b++)
            {
                long len = Math.Clamp(long.CreateSaturating(lengths[b]), 0, steps);
                for (int t = 0; t < steps; t++)
                {
                    int src = t < len ? (int)len - 1 - t : t;
                    x.Slice(src * timeStride + b * batchStride, inner).CopyTo(y.Slice(t * timeStride + b * batchStride, inner));
                }
            }
        }
    }
}
