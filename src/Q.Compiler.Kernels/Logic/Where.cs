#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>Where: y = condition ? a : b, the three operands broadcast (coalesced dimensions, element strides, 0 where broadcast).</summary>
    internal static class Where
    {
        public static void Run<T>(ReadOnlySpan<bool> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> cStrides, ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides)
        {
            int rank = dims.Length;
            int inner = dims[rank - 1], sc = cStrides[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1];
            if (y.Length == 0 || inner == 0) return;
            int rows = y.Length / inner;
            Span<int> idx = stackalloc int[rank];
            int co = 0, ao = 0, bo = 0;
            for (int r = 0; r < rows; r++)
            {
                var row = y.Slice(r * inner, inner);
                for (int i = 0, ci = co, ai = ao, bi = bo; i < row.Length; i++, ci += sc, ai += sa, bi += sb)
                    row[i] = c[ci] ? a[ai] : b[bi];
                for (int d = rank - 2; d >= 0; d--)
                {
                    idx[d]++; co += cStrides[d]; ao += aStrides[d]; bo += bStrides[d];
                    if (idx[d] < dims[d]) break;
                    co -= cStrides[d] * dims[d]; ao -= aStrides[d] * dims[d]; bo -= bStrides[d] * dims[d]; idx[d] = 0;
                }
            }
        }
    }
}
