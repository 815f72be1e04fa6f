#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QConv2D
    {
        /// <summary>Implementations of <see cref="Depthwise"/> (tests call each directly).</summary>
        public enum DepthwisePath { Scalar, Vector128, Avx2 }

        public static DepthwisePath DepthwiseBest =>
            Avx2.IsSupported ? DepthwisePath.Avx2 : Vector128.IsHardwareAccelerated ? DepthwisePath.Vector128 : DepthwisePath.Scalar;

        public static bool IsSupported(DepthwisePath p) => p switch
        {
            DepthwisePath.Avx2 => Avx2.IsSupported,
            DepthwisePath.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        /// <summary>Scratch bytes <see cref="Depthwise"/> needs: one padded, phase-split plane plus 32 bytes of slack.</summary>
        public static int DepthwiseScratchLength(int h, int wd, int strideW, int padTop, int padLeft, int padBottom, int padRight) =>
            (h + padTop + padBottom) * strideW * ((wd + padLeft + padRight + strideW - 1) / strideW) + 32;

        /// <summary>
        /// Depthwise QLinearConv (group = C = M): y[c] = clamp(zy + round((bias[c] + Σ_t (x_t − zx)·w'[c, t])·scale[c]), lo, hi) (float32 scale, see Requantize) with
        /// <paramref name="wDiff"/> = w − zw[c] (in [−255, 255], KH·KW int16 per channel, prepared at build time).
        /// </summary>
        /// <remarks>
        /// Each channel is copied into scratch as a plane padded with the zero point and split into strideW column phases
        /// (as the float <c>Conv2D.Depthwise</c>), so tap (ky, kx) of 16 consecutive outputs is 16 consecutive bytes. Since
        /// Σ (x − zx)·w' = Σ x·w' − zx·Σ w', the zero point folds into the bias and the taps multiply raw bytes: AVX2
        /// interleaves the bytes of two taps, widens them to int16 and multiplies by the weight pair with vpmaddwd
        /// (x·w' + x'·w'' into int32, exact: |x·w'| ≤ 255·255). The last vector of a row overlaps the previous one.
        /// </remarks>
        public static void Depthwise(ReadOnlySpan<byte> x, ReadOnlySpan<short> wDiff, ReadOnlySpan<int> bias, ReadOnlySpan<float> scale,
            Span<byte> y, Span<byte> scratch, int n, int c, int h, int wd, int oh, int ow, int kh, int kw,
            int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight,
            int xZeroPoint, int yZeroPoint, int clampMin, int clampMax)
            => RunDepthwise(DepthwiseBest, x, wDiff, bias, scale, y, scratch, n, c, h, wd, oh, ow, kh, kw, strideH, strideW,
                dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax);

        public static void RunDepthwise(DepthwisePath path, ReadOnlySpan<byte> x, ReadOnlySpan<short> wDiff, ReadOnlySpan<int> bias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch, int n, int c, int h, int wd, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int padBottom, int padRight,
            int xZeroPoint, int yZeroPoint, int clampMin, int clampMax)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QConv2D depthwise path " + path);
            int taps = kh * kw, plane = oh * ow, inPlane = h * wd;
            int ph = h + padTop + padBottom, pw = wd + padLeft + padRight, qw = (pw + strideW - 1) / strideW;
            if (scratch.Length < DepthwiseScratchLength(h, wd, strideW, padTop, padLeft, padBottom, padRight) || x.Length < n * c * inPlane
                || y.Length < n * c * plane || wDiff.Length < c * taps || bias.Length < c || scale.Length < c)
                throw new ArgumentException("QConv2D.Depthwise operand or scratch sizes do not match");
            Span<int> tapOffset = stackalloc int[taps];
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    tapOffset[ky * kw + kx] = (ky * dilH * strideW + kx * dilW % strideW) * qw + kx * dilW / strideW;
            int rowStep = strideH * strideW * qw;
            Span<byte> pad = scratch.Slice(0, ph * strideW * qw + 32);
            Span<int> acc = stackalloc int[16];
            Span<int> wcWide = stackalloc int[taps];
            Span<byte> partial = stackalloc byte[16];
            Span<float> s16 = stackalloc float[16];
            Requantize.Path rq = path == DepthwisePath.Avx2 ? Requantize.Path.Avx2 : path == DepthwisePath.Vector128 ? Requantize.Best : Requantize.Path.Scalar;
            int lo = clampMin - yZeroPoint, hi = clampMax - yZeroPoint;

            for (int ni = 0; ni < n; ni++)
                for (int ch = 0; ch < c; ch++)
                {
                    // The padded, phase-split plane.
                    pad.Fill((byte)xZeroPoint);
                    ReadOnlySpan<byte> xc = x.Slice((ni * c + ch) * inPlane, inPlane);
                    for (int iy = 0; iy < h; iy++)
                    {
                        int rowBase = (iy + padTop) * strideW * qw;
                        if (strideW == 1) CopyRow(ref MemoryMarshal.GetReference(xc.Slice(iy * wd, wd)), ref pad[rowBase + padLeft], wd);
                        else if (strideW == 2)
                        {
                            // Even input columns go to phase padLeft % 2, odd ones to the other (see Deinterleave2).
                            int pe = padLeft % 2, po = 1 - pe;
                            Deinterleave2(xc.Slice(iy * wd, wd), pad.Slice(rowBase + pe * qw + padLeft / 2), pad.Slice(rowBase + po * qw + (padLeft + 1) / 2));
                        }
                        else
                            for (int phase = 0; phase < strideW; phase++)
                            {
                                // Input columns ix with (ix + padLeft) mod s = phase go to slots (ix + padLeft) div s, one apart.
                                int ix0 = ((phase - padLeft) % strideW + strideW) % strideW;
                                ref byte dst = ref pad[rowBase + phase * qw + (ix0 + padLeft) / strideW];
                                ref byte src = ref MemoryMarshal.GetReference(xc.Slice(iy * wd));
                                for (int ix = ix0, q = 0; ix < wd; ix += strideW, q++) Unsafe.Add(ref dst, q) = Unsafe.Add(ref src, ix);
                            }
                    }
                    for (int t = 0; t < taps; t++) wcWide[t] = wDiff[ch * taps + t];
                    ReadOnlySpan<int> wc = wcWide;
                    int sumW = 0;
                    for (int t = 0; t < taps; t++) sumW += wc[t];
                    int b = unchecked(bias[ch] - xZeroPoint * sumW);
                    float sc = scale[ch];
                    Span<byte> yc = y.Slice((ni * c + ch) * plane, plane);
                    ref byte p0 = ref MemoryMarshal.GetReference(pad);

                    if (path == DepthwisePath.Scalar)
                    {
                        for (int oy = 0; oy < oh; oy++)
                            for (int ox = 0; ox < ow; ox++)
                            {
                                int s = b, at = oy * rowStep + ox;
                                for (int t = 0; t < taps; t++) s += Unsafe.Add(ref p0, at + tapOffset[t]) * wc[t];
                                yc[oy * ow + ox] = (byte)(Requantize.Apply(s, sc, lo, hi) + yZeroPoint);
                            }
                        continue;
                    }
                    if (path == DepthwisePath.Avx2)
                    {
                        DepthwiseRowsAvx2(ref p0, yc, oh, ow, rowStep, tapOffset, wc, b, sc, lo, hi, yZeroPoint);
                        continue;
                    }
                    s16.Fill(sc);
                    for (int oy = 0; oy < oh; oy++)
                    {
                        int ox = 0;
                        while (ox < ow)
                        {
                            // The last vector overlaps the previous one (same values rewritten) when the row has 16 or more.
                            int start = ox + 16 <= ow || ow < 16 ? ox : ow - 16;
                            DepthwiseVector128(ref p0, oy * rowStep + start, tapOffset, wc, b, acc);
                            Requantize.Tile16(rq, acc, s16, partial, yZeroPoint, clampMin, clampMax, signed: false);
                            int count = Math.Min(16, ow);
                            partial.Slice(0, count).CopyTo(yc.Slice(oy * ow + start, count));
                            ox = start + 16;
                        }
                    }
                }
        }

        /// <summary>
        /// One channel's output plane, 16 outputs at a time: taps in pairs, the two taps' bytes interleaved and widened to
        /// int16, vpmaddwd by the pair (w_t, w_t+1) into int32, then requantized and packed in registers.
        /// </summary>
        private static void DepthwiseRowsAvx2(ref byte pad, Span<byte> yc, int oh, int ow, int rowStep, ReadOnlySpan<int> tapOffset,
            ReadOnlySpan<int> w, int bias, float scale, int lo, int hi, int yZeroPoint)
        {
            int taps = tapOffset.Length, pairs = (taps + 1) / 2;
            // Offsets and weight pairs, an odd last tap paired with itself at weight 0.
            Span<int> off = stackalloc int[2 * pairs];
            Span<int> wp = stackalloc int[pairs];
            for (int t = 0; t < 2 * pairs; t++) off[t] = tapOffset[Math.Min(t, taps - 1)];
            for (int i = 0; i < pairs; i++) wp[i] = (w[2 * i] & 0xFFFF) | (2 * i + 1 < taps ? w[2 * i + 1] << 16 : 0);
            ref int off0 = ref MemoryMarshal.GetReference(off);
            ref int wp0 = ref MemoryMarshal.GetReference(wp);
            var vb = Vector256.Create(bias);
            // One scale for the whole channel; clamp bounds relative to the zero point, as floats (see Requantize.Avx2Row16).
            var vs = Vector256.Create(scale);
            var vlo = Vector256.Create((float)lo);
            var vhi = Vector256.Create((float)hi);
            var vz = Vector256.Create(yZeroPoint);
            Span<byte> partial = stackalloc byte[16];
            int oy = 0;
            if (ow == 8 || ow == 4)
            {
                // Narrow rows (the late MobileNet layers): 16 / ow output rows per vector, whose outputs are 16 consecutive
                // bytes of y. Tap bytes of the rows are gathered by 8- or 4-byte loads; the arithmetic is the same.
                int rows = 16 / ow;
                for (; oy + rows <= oh; oy += rows)
                {
                    ref byte at = ref Unsafe.Add(ref pad, oy * rowStep);
                    var acc0 = vb;
                    var acc1 = vb;
                    for (int i = 0; i < pairs; i++)
                    {
                        var a = GatherRows(ref Unsafe.Add(ref at, Unsafe.Add(ref off0, 2 * i)), rowStep, ow);
                        var c = GatherRows(ref Unsafe.Add(ref at, Unsafe.Add(ref off0, 2 * i + 1)), rowStep, ow);
                        var pair = Vector256.Create(Unsafe.Add(ref wp0, i)).AsInt16();
                        acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Sse2.UnpackLow(a, c)), pair));
                        acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(a, c)), pair));
                    }
                    Requantize.Avx2Row16(acc0, acc1, vs, vs, vlo, vhi, vz, signed: false).StoreUnsafe(ref yc[oy * ow]);
                }
            }
            for (; oy < oh; oy++)
            {
                ref byte row = ref Unsafe.Add(ref pad, oy * rowStep);
                int ox = 0;
                while (ox < ow)
                {
                    int start = ox + 16 <= ow || ow < 16 ? ox : ow - 16;
                    ref byte at = ref Unsafe.Add(ref row, start);
                    var acc0 = vb;
                    var acc1 = vb;
                    for (int i = 0; i < pairs; i++)
                    {
                        var a = Vector128.LoadUnsafe(ref Unsafe.Add(ref at, Unsafe.Add(ref off0, 2 * i)));
                        var c = Vector128.LoadUnsafe(ref Unsafe.Add(ref at, Unsafe.Add(ref off0, 2 * i + 1)));
                        var pair = Vector256.Create(Unsafe.Add(ref wp0, i)).AsInt16();
                        acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Sse2.UnpackLow(a, c)), pair));
                        acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(a, c)), pair));
                    }
                    var packed = Requantize.Avx2Row16(acc0, acc1, vs, vs, vlo, vhi, vz, signed: false);
                    if (ow >= 16) packed.StoreUnsafe(ref yc[oy * ow + start]);
                    else
                    {
                        packed.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
                        partial.Slice(0, ow).CopyTo(yc.Slice(oy * ow, ow));
                    }
                    ox = start + 16;
                }
            }
        }

        /// <summary>Copies <paramref name="count"/> bytes: 16, 8, 4 at a time, then single bytes (short rows cost no memmove call).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyRow(ref byte src, ref byte dst, int count)
        {
            int i = 0;
            for (; i + 16 <= count; i += 16) Vector128.LoadUnsafe(ref Unsafe.Add(ref src, i)).StoreUnsafe(ref Unsafe.Add(ref dst, i));
            if (i + 8 <= count) { Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, i))); i += 8; }
            if (i + 4 <= count) { Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, i))); i += 4; }
            for (; i < count; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
        }

        /// <summary>The first <paramref name="width"/> (8 or 4) bytes of 16 / width rows <paramref name="stride"/> apart, as one vector.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> GatherRows(ref byte at, int stride, int width)
        {
            if (width == 8)
                return Vector128.Create(Unsafe.ReadUnaligned<ulong>(ref at), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref at, stride))).AsByte();
            return Vector128.Create(Unsafe.ReadUnaligned<uint>(ref at), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref at, stride)),
                Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref at, 2 * stride)), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref at, 3 * stride))).AsByte();
        }

        /// <summary>even[j] = src[2j], odd[j] = src[2j + 1]: 32 bytes at a time by byte shuffles (pshufb) or UZP1/UZP2, the rest scalar.</summary>
        private static void Deinterleave2(ReadOnlySpan<byte> src, Span<byte> even, Span<byte> odd)
        {
            int n = src.Length, j = 0;
            if (even.Length < (n + 1) / 2 || odd.Length < n / 2) throw new ArgumentException("Deinterleave2 sizes do not match");
            ref byte s0 = ref MemoryMarshal.GetReference(src);
            ref byte e0 = ref MemoryMarshal.GetReference(even);
            ref byte o0 = ref MemoryMarshal.GetReference(odd);
            if (Ssse3.IsSupported)
            {
                var split = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (; 2 * j + 32 <= n; j += 16)
                {
                    var a = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j)), split).AsUInt64();
                    var b = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j + 16)), split).AsUInt64();
                    Sse2.UnpackLow(a, b).AsByte().StoreUnsafe(ref Unsafe.Add(ref e0, j));
                    Sse2.UnpackHigh(a, b).AsByte().StoreUnsafe(ref Unsafe.Add(ref o0, j));
                }
            }
            else if (AdvSimd.Arm64.IsSupported)
                for (; 2 * j + 32 <= n; j += 16)
                {
                    var a = Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j));
                    var b = Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j + 16));
                    AdvSimd.Arm64.UnzipEven(a, b).StoreUnsafe(ref Unsafe.Add(ref e0, j));
                    AdvSimd.Arm64.UnzipOdd(a, b).StoreUnsafe(ref Unsafe.Add(ref o0, j));
                }
            if (Ssse3.IsSupported)
            {
                // Short rows (the late MobileNet layers): 16 or 8 source bytes at a time, stores of exactly the bytes produced.
                var split = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (; 2 * j + 16 <= n; j += 8)
                {
                    var a = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j)), split).AsUInt64();
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref e0, j), a.GetElement(0));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref o0, j), a.GetElement(1));
                }
                if (2 * j + 8 <= n)
                {
                    var a = Ssse3.Shuffle(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s0, 2 * j))).AsByte(),
                        Vector128.Create((byte)0, 2, 4, 6, 1, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)).AsUInt32();
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref e0, j), a.GetElement(0));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref o0, j), a.GetElement(1));
                    j += 4;
                }
            }
            for (; 2 * j < n; j++)
            {
                Unsafe.Add(ref e0, j) = Unsafe.Add(ref s0, 2 * j);
                if (2 * j + 1 < n) Unsafe.Add(ref o0, j) = Unsafe.Add(ref s0, 2 * j + 1);
            }
        }

        /// <summary>16 accumulators, portable: bytes widened to int32 lanes, multiplied by the broadcast weight.</summary>
        private static void DepthwiseVector128(ref byte pad, int at, ReadOnlySpan<int> tapOffset, ReadOnlySpan<int> w, int bias, Span<int> acc)
        {
            var c0 = Vector128.Create(bias);
            Vector128<int> c1 = c0, c2 = c0, c3 = c0;
            for (int t = 0; t < tapOffset.Length; t++)
            {
                var v = Vector128.LoadUnsafe(ref Unsafe.Add(ref pad, at + tapOffset[t]));
                var (l, u) = Vector128.Widen(v);
                var (l0, l1) = Vector128.Widen(l);
                var (u0, u1) = Vector128.Widen(u);
                var wt = Vector128.Create(w[t]);
                c0 += l0.AsInt32() * wt; c1 += l1.AsInt32() * wt; c2 += u0.AsInt32() * wt; c3 += u1.AsInt32() * wt;
            }
            ref int a0 = ref MemoryMarshal.GetReference(acc);
            c0.StoreUnsafe(ref a0); c1.StoreUnsafe(ref a0, 4); c2.StoreUnsafe(ref a0, 8); c3.StoreUnsafe(ref a0, 12);
        }
    }
}
