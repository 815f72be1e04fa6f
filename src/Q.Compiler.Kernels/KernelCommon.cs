#nullable enable
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>Small vector helpers shared by kernels. Always emitted.</summary>
    internal static class KernelCommon
    {
        /// <summary>y[i] += a · x[i]</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
        {
            int n = y.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var va = Vector256.Create(a);
                for (; i <= n - 8; i += 8)
                {
                    var vy = Vector256.LoadUnsafe(ref yr, (nuint)i);
                    var vx = Vector256.LoadUnsafe(ref xr, (nuint)i);
                    Vector256.FusedMultiplyAdd(va, vx, vy).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var va = Vector128.Create(a);
                for (; i <= n - 4; i += 4)
                {
                    var vy = Vector128.LoadUnsafe(ref yr, (nuint)i);
                    var vx = Vector128.LoadUnsafe(ref xr, (nuint)i);
                    Vector128.FusedMultiplyAdd(va, vx, vy).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = MathF.FusedMultiplyAdd(a, Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i));
        }

        /// <summary>Σ x[i]·y[i]</summary>
        public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
        {
            int n = x.Length, i = 0;
            float s = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated && n >= 8)
            {
                var acc = Vector256<float>.Zero;
                for (; i <= n - 8; i += 8)
                    acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), acc);
                s = Vector256.Sum(acc);
            }
            for (; i < n; i++) s = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i), s);
            return s;
        }
    }
}
