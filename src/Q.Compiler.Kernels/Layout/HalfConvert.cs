#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>Conversions at the boundary of float16 models, which compute in float32 inside.</summary>
    internal static class HalfConvert
    {
        /// <summary>
        /// y = (float)x, exact. Vectorized with integer operations: the exponent and mantissa bits move up 13 places and the
        /// exponent is rebiased (+112); infinities and NaNs get the rest of the float exponent range (+112 more), and
        /// subnormals are renormalised by subtracting 2^−14 computed in float (the "magic number" method).
        /// </summary>
        public static void ToSingle(ReadOnlySpan<Half> x, Span<float> y)
        {
            int n = y.Length, i = 0;
            ReadOnlySpan<ushort> bits = MemoryMarshal.Cast<Half, ushort>(x);
            ref ushort xr = ref MemoryMarshal.GetReference(bits);
            ref uint yr = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(y));
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, (nuint)i));
                    Convert(lo).StoreUnsafe(ref yr, (nuint)i);
                    Convert(hi).StoreUnsafe(ref yr, (nuint)(i + 8));
                }
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref xr, (nuint)i));
                    Convert(lo).StoreUnsafe(ref yr, (nuint)i);
                    Convert(hi).StoreUnsafe(ref yr, (nuint)(i + 4));
                }
            for (; i < n; i++) y[i] = (float)x[i];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<uint> Convert(Vector256<uint> h)
        {
            var shiftedExp = Vector256.Create(0x7C00u << 13);
            var o = (h & Vector256.Create(0x7FFFu)) << 13;
            var exp = o & shiftedExp;
            o += Vector256.Create((127u - 15) << 23);
            var infNan = Vector256.Equals(exp, shiftedExp);
            var sub = Vector256.Equals(exp, Vector256<uint>.Zero);
            o += infNan & Vector256.Create((128u - 16) << 23);
            var renorm = (o + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(113u << 23).AsSingle();
            o = Vector256.ConditionalSelect(sub, renorm.AsUInt32(), o);
            return o | ((h & Vector256.Create(0x8000u)) << 16);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<uint> Convert(Vector128<uint> h)
        {
            var shiftedExp = Vector128.Create(0x7C00u << 13);
            var o = (h & Vector128.Create(0x7FFFu)) << 13;
            var exp = o & shiftedExp;
            o += Vector128.Create((127u - 15) << 23);
            var infNan = Vector128.Equals(exp, shiftedExp);
            var sub = Vector128.Equals(exp, Vector128<uint>.Zero);
            o += infNan & Vector128.Create((128u - 16) << 23);
            var renorm = (o + Vector128.Create(1u << 23)).AsSingle() - Vector128.Create(113u << 23).AsSingle();
            o = Vector128.ConditionalSelect(sub, renorm.AsUInt32(), o);
            return o | ((h & Vector128.Create(0x8000u)) << 16);
        }

        /// <summary>y = (Half)x, rounded to nearest even; overflow becomes ±∞.</summary>
        public static void ToHalf(ReadOnlySpan<float> x, Span<Half> y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = (Half)x[i];
        }
    }
}
