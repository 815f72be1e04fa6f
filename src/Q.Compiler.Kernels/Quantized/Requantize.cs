#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Requantization of int32 accumulators: y = clamp(zy + round(acc·M), lo, hi) with M = mult·2^−shift
    /// (mult in [2^30, 2^31) or 0, shift in [15, 62], M &lt; 2^16) computed as (acc·mult + 2^(shift−1)) >> shift on a
    /// 64-bit product: one rounding, ties toward +∞, identical on every path. Fused Relu/Clip are the clamp bounds.
    /// For M ≥ 1 (shift ≤ 30) the accumulator is first clamped to ±2^14: that saturates (such accumulators land outside
    /// every 8-bit range either way) and keeps the result within int32.
    /// </summary>
    internal static class Requantize
    {
        public enum Path { Scalar, Avx2, Avx512, AdvSimd }

        public static Path Best =>
            Avx512F.IsSupported ? Path.Avx512 : Avx2.IsSupported ? Path.Avx2 : AdvSimd.Arm64.IsSupported ? Path.AdvSimd : Path.Scalar;

        public static bool IsSupported(Path p) => p switch
        {
            Path.Avx2 => Avx2.IsSupported,
            Path.Avx512 => Avx512F.IsSupported,
            Path.AdvSimd => AdvSimd.Arm64.IsSupported,
            _ => true,
        };

        /// <summary>Accumulators are clamped to ±this before a multiplier M ≥ 1 (shift ≤ 30).</summary>
        public const int SaturationBound = 1 << 14;

        /// <summary>One scalar value: round(acc·mult·2^−shift), ties toward +∞ (acc clamped to ±2^14 first when shift ≤ 30).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Apply(int acc, int mult, int shift)
        {
            if (shift <= 30) acc = Math.Max(-SaturationBound, Math.Min(SaturationBound, acc));
            return (int)(((long)acc * mult + (1L << (shift - 1))) >> shift);
        }

        /// <summary>
        /// Per-channel requantization of a tensor to uint8: element i uses channel i / inner % channels
        /// (NCHW: inner = H·W; NHWC or a GEMM output: inner = 1).
        /// </summary>
        public static void ToUInt8(ReadOnlySpan<int> acc, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift, Span<byte> y,
            int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
            => Run(Best, acc, mult, shift, y, default, channels, inner, yZeroPoint, clampMin, clampMax);

        /// <summary>As <see cref="ToUInt8"/>, to int8.</summary>
        public static void ToInt8(ReadOnlySpan<int> acc, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift, Span<sbyte> y,
            int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
            => Run(Best, acc, mult, shift, default, y, channels, inner, yZeroPoint, clampMin, clampMax);

        /// <summary>Runs one given path; exactly one of <paramref name="y8"/>, <paramref name="ys8"/> is non-empty.</summary>
        public static void Run(Path path, ReadOnlySpan<int> acc, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift, Span<byte> y8,
            Span<sbyte> ys8, int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("Requantize path " + path);
            bool signed = y8.IsEmpty;
            if (channels <= 0 || inner <= 0 || mult.Length < channels || shift.Length < channels || acc.Length % (channels * inner) != 0
                || (signed ? ys8.Length : y8.Length) < acc.Length)
                throw new ArgumentException("Requantize operand sizes do not match");
            Span<int> m16 = stackalloc int[16];
            Span<int> s16 = stackalloc int[16];
            Span<byte> out16 = stackalloc byte[16];
            int i = 0;
            while (i < acc.Length)
            {
                int c = i / inner % channels;
                int run = inner - i % inner;           // elements left with this channel
                m16.Fill(mult[c]);
                s16.Fill(shift[c]);
                int j = 0;
                if (path != Path.Scalar)
                    for (; j + 16 <= run; j += 16)
                    {
                        Tile16(path, acc.Slice(i + j, 16), m16, s16, out16, yZeroPoint, clampMin, clampMax, signed);
                        if (signed) MemoryMarshal.Cast<byte, sbyte>(out16).CopyTo(ys8.Slice(i + j, 16));
                        else out16.CopyTo(y8.Slice(i + j, 16));
                    }
                for (; j < run; j++)
                {
                    int v = Math.Max(clampMin - yZeroPoint, Math.Min(clampMax - yZeroPoint, Apply(acc[i + j], mult[c], shift[c]))) + yZeroPoint;
                    if (signed) ys8[i + j] = (sbyte)v; else y8[i + j] = (byte)v;
                }
                i += run;
            }
        }

        /// <summary>
        /// 16 accumulators with per-lane multipliers and shifts (16 each) to 16 bytes of <paramref name="y"/>
        /// (uint8, or int8 bit patterns when <paramref name="signed"/>). Clamp bounds are in the output type's range.
        /// </summary>
        public static void Tile16(Path path, ReadOnlySpan<int> acc, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift, Span<byte> y,
            int yZeroPoint, int clampMin, int clampMax, bool signed)
        {
            ref int a = ref MemoryMarshal.GetReference(acc);
            ref int m = ref MemoryMarshal.GetReference(mult);
            ref int s = ref MemoryMarshal.GetReference(shift);
            if (acc.Length < 16 || mult.Length < 16 || shift.Length < 16 || y.Length < 16) throw new ArgumentException("Tile16 needs 16 lanes");
            // Clamp in the int32 domain relative to the zero point (no overflow), then add it.
            int lo = clampMin - yZeroPoint, hi = clampMax - yZeroPoint;
            switch (path)
            {
                case Path.Avx512:
                {
                    var v = Avx512Apply(Vector512.LoadUnsafe(ref a), Vector512.LoadUnsafe(ref m), Vector512.LoadUnsafe(ref s));
                    v = Vector512.Min(Vector512.Max(v, Vector512.Create(lo)), Vector512.Create(hi)) + Vector512.Create(yZeroPoint);
                    Vector128<byte> b = signed ? Avx512F.ConvertToVector128SByte(v).AsByte() : Avx512F.ConvertToVector128Byte(v);
                    b.StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                }
                case Path.Avx2:
                    Avx2Row16(Vector256.LoadUnsafe(ref a), Vector256.LoadUnsafe(ref a, 8), Vector256.LoadUnsafe(ref m), Vector256.LoadUnsafe(ref m, 8),
                        Vector256.LoadUnsafe(ref s), Vector256.LoadUnsafe(ref s, 8), lo, hi, yZeroPoint, signed).StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                case Path.AdvSimd:
                {
                    var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi); var vz = Vector128.Create(yZeroPoint);
                    var r0 = AdvSimd.Add(AdvSimd.Min(AdvSimd.Max(AdvSimdApply(Vector128.LoadUnsafe(ref a), Vector128.LoadUnsafe(ref m), Vector128.LoadUnsafe(ref s)), vlo), vhi), vz);
                    var r1 = AdvSimd.Add(AdvSimd.Min(AdvSimd.Max(AdvSimdApply(Vector128.LoadUnsafe(ref a, 4), Vector128.LoadUnsafe(ref m, 4), Vector128.LoadUnsafe(ref s, 4)), vlo), vhi), vz);
                    var r2 = AdvSimd.Add(AdvSimd.Min(AdvSimd.Max(AdvSimdApply(Vector128.LoadUnsafe(ref a, 8), Vector128.LoadUnsafe(ref m, 8), Vector128.LoadUnsafe(ref s, 8)), vlo), vhi), vz);
                    var r3 = AdvSimd.Add(AdvSimd.Min(AdvSimd.Max(AdvSimdApply(Vector128.LoadUnsafe(ref a, 12), Vector128.LoadUnsafe(ref m, 12), Vector128.LoadUnsafe(ref s, 12)), vlo), vhi), vz);
                    // Values are in range: plain narrowing (XTN) keeps the low bits, which are the uint8 or int8 pattern.
                    var h0 = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(r0), r1);
                    var h1 = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(r2), r3);
                    var b = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(h0.AsUInt16()), h1.AsUInt16());
                    b.StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                }
                default:
                    for (int j = 0; j < 16; j++)
                    {
                        int v = Math.Max(lo, Math.Min(hi, Apply(acc[j], mult[j], shift[j]))) + yZeroPoint;
                        y[j] = (byte)v;
                    }
                    break;
            }
        }

        /// <summary>
        /// 16 lanes (two vectors of 8) requantized, clamped to [lo, hi] relative to the zero point, offset by it, and packed to
        /// 16 bytes: int32 → int16 (in-lane interleave), → 8-bit, then dwords 0, 4, 1, 5 gathered into the low 128 bits.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Avx2Row16(Vector256<int> acc0, Vector256<int> acc1, Vector256<int> m0, Vector256<int> m1,
            Vector256<int> s0, Vector256<int> s1, int lo, int hi, int yZeroPoint, bool signed)
        {
            var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi); var vz = Vector256.Create(yZeroPoint);
            var v0 = Avx2.Add(Avx2.Min(Avx2.Max(Avx2Apply(acc0, m0, s0), vlo), vhi), vz);
            var v1 = Avx2.Add(Avx2.Min(Avx2.Max(Avx2Apply(acc1, m1, s1), vlo), vhi), vz);
            var w = Avx2.PackSignedSaturate(v0, v1);
            Vector256<int> p = signed ? Avx2.PackSignedSaturate(w, w).AsInt32() : Avx2.PackUnsignedSaturate(w, w).AsInt32();
            return Avx2.PermuteVar8x32(p, Vector256.Create(0, 4, 1, 5, 0, 4, 1, 5)).AsByte().GetLower();
        }

        /// <summary>
        /// 8 lanes of round(acc·m·2^−s): vpmuldq forms the 64-bit products of the even lanes, and of the odd lanes after a
        /// 32-bit shift; AVX2 has no 64-bit arithmetic shift, so x >> s is ~(~x >>> s) for negative x (xor with the sign mask).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Avx2Apply(Vector256<int> acc, Vector256<int> mult, Vector256<int> shift)
        {
            var bound = Vector256.Create(SaturationBound);
            acc = Avx2.BlendVariable(acc.AsByte(), Avx2.Min(Avx2.Max(acc, -bound), bound).AsByte(),
                Avx2.CompareGreaterThan(Vector256.Create(31), shift).AsByte()).AsInt32();
            var low = Vector256.Create(0xFFFFFFFFL);
            var se = Avx2.And(shift.AsInt64(), low).AsUInt64();
            var so = Avx2.ShiftRightLogical(shift.AsInt64(), 32).AsUInt64();
            var one = Vector256.Create(1L);
            var pe = Avx2.Multiply(acc, mult);
            var po = Avx2.Multiply(Avx2.ShiftRightLogical(acc.AsInt64(), 32).AsInt32(), Avx2.ShiftRightLogical(mult.AsInt64(), 32).AsInt32());
            pe = Avx2.Add(pe, Avx2.ShiftLeftLogicalVariable(one, Avx2.Subtract(se, one.AsUInt64())));
            po = Avx2.Add(po, Avx2.ShiftLeftLogicalVariable(one, Avx2.Subtract(so, one.AsUInt64())));
            var ne = Avx2.CompareGreaterThan(Vector256<long>.Zero, pe);
            var no = Avx2.CompareGreaterThan(Vector256<long>.Zero, po);
            pe = Avx2.Xor(Avx2.ShiftRightLogicalVariable(Avx2.Xor(pe, ne), se), ne);
            po = Avx2.Xor(Avx2.ShiftRightLogicalVariable(Avx2.Xor(po, no), so), no);
            return Avx2.Blend(pe.AsInt32(), Avx2.ShiftLeftLogical(po, 32).AsInt32(), 0b10101010);
        }

        /// <summary>16 lanes: as <see cref="Avx2Apply"/> with AVX-512's variable arithmetic shift (vpsravq).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Avx512Apply(Vector512<int> acc, Vector512<int> mult, Vector512<int> shift)
        {
            var bound = Vector512.Create(SaturationBound);
            acc = Vector512.ConditionalSelect(Vector512.LessThan(shift, Vector512.Create(31)), Vector512.Min(Vector512.Max(acc, -bound), bound), acc);
            var se = (shift.AsInt64() & Vector512.Create(0xFFFFFFFFL)).AsUInt64();
            var so = Avx512F.ShiftRightLogical(shift.AsInt64(), 32).AsUInt64();
            var one = Vector512.Create(1L);
            var pe = Avx512F.Multiply(acc, mult);
            var po = Avx512F.Multiply(Avx512F.ShiftRightLogical(acc.AsInt64(), 32).AsInt32(), Avx512F.ShiftRightLogical(mult.AsInt64(), 32).AsInt32());
            pe = Avx512F.ShiftRightArithmeticVariable(pe + Avx512F.ShiftLeftLogicalVariable(one, se - one.AsUInt64()), se);
            po = Avx512F.ShiftRightArithmeticVariable(po + Avx512F.ShiftLeftLogicalVariable(one, so - one.AsUInt64()), so);
            var odd = Vector512.Create(0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1);
            return Vector512.ConditionalSelect(odd, Avx512F.ShiftLeftLogical(po, 32).AsInt32(), pe.AsInt32());
        }

        /// <summary>4 lanes: SMULL/SMULL2 64-bit products, SRSHL by −shift (rounding shift: adds 2^(s−1), ties toward +∞), XTN.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> AdvSimdApply(Vector128<int> acc, Vector128<int> mult, Vector128<int> shift)
        {
            var bound = Vector128.Create(SaturationBound);
            acc = AdvSimd.BitwiseSelect(AdvSimd.CompareLessThan(shift, Vector128.Create(31)), AdvSimd.Min(AdvSimd.Max(acc, -bound), bound), acc);
            var neg = AdvSimd.Negate(shift);
            var lo = AdvSimd.MultiplyWideningLower(acc.GetLower(), mult.GetLower());
            var hi = AdvSimd.MultiplyWideningUpper(acc, mult);
            lo = AdvSimd.ShiftArithmeticRounded(lo, AdvSimd.SignExtendWideningLower(neg.GetLower()));
            hi = AdvSimd.ShiftArithmeticRounded(hi, AdvSimd.SignExtendWideningUpper(neg));
            return AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(lo), hi);
        }
    }
}
