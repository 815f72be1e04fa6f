#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

// Requires: Simd
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Vectorized loops over float spans shared by the normalisation, softmax and reduction kernels
    /// (Vector256, then Vector128, then a scalar tail).
    /// </summary>
    internal static partial class VectorMath
    {
        /// <summary>The largest element (−∞ for an empty span).</summary>
        public static float Max(ReadOnlySpan<float> x)
        {
            int n = x.Length, i = 0;
            ref float r = ref MemoryMarshal.GetReference(x);
            float m = float.NegativeInfinity;
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256.LoadUnsafe(ref r);
                for (i = 8; i <= n - 8; i += 8) acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref r, (nuint)i));
                for (int k = 0; k < 8; k++) m = MathF.Max(m, acc.GetElement(k));
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector128.LoadUnsafe(ref r);
                for (i = 4; i <= n - 4; i += 4) acc = Vector128.Max(acc, Vector128.LoadUnsafe(ref r, (nuint)i));
                for (int k = 0; k < 4; k++) m = MathF.Max(m, acc.GetElement(k));
            }
            for (; i < n; i++) m = MathF.Max(m, Unsafe.Add(ref r, i));
            return m;
        }

        /// <summary>The smallest element (+∞ for an empty span).</summary>
        public static float Min(ReadOnlySpan<float> x)
        {
            int n = x.Length, i = 0;
            ref float r = ref MemoryMarshal.GetReference(x);
            float m = float.PositiveInfinity;
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256.LoadUnsafe(ref r);
                for (i = 8; i <= n - 8; i += 8) acc = Vector256.Min(acc, Vector256.LoadUnsafe(ref r, (nuint)i));
                for (int k = 0; k < 8; k++) m = MathF.Min(m, acc.GetElement(k));
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector128.LoadUnsafe(ref r);
                for (i = 4; i <= n - 4; i += 4) acc = Vector128.Min(acc, Vector128.LoadUnsafe(ref r, (nuint)i));
                for (int k = 0; k < 4; k++) m = MathF.Min(m, acc.GetElement(k));
            }
            for (; i < n; i++) m = MathF.Min(m, Unsafe.Add(ref r, i));
            return m;
        }

        /// <summary>Σ x[i]</summary>
        public static float Sum(ReadOnlySpan<float> x)
        {
            int n = x.Length, i = 0;
            ref float r = ref MemoryMarshal.GetReference(x);
            float s = 0;
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256<float>.Zero;
                for (; i <= n - 8; i += 8) acc += Vector256.LoadUnsafe(ref r, (nuint)i);
                s = Vector256.Sum(acc);
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector128<float>.Zero;
                for (; i <= n - 4; i += 4) acc += Vector128.LoadUnsafe(ref r, (nuint)i);
                s = Vector128.Sum(acc);
            }
            for (; i < n; i++) s += Unsafe.Add(ref r, i);
            return s;
        }

        /// <summary>Σ x[i]²</summary>
        public static float SumSquares(ReadOnlySpan<float> x)
        {
            int n = x.Length, i = 0;
            ref float r = ref MemoryMarshal.GetReference(x);
            float s = 0;
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256<float>.Zero;
                for (; i <= n - 8; i += 8) { var v = Vector256.LoadUnsafe(ref r, (nuint)i); acc += v * v; }
                s = Vector256.Sum(acc);
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector128<float>.Zero;
                for (; i <= n - 4; i += 4) { var v = Vector128.LoadUnsafe(ref r, (nuint)i); acc += v * v; }
                s = Vector128.Sum(acc);
            }
            for (; i < n; i++) { float v = Unsafe.Add(ref r, i); s = s + v * v; }
            return s;
        }

        /// <summary>Σ (x[i] − c)² (a variance numerator, computed around a known mean).</summary>
        public static float SumSquaredDeviations(ReadOnlySpan<float> x, float c)
        {
            int n = x.Length, i = 0;
            ref float r = ref MemoryMarshal.GetReference(x);
            float s = 0;
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256<float>.Zero;
                var vc = Vector256.Create(c);
                for (; i <= n - 8; i += 8) { var v = Vector256.LoadUnsafe(ref r, (nuint)i) - vc; acc += v * v; }
                s = Vector256.Sum(acc);
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var acc = Vector128<float>.Zero;
                var vc = Vector128.Create(c);
                for (; i <= n - 4; i += 4) { var v = Vector128.LoadUnsafe(ref r, (nuint)i) - vc; acc += v * v; }
                s = Vector128.Sum(acc);
            }
            for (; i < n; i++) { float v = Unsafe.Add(ref r, i) - c; s = s + v * v; }
            return s;
        }

        /// <summary>y[i] = e^(x[i] − c) (as <see cref="Exp(ReadOnlySpan{float}, Span{float})"/>); returns Σ y[i].</summary>
        public static float ExpSubtract(ReadOnlySpan<float> x, float c, Span<float> y)
        {
            int n = x.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            float sum = 0;
            if (!Vector128.IsHardwareAccelerated)
            {
                for (; i < n; i++) { float e = MathF.Exp(Unsafe.Add(ref xr, i) - c); Unsafe.Add(ref yr, i) = e; sum += e; }
                return sum;
            }
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var vc = Vector256.Create(c);
                var acc = Vector256<float>.Zero;
                for (; i <= n - 8; i += 8)
                {
                    var e = Exp(Vector256.LoadUnsafe(ref xr, (nuint)i) - vc);
                    e.StoreUnsafe(ref yr, (nuint)i);
                    acc += e;
                }
                sum = Vector256.Sum(acc);
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var vc = Vector128.Create(c);
                var acc = Vector128<float>.Zero;
                for (; i <= n - 4; i += 4)
                {
                    var e = Exp(Vector128.LoadUnsafe(ref xr, (nuint)i) - vc);
                    e.StoreUnsafe(ref yr, (nuint)i);
                    acc += e;
                }
                sum = Vector128.Sum(acc);
            }
            if (i < n)
            {
                // The tail as one more (padded) vector, so every element goes through the same e^x.
                Span<float> tail = stackalloc float[8];
                for (int k = i; k < n; k++) tail[k - i] = Unsafe.Add(ref xr, k) - c;
                Exp(tail.Slice(0, n - i), tail.Slice(0, n - i));
                for (int k = i; k < n; k++) { float e = tail[k - i]; Unsafe.Add(ref yr, k) = e; sum += e; }
            }
            return sum;
        }

        /// <summary>y[i] = a·x[i] + b</summary>
        public static void Affine(ReadOnlySpan<float> x, Span<float> y, float a, float b)
        {
            int n = y.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var va = Vector256.Create(a); var vb = Vector256.Create(b);
                for (; i <= n - 8; i += 8) (Vector256.LoadUnsafe(ref xr, (nuint)i) * va + vb).StoreUnsafe(ref yr, (nuint)i);
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var va = Vector128.Create(a); var vb = Vector128.Create(b);
                for (; i <= n - 4; i += 4) (Vector128.LoadUnsafe(ref xr, (nuint)i) * va + vb).StoreUnsafe(ref yr, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref xr, i) * a + b;
        }

        /// <summary>y[i] *= s</summary>
        public static void Scale(Span<float> y, float s) => Affine(y, y, s, 0f);

        /// <summary>acc[i] = max(acc[i], x[i])</summary>
        public static void MaxInto(ReadOnlySpan<float> x, Span<float> acc)
        {
            int n = acc.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float ar = ref MemoryMarshal.GetReference(acc);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    Vector256.Max(Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    Vector128.Max(Vector128.LoadUnsafe(ref ar, (nuint)i), Vector128.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref ar, i) = MathF.Max(Unsafe.Add(ref ar, i), Unsafe.Add(ref xr, i));
        }

        /// <summary>acc[i] = min(acc[i], x[i])</summary>
        public static void MinInto(ReadOnlySpan<float> x, Span<float> acc)
        {
            int n = acc.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float ar = ref MemoryMarshal.GetReference(acc);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    Vector256.Min(Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    Vector128.Min(Vector128.LoadUnsafe(ref ar, (nuint)i), Vector128.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref ar, i) = MathF.Min(Unsafe.Add(ref ar, i), Unsafe.Add(ref xr, i));
        }

        /// <summary>acc[i] += x[i]</summary>
        public static void AddInto(ReadOnlySpan<float> x, Span<float> acc)
        {
            int n = acc.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float ar = ref MemoryMarshal.GetReference(acc);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    (Vector256.LoadUnsafe(ref ar, (nuint)i) + Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    (Vector128.LoadUnsafe(ref ar, (nuint)i) + Vector128.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref ar, i) += Unsafe.Add(ref xr, i);
        }

        /// <summary>acc[i] += x[i]²</summary>
        public static void AddSquaresInto(ReadOnlySpan<float> x, Span<float> acc)
        {
            int n = acc.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float ar = ref MemoryMarshal.GetReference(acc);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                    (v * v + Vector256.LoadUnsafe(ref ar, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
                }
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                {
                    var v = Vector128.LoadUnsafe(ref xr, (nuint)i);
                    (v * v + Vector128.LoadUnsafe(ref ar, (nuint)i)).StoreUnsafe(ref ar, (nuint)i);
                }
            for (; i < n; i++) { float v = Unsafe.Add(ref xr, i); Unsafe.Add(ref ar, i) = Unsafe.Add(ref ar, i) + v * v; }
        }

        /// <summary>y[i] *= s[i]</summary>
        public static void MultiplyInto(ReadOnlySpan<float> s, Span<float> y)
        {
            int n = y.Length, i = 0;
            ref float sr = ref MemoryMarshal.GetReference(s);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    (Vector256.LoadUnsafe(ref yr, (nuint)i) * Vector256.LoadUnsafe(ref sr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            else if (Vector128.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    (Vector128.LoadUnsafe(ref yr, (nuint)i) * Vector128.LoadUnsafe(ref sr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref yr, i) *= Unsafe.Add(ref sr, i);
        }
    }
}
