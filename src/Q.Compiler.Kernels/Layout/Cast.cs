#nullable enable
using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Element type conversions as ONNX Cast defines them: float → integer truncates toward zero (saturating, NaN → 0),
    /// integer → integer wraps (two's complement), anything → float rounds to nearest even (float16 overflows to ±∞),
    /// and bool is 0/1 in and "≠ 0" out.
    /// </summary>
    internal static class Cast
    {
        public static void Run<TFrom, TTo>(ReadOnlySpan<TFrom> x, Span<TTo> y)
            where TFrom : unmanaged, INumberBase<TFrom> where TTo : unmanaged, INumberBase<TTo>
        {
            bool fromFloat = typeof(TFrom) == typeof(float) || typeof(TFrom) == typeof(double) || typeof(TFrom) == typeof(Half);
            bool toFloat = typeof(TTo) == typeof(float) || typeof(TTo) == typeof(double) || typeof(TTo) == typeof(Half);
            if (fromFloat && !toFloat)
                for (int i = 0; i < y.Length; i++) y[i] = TTo.CreateSaturating(x[i]);
            else
                for (int i = 0; i < y.Length; i++) y[i] = TTo.CreateTruncating(x[i]);
        }

        /// <summary>BitCast: the bytes of x, unchanged, as another type of the same width.</summary>
        public static void Bits<TFrom, TTo>(ReadOnlySpan<TFrom> x, Span<TTo> y) where TFrom : unmanaged where TTo : unmanaged =>
            MemoryMarshal.AsBytes(x).CopyTo(MemoryMarshal.AsBytes(y));

        public static void ToBool<T>(ReadOnlySpan<T> x, Span<bool> y) where T : unmanaged, INumberBase<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = x[i] != T.Zero;
        }

        public static void FromBool<T>(ReadOnlySpan<bool> x, Span<T> y) where T : unmanaged, INumberBase<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = x[i] ? T.One : T.Zero;
        }
    }
}
