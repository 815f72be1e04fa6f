#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Strided copies: the data movement behind Transpose, Slice, Expand, Tile, Split, Concat and DepthToSpace.
    /// Lowering merges dimensions that can be walked as one, so most calls copy long contiguous rows.
    /// </summary>
    internal static class Strided
    {
        /// <summary>
        /// y, written contiguously (row-major over <paramref name="dims"/>), gets x[offset + Σ i_d · strides_d].
        /// Rows whose source is contiguous are block copies, rows with stride 0 are fills.
        /// </summary>
        public static void Copy<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> dims, ReadOnlySpan<int> strides, int offset)
        {
            int rank = dims.Length;
            int inner = dims[rank - 1], step = strides[rank - 1];
            if (y.Length == 0 || inner == 0) return;
            int rows = y.Length / inner;
            Span<int> idx = stackalloc int[rank];
            int off = offset;
            for (int r = 0; r < rows; r++)
            {
                var row = y.Slice(r * inner, inner);
                if (step == 1) x.Slice(off, inner).CopyTo(row);
                else if (step == 0) row.Fill(x[off]);
                else
                {
                    int o = off;
                    for (int i = 0; i < row.Length; i++, o += step) row[i] = x[o];
                }
                for (int d = rank - 2; d >= 0; d--)
                {
                    off += strides[d];
                    if (++idx[d] < dims[d]) break;
                    off -= strides[d] * dims[d];
                    idx[d] = 0;
                }
            }
        }

        /// <summary>
        /// <paramref name="rows"/> blocks of <paramref name="block"/> contiguous elements:
        /// y[yOffset + r·yStride + i] = x[xOffset + r·xStride + i]. Concat and Split are one call per part.
        /// </summary>
        public static void CopyRows<T>(ReadOnlySpan<T> x, int xOffset, int xStride, Span<T> y, int yOffset, int yStride, int rows, int block)
        {
            for (int r = 0; r < rows; r++)
                x.Slice(xOffset + r * xStride, block).CopyTo(y.Slice(yOffset + r * yStride, block));
        }
    }
}
