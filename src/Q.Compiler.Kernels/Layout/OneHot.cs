#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// OneHot: y seen as [outer, depth, inner]; y[o, d, i] = values[1] if indices[o, i] (negative: + depth) is d, else values[0].
    /// Indices out of range give a row of values[0].
    /// </summary>
    internal static class OneHot
    {
        public static void Run<TI, T>(ReadOnlySpan<TI> indices, ReadOnlySpan<T> values, Span<T> y, int outer, int depth, int inner)
            where TI : INumberBase<TI>
        {
            y.Fill(values[0]);
            T on = values[1];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    long d = long.CreateSaturating(indices[o * inner + i]);
                    if (d < 0) d += depth;
                    if ((ulong)d < (ulong)depth) y[(o * depth + (int)d) * inner + i] = on;
                }
        }
    }
}
