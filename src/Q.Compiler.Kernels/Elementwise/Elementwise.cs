#nullable enable
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// Requires: Activation, VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Elementwise kernels with broadcasting. Operands are walked with per-dimension element strides (0 where broadcast)
    /// over dimensions that lowering has already coalesced; the innermost dimension is vectorized when both operands are
    /// contiguous there or one is a broadcast scalar.
    /// </summary>
    internal static partial class Elementwise
    {
        public interface IBinary<T> where T : unmanaged
        {
            static abstract T Invoke(T a, T b);
            static abstract Vector<T> Invoke(Vector<T> a, Vector<T> b);
            static abstract bool Vectorizable { get; }
        }

        public readonly struct Add<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => a + b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a + b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct Sub<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => a - b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a - b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct Mul<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => a * b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a * b;
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        public readonly struct Div<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => (typeof(T) == typeof(float) || typeof(T) == typeof(double) || b != T.Zero) ? a / b : T.Zero;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => a / b;
            public static bool Vectorizable => typeof(T) == typeof(float) || typeof(T) == typeof(double);
        }

        /// <summary>Max; NaN in either operand gives NaN (vectorized as compare-and-blend, then a + b where either is NaN).</summary>
        public readonly struct Max<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => T.IsNaN(a) || T.IsNaN(b) ? a + b : (a > b ? a : b);
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => typeof(T) == typeof(float) || typeof(T) == typeof(double)
                ? PropagateNaN(a, b, Vector.ConditionalSelect(Vector.GreaterThan<T>(a, b), a, b))
                : Vector.Max(a, b);
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        /// <summary>Min; NaN in either operand gives NaN.</summary>
        public readonly struct Min<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => T.IsNaN(a) || T.IsNaN(b) ? a + b : (a < b ? a : b);
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => typeof(T) == typeof(float) || typeof(T) == typeof(double)
                ? PropagateNaN(a, b, Vector.ConditionalSelect(Vector.LessThan<T>(a, b), a, b))
                : Vector.Min(a, b);
            public static bool Vectorizable => Vector<T>.IsSupported;
        }

        /// <summary>r where both a and b are numbers, a + b (NaN) where either is NaN.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector<T> PropagateNaN<T>(Vector<T> a, Vector<T> b, Vector<T> r) where T : unmanaged, INumber<T> =>
            Vector.ConditionalSelect(Vector.Equals<T>(a, a) & Vector.Equals<T>(b, b), r, a + b);

        /// <summary>
        /// Pow through Math.Pow in double; the exponents that spectrograms and norms use (2, 1, 0.5) are vectorized when a
        /// whole vector shares them (x·x and x are exact; √ is correctly rounded, with pow's +0 for −0 and +∞ for −∞).
        /// </summary>
        public readonly struct Pow<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => b == T.CreateTruncating(2) ? a * a
                : T.CreateTruncating(Math.Pow(double.CreateTruncating(a), double.CreateTruncating(b)));

            public static Vector<T> Invoke(Vector<T> a, Vector<T> b)
            {
                if (Vector.EqualsAll(b, new Vector<T>(T.CreateTruncating(2)))) return a * a;
                if (Vector.EqualsAll(b, Vector<T>.One)) return a;
                if (Vector.EqualsAll(b, new Vector<T>(T.CreateTruncating(0.5))))
                {
                    var root = Vector.SquareRoot(a) + Vector<T>.Zero;
                    return Vector.ConditionalSelect(Vector.Equals(a, new Vector<T>(T.CreateTruncating(double.NegativeInfinity))),
                        new Vector<T>(T.CreateTruncating(double.PositiveInfinity)), root);
                }
                Span<T> lanes = stackalloc T[Vector<T>.Count];
                for (int i = 0; i < lanes.Length; i++) lanes[i] = Invoke(a[i], b[i]);
                return new Vector<T>(lanes);
            }

            public static bool Vectorizable => Vector<T>.IsSupported && (typeof(T) == typeof(float) || typeof(T) == typeof(double));
        }

        /// <summary>y = op(a, b) with broadcasting over <paramref name="dims"/> (row-major, coalesced).</summary>
        public static void Binary<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides)
            where T : unmanaged where TOp : IBinary<T>
        {
            int rank = dims.Length;
            int inner = dims[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1];
            int rows = y.Length / Math.Max(inner, 1);
            Span<int> idx = stackalloc int[rank];
            int ao = 0, bo = 0;
            for (int r = 0; r < rows; r++)
            {
                Row<T, TOp>(a, ao, sa, b, bo, sb, y.Slice(r * inner, inner));
                // Advance the outer index (all but the last dimension).
                for (int d = rank - 2; d >= 0; d--)
                {
                    idx[d]++; ao += aStrides[d]; bo += bStrides[d];
                    if (idx[d] < dims[d]) break;
                    ao -= aStrides[d] * dims[d]; bo -= bStrides[d] * dims[d]; idx[d] = 0;
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Row<T, TOp>(ReadOnlySpan<T> a, int ao, int sa, ReadOnlySpan<T> b, int bo, int sb, Span<T> y)
            where T : unmanaged where TOp : IBinary<T>
        {
            int n = y.Length, i = 0;
            ref T yr = ref MemoryMarshal.GetReference(y);
            ref T ar = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), ao);
            ref T br = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), bo);
            int vn = Vector<T>.Count;
            if (TOp.Vectorizable && n >= vn)
            {
                if (sa == 1 && sb == 1)
                    for (; i <= n - vn; i += vn)
                        TOp.Invoke(Vector.LoadUnsafe(ref ar, (nuint)i), Vector.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
                else if (sa == 1 && sb == 0)
                {
                    var vb = new Vector<T>(br);
                    for (; i <= n - vn; i += vn) TOp.Invoke(Vector.LoadUnsafe(ref ar, (nuint)i), vb).StoreUnsafe(ref yr, (nuint)i);
                }
                else if (sa == 0 && sb == 1)
                {
                    var va = new Vector<T>(ar);
                    for (; i <= n - vn; i += vn) TOp.Invoke(va, Vector.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Invoke(Unsafe.Add(ref ar, i * sa), Unsafe.Add(ref br, i * sb));
        }

        /// <summary>Pow with an exponent of another element type.</summary>
        public static void PowMixed<T, TE>(ReadOnlySpan<T> a, ReadOnlySpan<TE> b, Span<T> y,
            ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides)
            where T : unmanaged, INumber<T> where TE : unmanaged, INumber<TE>
        {
            int rank = dims.Length;
            Span<int> idx = stackalloc int[rank];
            for (int f = 0; f < y.Length; f++)
            {
                int ao = 0, bo = 0;
                for (int d = 0; d < rank; d++) { ao += idx[d] * aStrides[d]; bo += idx[d] * bStrides[d]; }
                y[f] = T.CreateTruncating(Math.Pow(double.CreateTruncating(a[ao]), double.CreateTruncating(b[bo])));
                for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
            }
        }

        /// <summary>
        /// Unary math. Codes 1..7 are the fusable activations (see Activation); 10 Exp, 11 Log, 12 Sqrt, 13 Neg, 14 Abs,
        /// 15 Reciprocal, 16 Floor, 17 Ceil, 18 Erf, 19 Softplus, 20 Elu(alpha), 21 Selu(alpha, gamma).
        /// </summary>
        public static void Unary<T>(ReadOnlySpan<T> x, Span<T> y, int code, float alpha, float beta) where T : unmanaged, INumber<T>
        {
            if (typeof(T) == typeof(float))
            {
                var xf = MemoryMarshal.Cast<T, float>(x);
                var yf = MemoryMarshal.Cast<T, float>(y);
                // Relu and Clip in one pass from x to y; the other activations work in place on a copy.
                if (code == Activation.Relu) { Activation.ClampInto(xf, yf, 0f, float.PositiveInfinity); return; }
                if (code == Activation.Clip) { Activation.ClampInto(xf, yf, alpha, beta); return; }
                if (code <= 7) { xf.CopyTo(yf); Activation.Apply(yf, code, alpha, beta); return; }
                if (code == 10) { VectorMath.Exp(xf, yf); return; }
                for (int i = 0; i < xf.Length; i++) yf[i] = UnaryF(code, xf[i], alpha, beta);
                return;
            }
            for (int i = 0; i < x.Length; i++)
            {
                T v = x[i];
                y[i] = code switch
                {
                    1 => v > T.Zero ? v : T.Zero,
                    2 => T.Clamp(v, T.CreateSaturating(alpha), T.CreateSaturating(beta)),
                    13 => -v,
                    14 => T.Abs(v),
                    _ => T.CreateTruncating(UnaryD(code, double.CreateTruncating(v), alpha, beta)),
                };
            }
        }

        private static float UnaryF(int code, float v, float a, float b) => code switch
        {
            10 => MathF.Exp(v),
            11 => MathF.Log(v),
            12 => MathF.Sqrt(v),
            13 => -v,
            14 => MathF.Abs(v),
            15 => 1f / v,
            16 => MathF.Floor(v),
            17 => MathF.Ceiling(v),
            _ => (float)UnaryD(code, v, a, b),
        };

        private static double UnaryD(int code, double v, float a, float b) => code switch
        {
            3 => v >= 0 ? v : v * a,
            4 => 1 / (1 + Math.Exp(-v)),
            5 => Math.Max(0, Math.Min(1, a * v + b)),
            6 => v * Math.Max(0, Math.Min(1, v / 6 + 0.5)),
            7 => Math.Tanh(v),
            10 => Math.Exp(v),
            11 => Math.Log(v),
            12 => Math.Sqrt(v),
            15 => 1 / v,
            16 => Math.Floor(v),
            17 => Math.Ceiling(v),
            18 => Erf(v),
            19 => Math.Log(1 + Math.Exp(v)),
            20 => v >= 0 ? v : a * (Math.Exp(v) - 1),
            21 => v > 0 ? b * v : b * (a * Math.Exp(v) - a),
            _ => throw new ArgumentOutOfRangeException(nameof(code)),
        };

        private static double Erf(double x)
        {
            // W. J. Cody's rational approximations would be more compact; a series plus continued fraction is exact to double.
            double ax = Math.Abs(x);
            if (ax < 2.5)
            {
                double sum = x, term = x, x2 = x * x;
                for (int n = 1; n < 200; n++) { term *= -x2 / n; double t = term / (2 * n + 1); sum += t; if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break; }
                return 2 / Math.Sqrt(Math.PI) * sum;
            }
            double f = ax, c = ax, d = 0;
            for (int i = 1; i < 300; i++)
            {
                double an = i / 2.0;
                d = ax + an * d; d = 1 / d; c = ax + an / c;
                double delta = c * d; f *= delta;
                if (Math.Abs(delta - 1) < 1e-16) break;
            }
            double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
            return x >= 0 ? 1 - erfc : erfc - 1;
        }
    }
}
