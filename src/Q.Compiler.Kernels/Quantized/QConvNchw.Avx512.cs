#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    internal static partial class QConvNchw
    {
        /// <summary>
        /// Unsigned mode's AVX-512BW tile: the 4 channels × 16 pixels of <see cref="BlockAvx2{TP}"/>, but a packed quad of a
        /// 16-pixel block (64 bytes) is one zmm, so each row has one accumulator and a quad costs one load, 4 weight
        /// broadcasts and 4 × (vpmaddubsw, vpmaddwd by ones, vpaddd): half the instructions of the ymm tile for the same
        /// multiplies. A CPU that splits zmm operations in two (Zen 4) multiplies no faster; the tile pays there because the
        /// ymm tile is bound by issue width as much as by its multiply ports, and the epilogue and loop overhead run in the
        /// slots this frees. Same block flags (<see cref="PairQuads"/>: two quads share one widening; <see cref="FloatClamp"/>)
        /// and the same ReLU shortcut. Epilogue: the four rows requantized, packed to bytes by packssdw / packuswb (which
        /// interleave 4-pixel groups of the four rows per 128-bit lane), one vpermd that puts row r in lane r, 16-byte stores.
        /// Signed mode has no zmm form (AVX-512 has no vpsignb) and keeps <see cref="BlockAvx2{TP}"/>.
        /// </summary>
        private static void BlockAvx512(ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
            ReadOnlySpan<int> offsets, ReadOnlySpan<float> scales, Span<byte> y, Span<int> y32, int plane, int rows, int yZeroPoint, int clampMin, int clampMax,
            byte flags)
        {
            bool int32Output = y.IsEmpty;
            ref int z0 = ref MemoryMarshal.GetReference(y32);
            ref byte a0 = ref MemoryMarshal.GetReference(packed);
            ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            var off0 = Vector512.Create(offsets[0]); var off1 = Vector512.Create(offsets[1]);
            var off2 = Vector512.Create(offsets[2]); var off3 = Vector512.Create(offsets[3]);
            var s0 = Vector512.Create(scales[0]); var s1 = Vector512.Create(scales[1]);
            var s2 = Vector512.Create(scales[2]); var s3 = Vector512.Create(scales[3]);
            var lo = Vector512.Create((byte)clampMin); var hiByte = Vector512.Create((byte)clampMax);
            var hi = Vector512.Create((float)(clampMax - yZeroPoint));
            var zy = Vector512.Create((short)yZeroPoint);
            var ones = Vector512.Create((short)1);
            // After the packs, dword 4L + r of the 512-bit vector is row r's pixels 4L..4L+3 (L = 128-bit lane): gather row r into lane r.
            var rowOrder = Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            bool floatClamp = (flags & FloatClamp) != 0;
            bool plainBytes = yZeroPoint == 0 && clampMin == 0 && clampMax == 255;
            int pairedQuads = (flags & PairQuads) != 0 ? quads & ~1 : 0;
            Span<byte> partial = stackalloc byte[4 * PixelBlock];
            for (int p = 0; p < pixels; p += PixelBlock)
            {
                ref byte a = ref Unsafe.Add(ref a0, p * 4 * quads);
                Vector512<int> c0 = off0, c1 = off1, c2 = off2, c3 = off3;
                ref sbyte wq = ref w0;
                int q = 0;
                for (; q < pairedQuads; q += 2)
                {
                    // Quads q and q + 1 (adjacent 64-byte blocks): per row the int16 pair sums added before one widening.
                    var x = Vector512.LoadUnsafe(ref a);
                    var x1 = Vector512.LoadUnsafe(ref a, 64);
                    c0 += TwoQuads512(x, x1, ref wq, 0, ones);
                    c1 += TwoQuads512(x, x1, ref wq, 4, ones);
                    c2 += TwoQuads512(x, x1, ref wq, 8, ones);
                    c3 += TwoQuads512(x, x1, ref wq, 12, ones);
                    a = ref Unsafe.Add(ref a, 128);
                    wq = ref Unsafe.Add(ref wq, 32);
                }
                for (; q < quads; q++)
                {
                    var x = Vector512.LoadUnsafe(ref a);
                    a = ref Unsafe.Add(ref a, 64);
                    c0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, Broadcast512(ref wq, 0)), ones);
                    c1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, Broadcast512(ref wq, 4)), ones);
                    c2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, Broadcast512(ref wq, 8)), ones);
                    c3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, Broadcast512(ref wq, 12)), ones);
                    wq = ref Unsafe.Add(ref wq, 16);
                }
                int count = Math.Min(PixelBlock, pixels - p);
                if (int32Output)
                {
                    ref int dst = ref Unsafe.Add(ref z0, p);
                    StoreInt32Row512(c0, ref dst, count);
                    if (rows > 1) StoreInt32Row512(c1, ref Unsafe.Add(ref dst, plane), count);
                    if (rows > 2) StoreInt32Row512(c2, ref Unsafe.Add(ref dst, 2 * plane), count);
                    if (rows > 3) StoreInt32Row512(c3, ref Unsafe.Add(ref dst, 3 * plane), count);
                    continue;
                }
                Vector512<short> w01, w23;
                if (floatClamp)
                {
                    w01 = Avx512BW.PackSignedSaturate(ScaleMin512(c0, s0, hi), ScaleMin512(c1, s1, hi));
                    w23 = Avx512BW.PackSignedSaturate(ScaleMin512(c2, s2, hi), ScaleMin512(c3, s3, hi));
                }
                else
                {
                    w01 = Avx512BW.PackSignedSaturate(Scale512(c0, s0), Scale512(c1, s1));
                    w23 = Avx512BW.PackSignedSaturate(Scale512(c2, s2), Scale512(c3, s3));
                }
                Vector512<byte> bytes;
                if (plainBytes)
                    bytes = Avx512BW.PackUnsignedSaturate(w01, w23);
                else
                {
                    // As PackRowsBytes: zy added with saturation, then the bounds on the bytes (the upper one is a no-op after a float clamp).
                    bytes = Avx512BW.PackUnsignedSaturate(Avx512BW.AddSaturate(w01, zy), Avx512BW.AddSaturate(w23, zy));
                    bytes = Avx512BW.Min(Avx512BW.Max(bytes, lo), hiByte);
                }
                var ordered = Avx512F.PermuteVar16x32(bytes.AsInt32(), rowOrder).AsByte();
                ref byte yd = ref Unsafe.Add(ref y0, p);
                if (count == PixelBlock && rows == RowBlock)
                {
                    ordered.GetLower().GetLower().StoreUnsafe(ref yd);
                    ordered.GetLower().GetUpper().StoreUnsafe(ref Unsafe.Add(ref yd, plane));
                    ordered.GetUpper().GetLower().StoreUnsafe(ref Unsafe.Add(ref yd, 2 * plane));
                    ordered.GetUpper().GetUpper().StoreUnsafe(ref Unsafe.Add(ref yd, 3 * plane));
                    continue;
                }
                ordered.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < count; j++)
                        Unsafe.Add(ref yd, r * plane + j) = partial[r * PixelBlock + j];
            }
        }

        /// <summary>Σ over quads q (x) and q + 1 (x1) for one row with one widening (exact under the unsigned <see cref="PairQuads"/> bound).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> TwoQuads512(Vector512<byte> x, Vector512<byte> x1, ref sbyte wq, int offset, Vector512<short> ones)
        {
            var p0 = Avx512BW.MultiplyAddAdjacent(x, Broadcast512(ref wq, offset));
            var p1 = Avx512BW.MultiplyAddAdjacent(x1, Broadcast512(ref wq, 16 + offset));
            return Avx512BW.MultiplyAddAdjacent(Avx512BW.Add(p0, p1), ones);
        }

        /// <summary>The weight quad at wq + <paramref name="offset"/> in every dword of a zmm.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<sbyte> Broadcast512(ref sbyte wq, int offset) =>
            Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, offset)))).AsSByte();

        /// <summary>RoundHalfEven((float)acc·scale) on 16 lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> Scale512(Vector512<int> acc, Vector512<float> scale)
            => Avx512F.ConvertToVector512Int32(Avx512F.Multiply(Avx512F.ConvertToVector512Single(acc), scale));

        /// <summary>RoundHalfEven(min((float)acc·scale, hi)) on 16 lanes, as <see cref="ScaleMin"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> ScaleMin512(Vector512<int> acc, Vector512<float> scale, Vector512<float> hi)
            => Avx512F.ConvertToVector512Int32(Avx512F.Min(Avx512F.Multiply(Avx512F.ConvertToVector512Single(acc), scale), hi));

        /// <summary>One row's 16 int32 accumulators, the first <paramref name="count"/> stored.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreInt32Row512(Vector512<int> row, ref int dst, int count)
        {
            if (count == PixelBlock)
            {
                row.StoreUnsafe(ref dst);
                return;
            }
            for (int j = 0; j < count; j++) Unsafe.Add(ref dst, j) = row.GetElement(j);
        }
    }
}
