#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual) and boolean logic (And, Or, Xor, Not) with
    /// broadcasting, producing bools. Operands are walked as in Elementwise.Binary: coalesced dimensions, element
    /// strides per operand (0 where broadcast). Float comparisons follow IEEE 754 (NaN compares unequal to everything).
    /// </summary>
    internal static class Logic
    {
        public interface IPredicate<T>
        {
            static abstract bool Invoke(T a, T b);
        }

        public readonly struct Equal<T> : IPredicate<T> where T : IEqualityOperators<T, T, bool>
        {
            public static bool Invoke(T a, T b) => a == b;
        }

        public readonly struct Less<T> : IPredicate<T> where T : IComparisonOperators<T, T, bool>
        {
            public static bool Invoke(T a, T b) => a < b;
        }

        public readonly struct LessOrEqual<T> : IPredicate<T> where T : IComparisonOperators<T, T, bool>
        {
            public static bool Invoke(T a, T b) => a <= b;
        }

        public readonly struct Greater<T> : IPredicate<T> where T : IComparisonOperators<T, T, bool>
        {
            public static bool Invoke(T a, T b) => a > b;
        }

        public readonly struct GreaterOrEqual<T> : IPredicate<T> where T : IComparisonOperators<T, T, bool>
        {
            public static bool Invoke(T a, T b) => a >= b;
        }

        /// <summary>Equal on bools (which have no generic-math operators).</summary>
        public readonly struct Same : IPredicate<bool>
        {
            public static bool Invoke(bool a, bool b) => a == b;
        }

        public readonly struct And : IPredicate<bool>
        {
            public static bool Invoke(bool a, bool b) => a & b;
        }

        public readonly struct Or : IPredicate<bool>
        {
            public static bool Invoke(bool a, bool b) => a | b;
        }

        public readonly struct Xor : IPredicate<bool>
        {
            public static bool Invoke(bool a, bool b) => a ^ b;
        }

        /// <summary>y = op(a, b) with broadcasting over <paramref name="dims"/> (row-major, coalesced).</summary>
        public static void Binary<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides) where TOp : IPredicate<T>
        {
            int rank = dims.Length;
            int inner = dims[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1];
            if (y.Length == 0 || inner == 0) return;
            int rows = y.Length / inner;
            Span<int> idx = stackalloc int[rank];
            int ao = 0, bo = 0;
            for (int r = 0; r < rows; r++)
            {
                var row = y.Slice(r * inner, inner);
                for (int i = 0, ai = ao, bi = bo; i < row.Length; i++, ai += sa, bi += sb) row[i] = TOp.Invoke(a[ai], b[bi]);
                for (int d = rank - 2; d >= 0; d--)
                {
                    idx[d]++; ao += aStrides[d]; bo += bStrides[d];
                    if (idx[d] < dims[d]) break;
                    ao -= aStrides[d] * dims[d]; bo -= bStrides[d] * dims[d]; idx[d] = 0;
                }
            }
        }

        public static void Not(ReadOnlySpan<bool> x, Span<bool> y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = !x[i];
        }

        public static void IsNaN<T>(ReadOnlySpan<T> x, Span<bool> y) where T : INumberBase<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = T.IsNaN(x[i]);
        }

        /// <summary>y = x is −∞ (when <paramref name="negative"/>) or +∞ (when <paramref name="positive"/>).</summary>
        public static void IsInf<T>(ReadOnlySpan<T> x, Span<bool> y, bool negative, bool positive) where T : INumberBase<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = negative && T.IsNegativeInfinity(x[i]) || positive && T.IsPositiveInfinity(x[i]);
        }
    }
}
