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
    internal static partial class PaddedPlane
    {
        /// <summary>
        /// Fills <paramref name="dst"/> (at least ph · s · pws floats) from <paramref name="x"/> (h · w floats). The
        /// padding lands in the same places for every plane of one geometry, so a caller writing many planes through the
        /// same buffer passes <paramref name="padsWritten"/> = true after the first and only the input is copied.
        /// </summary>
        public static void Write(ReadOnlySpan<float> x, int h, int w, int padTop, int padLeft, int ph, int s, int pws, float padValue,
            Span<float> dst, bool padsWritten = false)
        {
            int rowLen = s * pws;
            if (x.Length < h * w || dst.Length < ph * rowLen || padLeft + w > rowLen || padTop + h > ph || s < 1)
                throw new ArgumentException("padded plane operands are smaller than their shapes");
            if (!padsWritten) dst.Slice(0, ph * rowLen).Fill(padValue);
            ref float x0 = ref MemoryMarshal.GetReference(x);
            ref float d0 = ref MemoryMarshal.GetReference(dst);
            for (int iy = 0; iy < h; iy++)
            {
                ref float src = ref Unsafe.Add(ref x0, (nint)iy * w);
                ref float row = ref Unsafe.Add(ref d0, (nint)(padTop + iy) * rowLen);
                if (s == 1) { Copy(ref src, ref Unsafe.Add(ref row, padLeft), w); continue; }
                if (s == 2)
                {
                    // Input column 2j lands in phase padLeft % 2, slot j + padLeft / 2; column 2j + 1 in the other phase.
                    int qe = padLeft & 1, qo = qe ^ 1;
                    int se = (padLeft - qe) / 2, so = (padLeft + 1 - qo) / 2;
                    Deinterleave(ref src, w, ref Unsafe.Add(ref row, qe * pws + se), ref Unsafe.Add(ref row, qo * pws + so));
                    continue;
                }
                for (int ix = 0; ix < w; ix++)
                {
                    int col = ix + padLeft, q = col % s;
                    Unsafe.Add(ref row, q * pws + col / s) = Unsafe.Add(ref src, ix);
                }
            }
        }

        /// <summary>Copies n floats: vectors, the last one overlapping, so short rows cost no call.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Copy(ref float src, ref float dst, int n)
        {
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                int i = 0;
                for (; i < n - 8; i += 8) Vector256.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
                Vector256.LoadUnsafe(ref src, (nuint)(n - 8)).StoreUnsafe(ref dst, (nuint)(n - 8));
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                int i = 0;
                for (; i < n - 4; i += 4) Vector128.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
                Vector128.LoadUnsafe(ref src, (nuint)(n - 4)).StoreUnsafe(ref dst, (nuint)(n - 4));
            }
            else
                for (int i = 0; i < n; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
        }

        /// <summary>even[j] = src[2j], odd[j] = src[2j + 1].</summary>
        internal static void Deinterleave(ReadOnlySpan<float> src, Span<float> even, Span<float> odd)
        {
            if (even.Length < (src.Length + 1) / 2 || odd.Length < src.Length / 2) throw new ArgumentException("deinterleave targets are too small");
            Deinterleave(ref MemoryMarshal.GetReference(src), src.Length, ref MemoryMarshal.GetReference(even), ref MemoryMarshal.GetReference(odd));
        }

        private static void Deinterleave(ref float s0, int n, ref float e0, ref float o0)
        {
            int pairs = n / 2, j = 0;
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
