#nullable enable
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>Small vector helpers shared by kernels. Always emitted.</summary>
    internal static class KernelCommon
    {
        // Fused where the hardware has it. (Vector256.FusedMultiplyAdd would be shorter but needs .NET 9; generated
        // code must compile on .NET 8. MathF.FusedMultiplyAdd is avoided in scalar loops: without FMA it is a slow call.)
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
            Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
            AdvSimd.IsSupported ? AdvSimd.FusedMultiplyAdd(c, a, b) : Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

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
                    MulAdd(va, vx, vy).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (Vector128.IsHardwareAccelerated && n >= 4)
            {
                var va = Vector128.Create(a);
                for (; i <= n - 4; i += 4)
                {
                    var vy = Vector128.LoadUnsafe(ref yr, (nuint)i);
                    var vx = Vector128.LoadUnsafe(ref xr, (nuint)i);
                    MulAdd(va, vx, vy).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = a * Unsafe.Add(ref xr, i) + Unsafe.Add(ref yr, i);
        }
    }
}
