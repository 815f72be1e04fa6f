#nullable enable
using System;

// Requires: Strided
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Transpose as a strided read (see <see cref="Strided.Copy"/>): y is written in output order and x is read at
    /// <c>strides</c> (the input strides permuted). When the two innermost output dimensions swap a contiguous input
    /// dimension (a matrix transpose, e.g. NCHW ↔ NHWC), the copy goes tile by tile so reads and writes both stay in cache.
    /// </summary>
    internal static class Transpose
    {
        private const int Tile = 16;

        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> dims, ReadOnlySpan<int> strides)
        {
            int rank = dims.Length;
            if (y.Length == 0) return;
            if (rank < 2 || strides[rank - 1] == 1 || strides[rank - 2] != 1)
            {
                Strided.Copy(x, y, dims, strides, 0);
                return;
            }
            int rowsOut = dims[rank - 2], colsOut = dims[rank - 1], colStride = strides[rank - 1];
            int plane = rowsOut * colsOut;
            int planes = y.Length / plane;
            Span<int> idx = stackalloc int[rank];
            int off = 0;
            for (int p = 0; p < planes; p++)
            {
                var src = x.Slice(off);
                var dst = y.Slice(p * plane, plane);
                // dst[i, j] = src[i + j·colStride]
                for (int i0 = 0; i0 < rowsOut; i0 += Tile)
                {
                    int i1 = Math.Min(i0 + Tile, rowsOut);
                    for (int j0 = 0; j0 < colsOut; j0 += Tile)
                    {
                        int j1 = Math.Min(j0 + Tile, colsOut);
                        for (int i = i0; i < i1; i++)
                        {
                            var row = dst.Slice(i * colsOut, colsOut);
                            for (int j = j0; j < j1; j++) row[j] = src[i + j * colStride];
                        }
                    }
                }
                for (int d = rank - 3; d >= 0; d--)
                {
                    off += strides[d];
                    if (++idx[d] < dims[d]) break;
                    off -= strides[d] * dims[d];
                    idx[d] = 0;
                }
            }
        }
    }
}
