#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// ScatterElements and ScatterND: y starts as a copy of x, then updates are written (reduction 0) or combined
    /// (1 add, 2 mul, 3 max, 4 min) at the indexed positions. Negative indices count from the end; an index out of
    /// range throws <see cref="IndexOutOfRangeException"/>.
    /// </summary>
    internal static class Scatter
    {
        /// <summary>
        /// ScatterElements: for each position p of indices (shape <paramref name="dims"/>), y at p with coordinate
        /// <paramref name="axis"/> replaced by indices[p] gets updates[p]. <paramref name="yStrides"/> are y's row-major strides.
        /// </summary>
        public static void Elements<T, TI>(ReadOnlySpan<T> x, ReadOnlySpan<TI> indices, ReadOnlySpan<T> updates, Span<T> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> yStrides, int axis, int axisDim, int reduction)
            where T : unmanaged, INumber<T> where TI : unmanaged, IBinaryInteger<TI>
        {
            x.CopyTo(y);
            int rank = dims.Length;
            Span<int> idx = stackalloc int[rank];
            for (int f = 0; f < updates.Length && f < indices.Length; f++)
            {
                int off = 0;
                for (int d = 0; d < rank; d++) if (d != axis) off += idx[d] * yStrides[d];
                off += Index(long.CreateTruncating(indices[f]), axisDim) * yStrides[axis];
                y[off] = Combine(y[off], updates[f], reduction);
                for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
            }
        }

        /// <summary>
        /// ScatterND: indices hold <paramref name="count"/> tuples of <paramref name="k"/> coordinates into the leading
        /// dimensions <paramref name="dims"/> of y (strides <paramref name="strides"/>); each selects a block of
        /// <paramref name="slice"/> elements that gets the next block of updates.
        /// </summary>
        public static void ND<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> indices, ReadOnlySpan<T> updates, Span<T> y,
            int count, ReadOnlySpan<int> dims, ReadOnlySpan<int> strides, int slice, int reduction) where T : unmanaged, INumber<T>
        {
            x.CopyTo(y);
            int k = dims.Length;
            for (int c = 0; c < count; c++)
            {
                int off = 0;
                for (int j = 0; j < k; j++) off += Index(indices[c * k + j], dims[j]) * strides[j];
                var dst = y.Slice(off, slice);
                var src = updates.Slice(c * slice, slice);
                if (reduction == 0) src.CopyTo(dst);
                else for (int i = 0; i < slice; i++) dst[i] = Combine(dst[i], src[i], reduction);
            }
        }

        private static T Combine<T>(T a, T b, int reduction) where T : INumber<T> => reduction switch
        {
            1 => a + b,
            2 => a * b,
            3 => T.Max(a, b),
            4 => T.Min(a, b),
            _ => b,
        };

        private static int Index(long i, int n)
        {
            long k = i < 0 ? i + n : i;
            if ((ulong)k >= (ulong)n) throw new IndexOutOfRangeException($"index {i} is out of range for a dimension of size {n}");
            return (int)k;
        }
    }
}
