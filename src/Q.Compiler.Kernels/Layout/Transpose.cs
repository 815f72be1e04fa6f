#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// Requires: Strided
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Transpose as a strided read (see <see cref="Strided.Copy"/>): y is written in output order and x is read at
    /// <c>strides</c> (the input strides permuted). When the two innermost output dimensions swap a contiguous input
    /// dimension (a matrix transpose, e.g. NCHW ↔ NHWC), the copy goes tile by tile so reads and writes both stay in cache;
    /// 4-byte elements move as 4×4 blocks transposed in SSE registers (a detection head's [1, 12, 30, 40] → [1, 30, 40, 12]).
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
            // Every source index is at most Σ (dims_d − 1)·strides_d: checked once, the planes then use raw references.
            long last = 0;
            for (int d = 0; d < rank; d++)
            {
                if (strides[d] < 0) { Strided.Copy(x, y, dims, strides, 0); return; }
                last += (long)(dims[d] - 1) * strides[d];
            }
            if (last >= x.Length) throw new ArgumentException("Transpose: the strides reach outside x");
            int rowsOut = dims[rank - 2], colsOut = dims[rank - 1], colStride = strides[rank - 1];
            int plane = rowsOut * colsOut;
            int planes = y.Length / plane;
            Span<int> idx = stackalloc int[rank];
            int off = 0;
            ref T x0 = ref MemoryMarshal.GetReference(x);
            ref T y0 = ref MemoryMarshal.GetReference(y);
            bool blocks = Unsafe.SizeOf<T>() == 4 && !RuntimeHelpers.IsReferenceOrContainsReferences<T>() && Sse.IsSupported;
            for (int p = 0; p < planes; p++)
            {
                ref T src = ref Unsafe.Add(ref x0, off);
                ref T dst = ref Unsafe.Add(ref y0, p * plane);
                int done = blocks ? Blocks4(ref Unsafe.As<T, float>(ref src), ref Unsafe.As<T, float>(ref dst), rowsOut, colsOut, colStride) : 0;
                Tiles(ref src, ref dst, rowsOut, colsOut, colStride, done);
                for (int d = rank - 3; d >= 0; d--)
                {
                    off += strides[d];
                    if (++idx[d] < dims[d]) break;
                    off -= strides[d] * dims[d];
                    idx[d] = 0;
                }
            }
        }

        /// <summary>dst[i, j] = src[i + j·colStride] for the columns from <paramref name="firstCol"/> on, tile by tile.</summary>
        private static void Tiles<T>(ref T src, ref T dst, int rowsOut, int colsOut, int colStride, int firstCol)
        {
            for (int i0 = 0; i0 < rowsOut; i0 += Tile)
            {
                int i1 = Math.Min(i0 + Tile, rowsOut);
                for (int j0 = firstCol; j0 < colsOut; j0 += Tile)
                {
                    int j1 = Math.Min(j0 + Tile, colsOut);
                    for (int i = i0; i < i1; i++)
                    {
                        ref T row = ref Unsafe.Add(ref dst, i * colsOut);
                        for (int j = j0; j < j1; j++) Unsafe.Add(ref row, j) = Unsafe.Add(ref src, i + j * colStride);
                    }
                }
            }
        }

        /// <summary>
        /// The first colsOut − colsOut % 4 columns of every row as 4×4 blocks (four 4-pixel loads, an SSE transpose, four
        /// stores), rows in a remainder of fewer than four element by element; returns the number of columns done.
        /// </summary>
        private static int Blocks4(ref float src, ref float dst, int rowsOut, int colsOut, int colStride)
        {
            int cols = colsOut & ~3;
            if (cols == 0 || rowsOut < 4) return 0;
            int rows = rowsOut & ~3;
            for (int i0 = 0; i0 < rowsOut; i0 += Tile)
            {
                int i1 = Math.Min(i0 + Tile, rows);
                for (int j = 0; j < cols; j += 4)
                {
                    ref float s = ref Unsafe.Add(ref src, j * colStride);
                    for (int i = i0; i < i1; i += 4)
                    {
                        var a = Vector128.LoadUnsafe(ref s, (nuint)i);
                        var b = Vector128.LoadUnsafe(ref s, (nuint)(i + colStride));
                        var c = Vector128.LoadUnsafe(ref s, (nuint)(i + 2 * colStride));
                        var d = Vector128.LoadUnsafe(ref s, (nuint)(i + 3 * colStride));
                        var ab0 = Sse.UnpackLow(a, b);   // a0 b0 a1 b1
                        var ab1 = Sse.UnpackHigh(a, b);  // a2 b2 a3 b3
                        var cd0 = Sse.UnpackLow(c, d);
                        var cd1 = Sse.UnpackHigh(c, d);
                        ref float o = ref Unsafe.Add(ref dst, i * colsOut + j);
                        Sse.MoveLowToHigh(ab0, cd0).StoreUnsafe(ref o);                         // a0 b0 c0 d0
                        Sse.MoveHighToLow(cd0, ab0).StoreUnsafe(ref o, (nuint)colsOut);         // a1 b1 c1 d1
                        Sse.MoveLowToHigh(ab1, cd1).StoreUnsafe(ref o, (nuint)(2 * colsOut));   // a2 b2 c2 d2
                        Sse.MoveHighToLow(cd1, ab1).StoreUnsafe(ref o, (nuint)(3 * colsOut));   // a3 b3 c3 d3
                    }
                }
            }
            for (int i = rows; i < rowsOut; i++)
                for (int j = 0; j < cols; j++)
                    Unsafe.Add(ref dst, i * colsOut + j) = Unsafe.Add(ref src, i + j * colStride);
            return cols;
        }
    }
}
