#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Gather and GatherElements with indices read at run time (int64 or int32; negative indices count from the end).
    /// An index out of range throws <see cref="IndexOutOfRangeException"/>.
    /// </summary>
    internal static class Gather
    {
        /// <summary>Gather: x seen as [outer, axisDim, inner]; y[o, k, :] = x[o, indices[k], :] (each a contiguous block of <paramref name="inner"/>).</summary>
        public static void Run<T, TI>(ReadOnlySpan<T> x, ReadOnlySpan<TI> indices, Span<T> y, int outer, int axisDim, int inner)
            where TI : unmanaged, IBinaryInteger<TI>
        {
            int k = indices.Length;
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < k; j++)
                    x.Slice((o * axisDim + Index(long.CreateTruncating(indices[j]), axisDim)) * inner, inner).CopyTo(y.Slice((o * k + j) * inner, inner));
        }

        /// <summary>
        /// GatherElements: y has the indices' shape (<paramref name="dims"/>); y[i] = x at i with coordinate <paramref name="axis"/>
        /// replaced by indices[i]. <paramref name="xStrides"/> are x's row-major strides.
        /// </summary>
        public static void Elements<T, TI>(ReadOnlySpan<T> x, ReadOnlySpan<TI> indices, Span<T> y, ReadOnlySpan<int> dims,
            ReadOnlySpan<int> xStrides, int axis, int axisDim) where TI : unmanaged, IBinaryInteger<TI>
        {
            int rank = dims.Length;
            Span<int> idx = stackalloc int[rank];
            for (int f = 0; f < y.Length; f++)
            {
                int off = 0;
                for (int d = 0; d < rank; d++) if (d != axis) off += idx[d] * xStrides[d];
                y[f] = x[off + Index(long.CreateTruncating(indices[f]), axisDim) * xStrides[axis]];
                for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
            }
        }

        /// <summary>
        /// GatherND: in each of <paramref name="batches"/> batches (x blocks of <paramref name="xBatch"/> elements), each of
        /// <paramref name="perBatch"/> index tuples (k coordinates into dimensions <paramref name="dims"/> with strides
        /// <paramref name="strides"/>) selects a block of <paramref name="slice"/> elements, copied to y in order.
        /// </summary>
        public static void ND<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> indices, Span<T> y, int batches, int perBatch, int xBatch,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> strides, int slice)
        {
            int k = dims.Length, t = 0;
            for (int b = 0; b < batches; b++)
                for (int m = 0; m < perBatch; m++, t++)
                {
                    int off = b * xBatch;
                    for (int j = 0; j < k; j++) off += Index(indices[t * k + j], dims[j]) * strides[j];
                    x.Slice(off, slice).CopyTo(y.Slice(t * slice, slice));
                }
        }

        private static int Index(long i, int n)
        {
            long k = i < 0 ? i + n : i;
            if ((ulong)k >= (ulong)n) throw new IndexOutOfRangeException($"index {i} is out of range for a dimension of size {n}");
            return (int)k;
        }
    }
}
