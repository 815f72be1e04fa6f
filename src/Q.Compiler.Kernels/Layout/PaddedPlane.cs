#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Writes one H×W plane into a padded, column-phase-split copy, so that sliding-window kernels (depthwise
    /// convolution, pooling) read every tap of an output row as one contiguous run with no bounds checks.
    /// <para>
    /// Layout: PH rows of s·PWs floats, s = the window's column stride. Row r holds input row r − padTop (or the pad
    /// value); within it, phase q (0 ≤ q &lt; s) is PWs slots, slot i holding padded column i·s + q, that is input column
    /// i·s + q − padLeft (or the pad value). For s = 1 this is the ordinary padded plane. Tap column t of output column
    /// ox is then slot ox + t / s of phase t mod s.
    /// </para>
    /// </summary>
    internal static class PaddedPlane
    {
        /// <summary>Fills <paramref name="dst"/> (at least ph · s · pws floats) from <paramref name="x"/> (h · w floats).</summary>
        public static void Write(ReadOnlySpan<float> x, int h, int w, int padTop, int padLeft, int ph, int s, int pws, float padValue, Span<float> dst)
        {
            int rowLen = s * pws;
            if (x.Length < h * w || dst.Length < ph * rowLen || padLeft + w > rowLen || s < 1)
                throw new ArgumentException("padded plane operands are smaller than their shapes");
            for (int r = 0; r < ph; r++)
            {
                Span<float> row = dst.Slice(r * rowLen, rowLen);
                int iy = r - padTop;
                if ((uint)iy >= (uint)h) { row.Fill(padValue); continue; }
                ReadOnlySpan<float> src = x.Slice(iy * w, w);
                if (s == 1)
                {
                    row.Slice(0, padLeft).Fill(padValue);
                    src.CopyTo(row.Slice(padLeft));
                    row.Slice(padLeft + w).Fill(padValue);
                    continue;
                }
                row.Fill(padValue);
                if (s == 2)
                {
                    // Input column 2j lands in phase padLeft % 2, slot j + padLeft / 2; column 2j + 1 in the other phase.
                    int qe = padLeft & 1, qo = qe ^ 1;
                    int se = (padLeft - qe) / 2, so = (padLeft + 1 - qo) / 2;
                    Deinterleave(src, row.Slice(qe * pws + se, (w + 1) / 2), row.Slice(qo * pws + so, w / 2));
                    continue;
                }
                for (int q = 0; q < s; q++)
                {
                    Span<float> phase = row.Slice(q * pws, pws);
                    for (int i = 0; i < pws; i++)
                    {
                        int ix = i * s + q - padLeft;
                        if ((uint)ix < (uint)w) phase[i] = src[ix];
                    }
                }
            }
        }

        /// <summary>even[j] = src[2j], odd[j] = src[2j + 1].</summary>
        internal static void Deinterleave(ReadOnlySpan<float> src, Span<float> even, Span<float> odd)
        {
            int n = src.Length, pairs = n / 2, j = 0;
            if (even.Length < (n + 1) / 2 || odd.Length < pairs) throw new ArgumentException("deinterleave targets are too small");
            ref float s0 = ref MemoryMarshal.GetReference(src);
            ref float e0 = ref MemoryMarshal.GetReference(even);
            ref float o0 = ref MemoryMarshal.GetReference(odd);
            if (Vector256.IsHardwareAccelerated)
            {
                // 16 floats → 8 even + 8 odd: sort each vector into [evens | odds], then recombine the halves.
                var order = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
                for (; j <= pairs - 8; j += 8)
                {
                    var a = Vector256.Shuffle(Vector256.LoadUnsafe(ref s0, (nuint)(2 * j)), order);
                    var b = Vector256.Shuffle(Vector256.LoadUnsafe(ref s0, (nuint)(2 * j + 8)), order);
                    Vector256.Create(a.GetLower(), b.GetLower()).StoreUnsafe(ref e0, (nuint)j);
                    Vector256.Create(a.GetUpper(), b.GetUpper()).StoreUnsafe(ref o0, (nuint)j);
                }
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var order = Vector128.Create(0, 2, 1, 3);
                for (; j <= pairs - 4; j += 4)
                {
                    var a = Vector128.Shuffle(Vector128.LoadUnsafe(ref s0, (nuint)(2 * j)), order);
                    var b = Vector128.Shuffle(Vector128.LoadUnsafe(ref s0, (nuint)(2 * j + 4)), order);
                    Vector128.Create(a.GetLower(), b.GetLower()).StoreUnsafe(ref e0, (nuint)j);
                    Vector128.Create(a.GetUpper(), b.GetUpper()).StoreUnsafe(ref o0, (nuint)j);
                }
            }
            for (; j < pairs; j++)
            {
                Unsafe.Add(ref e0, j) = Unsafe.Add(ref s0, 2 * j);
                Unsafe.Add(ref o0, j) = Unsafe.Add(ref s0, 2 * j + 1);
            }
            if ((n & 1) != 0) Unsafe.Add(ref e0, pairs) = Unsafe.Add(ref s0, n - 1);
        }
    }
}
