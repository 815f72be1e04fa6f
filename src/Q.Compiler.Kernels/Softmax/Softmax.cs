#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// Requires: VectorMath, Simd
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Softmax and LogSoftmax over [outer, n, inner] views: y = e^(x − max) / Σ e^(x − max), or x − max − ln Σ e^(x − max).
    /// Subtracting the maximum keeps e^… in range for any input.
    /// </summary>
    internal static class Softmax
    {
        /// <summary>Normalises <paramref name="rows"/> contiguous rows of <paramref name="n"/> values (the common case: the last axis).</summary>
        public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int n, bool log)
        {
            if (n == 2 && !log && Vector128.IsHardwareAccelerated)
            {
                Pairs(x, y, rows);
                return;
            }
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> xr = x.Slice(r * n, n);
                Span<float> yr = y.Slice(r * n, n);
                float max = VectorMath.Max(xr);
                float sum = VectorMath.ExpSubtract(xr, max, yr);
                if (log)
                {
                    // (x − max) first: it is exact near the maximum, where max + ln Σ would round away small differences.
                    float logSum = MathF.Log(sum);
                    for (int i = 0; i < n; i++) yr[i] = (xr[i] - max) - logSum;
                }
                else VectorMath.Scale(yr, 1f / sum);
            }
        }

        /// <summary>
        /// Softmax over rows of two (two-class scores, e.g. a detector's background/face): four rows per 256-bit vector, the
        /// partner of each lane one swap away. The last rows go through the same vector code, padded.
        /// </summary>
        private static void Pairs(ReadOnlySpan<float> x, Span<float> y, int rows)
        {
            int n = 2 * rows, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8) Pairs(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            for (; i <= n - 4; i += 4) Pairs(Vector128.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            if (i < n)
            {
                Span<float> tail = stackalloc float[4];
                x.Slice(i, 2).CopyTo(tail);
                Pairs(Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(tail))).StoreUnsafe(ref MemoryMarshal.GetReference(tail));
                tail.Slice(0, 2).CopyTo(y.Slice(i, 2));
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Pairs(Vector256<float> v)
        {
            var m = Simd256.Max(v, Swap(v));
            var e = VectorMath.Exp(v - m);
            return e / (e + Swap(e));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<float> Pairs(Vector128<float> v)
        {
            var m = Simd128.Max(v, Swap(v));
            var e = VectorMath.Exp(v - m);
            return e / (e + Swap(e));
        }

        /// <summary>Lanes 1, 0, 3, 2, …: each lane's partner in its pair.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Swap(Vector256<float> v) =>
            Avx.IsSupported ? Avx.Permute(v, 0b10_11_00_01) : Vector256.Shuffle(v, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<float> Swap(Vector128<float> v) =>
            Sse.IsSupported ? Sse.Shuffle(v, v, 0b10_11_00_01) : Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2));

        /// <summary>
        /// Normalises along an axis whose elements are <paramref name="inner"/> apart. <paramref name="stats"/> holds
        /// 2·inner floats: the running maximum and sum of each column, so every pass walks memory contiguously.
        /// </summary>
        public static void Strided(ReadOnlySpan<float> x, Span<float> y, Span<float> stats, int outer, int n, int inner, bool log)
        {
            Span<float> max = stats.Slice(0, inner);
            Span<float> sum = stats.Slice(inner, inner);
            for (int o = 0; o < outer; o++)
            {
                int b = o * n * inner;
                x.Slice(b, inner).CopyTo(max);
                for (int k = 1; k < n; k++) VectorMath.MaxInto(x.Slice(b + k * inner, inner), max);
                sum.Clear();
                for (int k = 0; k < n; k++)
                {
                    ReadOnlySpan<float> xs = x.Slice(b + k * inner, inner);
                    Span<float> ys = y.Slice(b + k * inner, inner);
                    for (int j = 0; j < inner; j++) ys[j] = xs[j] - max[j];
                    VectorMath.Exp(ys, ys);
                    VectorMath.AddInto(ys, sum);
                }
                if (log)
                {
                    for (int j = 0; j < inner; j++) sum[j] = MathF.Log(sum[j]);
                    for (int k = 0; k < n; k++)
                    {
                        ReadOnlySpan<float> xs = x.Slice(b + k * inner, inner);
                        Span<float> ys = y.Slice(b + k * inner, inner);
                        for (int j = 0; j < inner; j++) ys[j] = (xs[j] - max[j]) - sum[j];
                    }
                }
                else
                {
                    for (int j = 0; j < inner; j++) sum[j] = 1f / sum[j];
                    for (int k = 0; k < n; k++) VectorMath.MultiplyInto(sum, y.Slice(b + k * inner, inner));
                }
            }
        }
    }
}
