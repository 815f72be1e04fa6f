#nullable enable
using System;
using System.Numerics;

// Requires: Elementwise
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Integer operations run by Elementwise.Binary's broadcasting loop: bitwise And/Or/Xor, shifts (by at least the bit
    /// width → 0, as numpy does), and Mod with either the divisor's sign (Python %, ONNX fmod=0) or the dividend's (C fmod, fmod=1).
    /// </summary>
    internal static class Bitwise
    {
        /// <summary>y = op(a, b) with broadcasting (see Elementwise.Binary).</summary>
        public static void Binary<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides)
            where T : unmanaged where TOp : Elementwise.IBinary<T> =>
            Elementwise.Binary<T, TOp>(a, b, y, dims, aStrides, bStrides);

        public readonly struct And<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b) => a & b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a & b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct Or<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b) => a | b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a | b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct Xor<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b) => a ^ b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a ^ b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct ShiftLeft<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b) => ulong.CreateTruncating(b) >= (ulong)(T.AllBitsSet.GetByteCount() * 8) ? T.Zero : a << int.CreateTruncating(b);
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => throw new NotSupportedException();
            public static bool Vectorizable => false;
        }

        public readonly struct ShiftRight<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b) => ulong.CreateTruncating(b) >= (ulong)(T.AllBitsSet.GetByteCount() * 8) ? T.Zero : a >>> int.CreateTruncating(b);
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => throw new NotSupportedException();
            public static bool Vectorizable => false;
        }

        /// <summary>a mod b with the sign of b (integers; b = 0 gives 0).</summary>
        public readonly struct Mod<T> : Elementwise.IBinary<T> where T : unmanaged, IBinaryInteger<T>
        {
            public static T Invoke(T a, T b)
            {
                if (b == T.Zero) return T.Zero;
                T r = a % b;
                return r != T.Zero && (T.IsNegative(r) != T.IsNegative(b)) ? r + b : r;
            }

            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => throw new NotSupportedException();
            public static bool Vectorizable => false;
        }

        /// <summary>a mod b with the sign of a (C fmod; integers with b = 0 give 0).</summary>
        public readonly struct FMod<T> : Elementwise.IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) =>
                b == T.Zero && !(typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half)) ? T.Zero : a % b;

            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => throw new NotSupportedException();
            public static bool Vectorizable => false;
        }

        /// <summary>y = ~x</summary>
        public static void Not<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IBinaryInteger<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = ~x[i];
        }
    }
}
