#nullable enable
using System;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    // Requires: QGemm
    /// <summary>
    /// QLinearMatMul and MatMulInteger on top of <see cref="QGemm"/>: A (M×K, row-major; batches of a 3-D A stacked as
    /// rows) times constant B packed at build time. QGemm multiplies uint8 by int8; the other operand types are exact
    /// shifts by 128 of it: an int8 A is copied as a + 128 (a ^ 0x80) with its zero point raised by 128 at build time, and an
    /// int8 output is computed as uint8 with zero point and clamp bounds raised by 128, then flipped back in place
    /// (clamp(zy + r, −128, 127) + 128 = clamp(zy + 128 + r, 0, 255)). uint8 weights were shifted to int8 at build time.
    /// </summary>
    internal static class QMatMul
    {
        /// <summary>QLinearMatMul, uint8 A, uint8 y: y = clamp(zy + round(Σ_k (a − za)(b − zb[n])·M[n]), lo, hi).</summary>
        public static void Run(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums, ReadOnlySpan<int> bZeroPoints,
            ReadOnlySpan<float> scales, Span<byte> y, int m, int n, int k, int aZeroPoint, int yZeroPoint,
            int clampMin, int clampMax, bool weightsHaveMinus128)
            => QGemm.U8S8(a, packedB, columnSums, default, bZeroPoints, scales, y, m, n, k, aZeroPoint, yZeroPoint,
                clampMin, clampMax, weightsHaveMinus128);

        /// <summary>QLinearMatMul, uint8 A, int8 y (zero point and clamp bounds given +128).</summary>
        public static void Run(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums, ReadOnlySpan<int> bZeroPoints,
            ReadOnlySpan<float> scales, Span<sbyte> y, int m, int n, int k, int aZeroPoint, int yZeroPoint,
            int clampMin, int clampMax, bool weightsHaveMinus128)
        {
            var yu = MemoryMarshal.Cast<sbyte, byte>(y);
            QGemm.U8S8(a, packedB, columnSums, default, bZeroPoints, scales, yu, m, n, k, aZeroPoint, yZeroPoint,
                clampMin, clampMax, weightsHaveMinus128);
            FlipSign(yu.Slice(0, m * n), yu);
        }

        /// <summary>QLinearMatMul, int8 A (copied to <paramref name="aShifted"/> as a + 128; zero point given +128), uint8 y.</summary>
        public static void RunInt8A(ReadOnlySpan<sbyte> a, Span<byte> aShifted, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<float> scales, Span<byte> y, int m, int n, int k,
            int aZeroPoint, int yZeroPoint, int clampMin, int clampMax, bool weightsHaveMinus128)
        {
            FlipSign(MemoryMarshal.Cast<sbyte, byte>(a).Slice(0, m * k), aShifted);
            Run(aShifted, packedB, columnSums, bZeroPoints, scales, y, m, n, k, aZeroPoint, yZeroPoint, clampMin, clampMax, weightsHaveMinus128);
        }

        /// <summary>QLinearMatMul, int8 A, int8 y.</summary>
        public static void RunInt8A(ReadOnlySpan<sbyte> a, Span<byte> aShifted, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<float> scales, Span<sbyte> y, int m, int n, int k,
            int aZeroPoint, int yZeroPoint, int clampMin, int clampMax, bool weightsHaveMinus128)
        {
            FlipSign(MemoryMarshal.Cast<sbyte, byte>(a).Slice(0, m * k), aShifted);
            Run(aShifted, packedB, columnSums, bZeroPoints, scales, y, m, n, k, aZeroPoint, yZeroPoint, clampMin, clampMax, weightsHaveMinus128);
        }

        /// <summary>
        /// MatMulInteger, uint8 A: y[i,n] = Σ_k (a − za)(b − zb[n]) as int32. The zero point is a one-element tensor, a constant
        /// or computed at run time (DynamicQuantizeLinear's y_zero_point).
        /// </summary>
        public static void Integer(ReadOnlySpan<byte> a, ReadOnlySpan<byte> aZeroPoint, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bZeroPoints, Span<int> y, int m, int n, int k, bool weightsHaveMinus128)
            => QGemm.U8S8Int32(a, packedB, columnSums, default, bZeroPoints, y, m, n, k, aZeroPoint[0], weightsHaveMinus128);

        /// <summary>MatMulInteger, int8 A (copied to <paramref name="aShifted"/> as a + 128, its zero point likewise).</summary>
        public static void Integer(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> aZeroPoint, Span<byte> aShifted, ReadOnlySpan<sbyte> packedB,
            ReadOnlySpan<int> columnSums, ReadOnlySpan<int> bZeroPoints, Span<int> y, int m, int n, int k, bool weightsHaveMinus128)
        {
            FlipSign(MemoryMarshal.Cast<sbyte, byte>(a).Slice(0, m * k), aShifted);
            QGemm.U8S8Int32(aShifted, packedB, columnSums, default, bZeroPoints, y, m, n, k, aZeroPoint[0] + 128, weightsHaveMinus128);
        }

        /// <summary>dst[i] = src[i] ^ 0x80: int8 ↔ uint8 by adding 128 (src and dst may be the same memory).</summary>
        public static void FlipSign(ReadOnlySpan<byte> src, Span<byte> dst)
        {
            if (dst.Length < src.Length) throw new ArgumentException("FlipSign destination too short");
            int i = 0;
            ref byte s = ref MemoryMarshal.GetReference(src);
            ref byte d = ref MemoryMarshal.GetReference(dst);
            if (Vector256.IsHardwareAccelerated)
            {
                var bit = Vector256.Create((byte)0x80);
                for (; i + 32 <= src.Length; i += 32) (Vector256.LoadUnsafe(ref s, (nuint)i) ^ bit).StoreUnsafe(ref d, (nuint)i);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var bit = Vector128.Create((byte)0x80);
                for (; i + 16 <= src.Length; i += 16) (Vector128.LoadUnsafe(ref s, (nuint)i) ^ bit).StoreUnsafe(ref d, (nuint)i);
            }
            for (; i < src.Length; i++) dst[i] = (byte)(src[i] ^ 0x80);
        }
    }
}
