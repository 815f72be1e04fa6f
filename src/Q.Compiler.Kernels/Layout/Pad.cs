#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Pad: y has <paramref name="outDims"/>; output index o along a dimension reads input index o − begin, mapped back
    /// into range by the mode (0 constant: outside reads <c>value</c>; 1 edge: clamp; 2 reflect: mirror without repeating
    /// the edge; 3 wrap: modulo). Negative begins crop. Constant rows are a fill, a copy of the inner run and a fill.
    /// </summary>
    internal static class Pad
    {
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> inDims, ReadOnlySpan<int> outDims,
            ReadOnlySpan<int> begins, int mode, ReadOnlySpan<T> value)
        {
            int rank = outDims.Length;
            int inner = outDims[rank - 1], n = inDims[rank - 1], begin = begins[rank - 1];
            if (y.Length == 0) return;
            T pad = mode == 0 ? value[0] : default!;
            int rows = y.Length / inner;
            Span<int> idx = stackalloc int[rank];
            Span<int> inStrides = stackalloc int[rank];
            int acc = 1;
            for (int d = rank - 1; d >= 0; d--) { inStrides[d] = acc; acc *= inDims[d]; }
            // The valid run of a constant row: output [lo, hi) reads input [lo − begin, hi − begin).
            int lo = Math.Max(0, begin), hi = Math.Min(inner, begin + n);
            for (int r = 0; r < rows; r++)
            {
                var row = y.Slice(r * inner, inner);
                int off = 0;
                bool outside = false;
                for (int d = 0; d < rank - 1; d++)
                {
                    int s = Source(idx[d] - begins[d], inDims[d], mode);
                    if (s < 0) { outside = true; break; }
                    off += s * inStrides[d];
                }
                if (outside) row.Fill(pad);
                else if (mode == 0)
                {
                    if (hi <= lo) row.Fill(pad);
                    else
                    {
                        row.Slice(0, lo).Fill(pad);
                        x.Slice(off + lo - begin, hi - lo).CopyTo(row.Slice(lo, hi - lo));
                        row.Slice(hi).Fill(pad);
                    }
                }
                else
                {
                    for (int o = 0; o < inner; o++) row[o] = x[off + Source(o - begin, n, mode)];
                }
                for (int d = rank - 2; d >= 0; d--)
                {
                    if (++idx[d] < outDims[d]) break;
                    idx[d] = 0;
                }
            }
        }

        /// <summary>The input index an output index reads along one dimension of size <paramref name="n"/>, or −1 (constant mode, outside).</summary>
        private static int Source(int i, int n, int mode)
        {
            if ((uint)i < (uint)n) return i;
            switch (mode)
            {
                case 1: return i < 0 ? 0 : n - 1;
                case 2:
                {
                    if (n == 1) return 0;
                    int period = 2 * (n - 1);
                    int m = i % period;
                    if (m < 0) m += period;
                    return m < n ? m : period - m;
                }
                case 3: { int m = i % n; return m < 0 ? m + n : m; }
                default: return -1;
            }
        }
    }
}
