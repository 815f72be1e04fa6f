#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Strided copies: the data movement behind Transpose, Slice, Expand, Tile, Split, Concat and DepthToSpace.
    /// Lowering merges dimensions that can be walked as one, so most calls copy long contiguous rows; short rows (a
    /// detector's [N, 4] boxes sliced into [N, 2] halves, then concatenated back) are copied as one 4-, 8-, 12- or 16-byte
    /// move each instead of a span copy.
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
            if (step == 1 && rank == 2 && IsShortRow<T>(inner))
            {
                // One strided run of short rows (the common Slice of a last axis): bounds checked once, then raw moves.
                int last = offset + (rows - 1) * strides[0];
                if (rows != dims[0] || Math.Min(offset, last) < 0 || Math.Max(offset, last) + inner > x.Length)
                    throw new ArgumentException("Strided.Copy: the source range is outside x");
                ShortRows(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), offset), strides[0], ref MemoryMarshal.GetReference(y), inner, rows, inner);
                return;
            }
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
            if (rows <= 0 || block <= 0) return;
            if (IsShortRow<T>(block))
            {
                int xLast = xOffset + (rows - 1) * xStride, yLast = yOffset + (rows - 1) * yStride;
                if (Math.Min(xOffset, xLast) < 0 || Math.Max(xOffset, xLast) + block > x.Length
                    || Math.Min(yOffset, yLast) < 0 || Math.Max(yOffset, yLast) + block > y.Length)
                    throw new ArgumentException("Strided.CopyRows: a block is outside x or y");
                ShortRows(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), xOffset), xStride,
                    ref Unsafe.Add(ref MemoryMarshal.GetReference(y), yOffset), yStride, rows, block);
                return;
            }
            for (int r = 0; r < rows; r++)
                x.Slice(xOffset + r * xStride, block).CopyTo(y.Slice(yOffset + r * yStride, block));
        }

        /// <summary>Rows of 4, 8, 12 or 16 bytes of an element type without references: moved as one or two integers or a vector.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool IsShortRow<T>(int count) =>
            !RuntimeHelpers.IsReferenceOrContainsReferences<T>() && (long)count * Unsafe.SizeOf<T>() is 4 or 8 or 12 or 16;

        /// <summary>dst[r·dstStride + i] = src[r·srcStride + i] for i &lt; count; the caller has checked the bounds.</summary>
        private static void ShortRows<T>(ref T src, int srcStride, ref T dst, int dstStride, int rows, int count)
        {
            ref byte s = ref Unsafe.As<T, byte>(ref src);
            ref byte d = ref Unsafe.As<T, byte>(ref dst);
            nint ss = (nint)srcStride * Unsafe.SizeOf<T>(), ds = (nint)dstStride * Unsafe.SizeOf<T>();
            switch (count * Unsafe.SizeOf<T>())
            {
                case 4:
                    for (int r = 0; r < rows; r++, s = ref Unsafe.Add(ref s, ss), d = ref Unsafe.Add(ref d, ds))
                        Unsafe.WriteUnaligned(ref d, Unsafe.ReadUnaligned<uint>(ref s));
                    break;
                case 8:
                    for (int r = 0; r < rows; r++, s = ref Unsafe.Add(ref s, ss), d = ref Unsafe.Add(ref d, ds))
                        Unsafe.WriteUnaligned(ref d, Unsafe.ReadUnaligned<ulong>(ref s));
                    break;
                case 12:
                    for (int r = 0; r < rows; r++, s = ref Unsafe.Add(ref s, ss), d = ref Unsafe.Add(ref d, ds))
                    {
                        Unsafe.WriteUnaligned(ref d, Unsafe.ReadUnaligned<ulong>(ref s));
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, 8), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, 8)));
                    }
                    break;
                default: // 16
                    for (int r = 0; r < rows; r++, s = ref Unsafe.Add(ref s, ss), d = ref Unsafe.Add(ref d, ds))
                        Unsafe.WriteUnaligned(ref d, Unsafe.ReadUnaligned<Vector128<byte>>(ref s));
                    break;
            }
        }
    }
}
