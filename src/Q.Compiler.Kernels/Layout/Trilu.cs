#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>Trilu: keeps the upper (j − i ≥ k) or lower (j − i ≤ k) triangle of each rows×cols matrix, zeroing the rest.</summary>
    internal static class Trilu
    {
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y, int rows, int cols, ReadOnlySpan<long> diagonal, bool upper)
        {
            long k = diagonal[0];
            x.CopyTo(y);
            int plane = rows * cols;
            if (plane == 0) return;
            for (int p = 0; p < y.Length; p += plane)
                for (int i = 0; i < rows; i++)
                {
                    var row = y.Slice(p + i * cols, cols);
                    // Columns to clear: upper keeps j ≥ i + k, lower keeps j ≤ i + k.
                    long edge = i + k;
                    if (upper) row.Slice(0, (int)Math.Clamp(edge, 0, cols)).Clear();
                    else row.Slice((int)Math.Clamp(edge + 1, 0, cols)).Clear();
                }
        }
    }
}
