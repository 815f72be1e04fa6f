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
    /// Requantization of int32 accumulators with a float32 scale per channel (QLinearConv, QLinearMatMul), as ONNX Runtime's
    /// MLAS: y = clamp(zy + RoundHalfEven((float)acc · scale), lo, hi). Every step is an exactly specified IEEE operation
    /// (int32 → float32 conversion rounding to nearest even, one float32 multiply, no FMA, round half to even), so every
    /// path gives the same bits. The product is clamped to [lo − zy, hi − zy] (integers within ±2^22) before rounding, which
    /// equals rounding first and clamping after, and keeps the portable 1.5·2^23 rounding trick exact.
    /// The fixed-point helpers (<see cref="Apply(int, int, int)"/>, <see cref="Avx2Apply"/>, <see cref="AdvSimdApply"/>:
    /// M = mult·2^−shift on a 64-bit product, ties toward +∞) serve the com.microsoft ops (QLinearAdd, QLinearMul, pools).
    /// </summary>
    internal static class Requantize
    {
        public enum Path { Scalar, Vector128, Avx2, Avx512, AdvSimd }

        public static Path Best =>
            Avx512F.IsSupported ? Path.Avx512 : Avx2.IsSupported ? Path.Avx2 : AdvSimd.Arm64.IsSupported ? Path.AdvSimd
            : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

        public static bool IsSupported(Path p) => p switch
        {
            Path.Avx2 => Avx2.IsSupported,
            Path.Avx512 => Avx512F.IsSupported,
            Path.AdvSimd => AdvSimd.Arm64.IsSupported,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        /// <summary>Fixed point: accumulators are clamped to ±this before a multiplier M ≥ 1 (shift ≤ 30).</summary>
        public const int SaturationBound = 1 << 14;

        /// <summary>1.5·2^23: adding it to |v| ≤ 2^22 rounds v half to even into the low mantissa bits.</summary>
        private const float RoundMagic = 12582912f;
        private const int RoundMagicBits = 0x4B400000;

        /// <summary>Fixed point, one value: round(acc·mult·2^−shift), ties toward +∞ (acc clamped to ±2^14 first when shift ≤ 30).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Apply(int acc, int mult, int shift)
        {
            if (shift <= 30) acc = Math.Max(-SaturationBound, Math.Min(SaturationBound, acc));
            return (int)(((long)acc * mult + (1L << (shift - 1))) >> shift);
        }

        /// <summary>
        /// One value: RoundHalfEven(clamp((float)acc · scale, lo, hi)) for integer bounds lo ≤ hi relative to the zero point
        /// (within ±2^22).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Apply(int acc, float scale, int lo, int hi)
        {
            float p = (float)acc * scale;
            p = Math.Max(lo, Math.Min(hi, p));
            return BitConverter.SingleToInt32Bits(p + RoundMagic) - RoundMagicBits;
        }

        /// <summary>
        /// Per-channel requantization of a tensor to uint8: element i uses channel i / inner % channels
        /// (NCHW: inner = H·W; NHWC or a GEMM output: inner = 1).
        /// </summary>
        public static void ToUInt8(ReadOnlySpan<int> acc, ReadOnlySpan<float> scale, Span<byte> y,
            int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
            => Run(Best, acc, scale, y, default, channels, inner, yZeroPoint, clampMin, clampMax);

        /// <summary>As <see cref="ToUInt8"/>, to int8.</summary>
        public static void ToInt8(ReadOnlySpan<int> acc, ReadOnlySpan<float> scale, Span<sbyte> y,
            int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
            => Run(Best, acc, scale, default, y, channels, inner, yZeroPoint, clampMin, clampMax);

        /// <summary>Runs one given path; exactly one of <paramref name="y8"/>, <paramref name="ys8"/> is non-empty.</summary>
        public static void Run(Path path, ReadOnlySpan<int> acc, ReadOnlySpan<float> scale, Span<byte> y8,
            Span<sbyte> ys8, int channels, int inner, int yZeroPoint, int clampMin, int clampMax)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("Requantize path " + path);
            bool signed = y8.IsEmpty;
            if (channels <= 0 || inner <= 0 || scale.Length < channels || acc.Length % (channels * inner) != 0
                || (signed ? ys8.Length : y8.Length) < acc.Length)
                throw new ArgumentException("Requantize operand sizes do not match");
            Span<float> s16 = stackalloc float[16];
            Span<byte> out16 = stackalloc byte[16];
            int lo = clampMin - yZeroPoint, hi = clampMax - yZeroPoint;
            int i = 0;
            while (i < acc.Length)
            {
                int c = i / inner % channels;
                int run = inner - i % inner;           // elements left with this channel
                float sc = scale[c];
                s16.Fill(sc);
                int j = 0;
                if (path != Path.Scalar)
                    for (; j + 16 <= run; j += 16)
                    {
                        Tile16(path, acc.Slice(i + j, 16), s16, out16, yZeroPoint, clampMin, clampMax, signed);
                        if (signed) MemoryMarshal.Cast<byte, sbyte>(out16).CopyTo(ys8.Slice(i + j, 16));
                        else out16.CopyTo(y8.Slice(i + j, 16));
                    }
                for (; j < run; j++)
                {
                    int v = Apply(acc[i + j], sc, lo, hi) + yZeroPoint;
                    if (signed) ys8[i + j] = (sbyte)v; else y8[i + j] = (byte)v;
                }
                i += run;
            }
        }

        /// <summary>
        /// 16 accumulators with per-lane scales (16) to 16 bytes of <paramref name="y"/> (uint8, or int8 bit patterns when
        /// <paramref name="signed"/>). Clamp bounds are in the output type's range.
        /// </summary>
        public static void Tile16(Path path, ReadOnlySpan<int> acc, ReadOnlySpan<float> scale, Span<byte> y,
            int yZeroPoint, int clampMin, int clampMax, bool signed)
        {
            ref int a = ref MemoryMarshal.GetReference(acc);
            ref float s = ref MemoryMarshal.GetReference(scale);
            if (acc.Length < 16 || scale.Length < 16 || y.Length < 16) throw new ArgumentException("Tile16 needs 16 lanes");
            // Clamp relative to the zero point (in float, before rounding), then add it.
            int lo = clampMin - yZeroPoint, hi = clampMax - yZeroPoint;
            switch (path)
            {
                case Path.Avx512:
                {
                    var p = Avx512F.Multiply(Avx512F.ConvertToVector512Single(Vector512.LoadUnsafe(ref a)), Vector512.LoadUnsafe(ref s));
                    p = Avx512F.Min(Avx512F.Max(p, Vector512.Create((float)lo)), Vector512.Create((float)hi));
                    var v = Avx512F.Add(Avx512F.ConvertToVector512Int32(p), Vector512.Create(yZeroPoint));
                    Vector128<byte> b = signed ? Avx512F.ConvertToVector128SByte(v).AsByte() : Avx512F.ConvertToVector128Byte(v);
                    b.StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                }
                case Path.Avx2:
                    Avx2Row16(Vector256.LoadUnsafe(ref a), Vector256.LoadUnsafe(ref a, 8), Vector256.LoadUnsafe(ref s), Vector256.LoadUnsafe(ref s, 8),
                        Vector256.Create((float)lo), Vector256.Create((float)hi), Vector256.Create(yZeroPoint), signed)
                        .StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                case Path.AdvSimd:
                {
                    var vlo = Vector128.Create((float)lo); var vhi = Vector128.Create((float)hi); var vz = Vector128.Create(yZeroPoint);
                    var r0 = AdvSimd.Add(AdvSimdScale(Vector128.LoadUnsafe(ref a), Vector128.LoadUnsafe(ref s), vlo, vhi), vz);
                    var r1 = AdvSimd.Add(AdvSimdScale(Vector128.LoadUnsafe(ref a, 4), Vector128.LoadUnsafe(ref s, 4), vlo, vhi), vz);
                    var r2 = AdvSimd.Add(AdvSimdScale(Vector128.LoadUnsafe(ref a, 8), Vector128.LoadUnsafe(ref s, 8), vlo, vhi), vz);
                    var r3 = AdvSimd.Add(AdvSimdScale(Vector128.LoadUnsafe(ref a, 12), Vector128.LoadUnsafe(ref s, 12), vlo, vhi), vz);
                    // Values are in range: plain narrowing (XTN) keeps the low bits, which are the uint8 or int8 pattern.
                    var h0 = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(r0), r1);
                    var h1 = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(r2), r3);
                    var b = AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(h0.AsUInt16()), h1.AsUInt16());
                    b.StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                }
                case Path.Vector128:
                {
                    var vlo = Vector128.Create((float)lo); var vhi = Vector128.Create((float)hi);
                    var bias = Vector128.Create(RoundMagicBits - yZeroPoint);
                    var r0 = Vector128Scale(Vector128.LoadUnsafe(ref a), Vector128.LoadUnsafe(ref s), vlo, vhi, bias);
                    var r1 = Vector128Scale(Vector128.LoadUnsafe(ref a, 4), Vector128.LoadUnsafe(ref s, 4), vlo, vhi, bias);
                    var r2 = Vector128Scale(Vector128.LoadUnsafe(ref a, 8), Vector128.LoadUnsafe(ref s, 8), vlo, vhi, bias);
                    var r3 = Vector128Scale(Vector128.LoadUnsafe(ref a, 12), Vector128.LoadUnsafe(ref s, 12), vlo, vhi, bias);
                    // Values are in range: narrowing keeps the low bits, which are the uint8 or int8 pattern.
                    Vector128.Narrow(Vector128.Narrow(r0, r1), Vector128.Narrow(r2, r3)).AsByte().StoreUnsafe(ref MemoryMarshal.GetReference(y));
                    break;
                }
                default:
                    for (int j = 0; j < 16; j++) y[j] = (byte)(Apply(acc[j], scale[j], lo, hi) + yZeroPoint);
                    break;
            }
        }

        /// <summary>
        /// 16 lanes (two vectors of 8) requantized: cvtdq2ps, mulps, clamp to [lo, hi] (relative to the zero point, as
        /// floats), cvtps2dq (round half to even under the default MXCSR), plus the zero point, packed to 16 bytes:
        /// int32 → int16 (in-lane interleave), → 8-bit, then dwords 0, 4, 1, 5 gathered into the low 128 bits.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Avx2Row16(Vector256<int> acc0, Vector256<int> acc1, Vector256<float> scale0, Vector256<float> scale1,
            Vector256<float> lo, Vector256<float> hi, Vector256<int> yZeroPoint, bool signed)
        {
            var v0 = Avx2.Add(Avx2Scale(acc0, scale0, lo, hi), yZeroPoint);
            var v1 = Avx2.Add(Avx2Scale(acc1, scale1, lo, hi), yZeroPoint);
            var w = Avx2.PackSignedSaturate(v0, v1);
            Vector256<int> p = signed ? Avx2.PackSignedSaturate(w, w).AsInt32() : Avx2.PackUnsignedSaturate(w, w).AsInt32();
            return Avx2.PermuteVar8x32(p, Vector256.Create(0, 4, 1, 5, 0, 4, 1, 5)).AsByte().GetLower();
        }

        /// <summary>8 lanes of RoundHalfEven(clamp((float)acc·scale, lo, hi)): cvtdq2ps, mulps, maxps, minps, cvtps2dq.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Avx2Scale(Vector256<int> acc, Vector256<float> scale, Vector256<float> lo, Vector256<float> hi)
            => Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(Avx.Multiply(Avx.ConvertToVector256Single(acc), scale), lo), hi));

        /// <summary>4 lanes, Arm: SCVTF, FMUL, FMAX/FMIN, FCVTNS (round half to even).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> AdvSimdScale(Vector128<int> acc, Vector128<float> scale, Vector128<float> lo, Vector128<float> hi)
            => AdvSimd.ConvertToInt32RoundToEven(AdvSimd.Min(AdvSimd.Max(AdvSimd.Multiply(AdvSimd.ConvertToSingle(acc), scale), lo), hi));

        /// <summary>
        /// 4 lanes, portable: the clamped product plus 1.5·2^23 holds round-half-even(v) in its low mantissa bits, so its bit
        /// pattern minus (bits(1.5·2^23) − zy) is zy + round(v). <paramref name="bias"/> is bits(1.5·2^23) − zy.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> Vector128Scale(Vector128<int> acc, Vector128<float> scale, Vector128<float> lo, Vector128<float> hi, Vector128<int> bias)
        {
            var p = Vector128.Min(Vector128.Max(Vector128.ConvertToSingle(acc) * scale, lo), hi);
            return (p + Vector128.Create(RoundMagic)).AsInt32() - bias;
        }

        /// <summary>
        /// Fixed point, 8 lanes of round(acc·m·2^−s): vpmuldq forms the 64-bit products of the even lanes, and of the odd lanes after a
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

        /// <summary>Fixed point, 4 lanes: SMULL/SMULL2 64-bit products, SRSHL by −shift (rounding shift: adds 2^(s−1), ties toward +∞), XTN.</summary>
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
