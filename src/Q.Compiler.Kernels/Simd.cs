#nullable enable
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Float vectors of one width behind one interface, so that a kernel written once as a generic method
    /// (<c>Row&lt;TSimd, TVec&gt;</c>) compiles to AVX-512, AVX2, 128-bit (SSE/AdvSimd) or scalar code: the JIT specializes
    /// generic methods over structs and inlines these members. <see cref="Simd.Width"/> says which one a machine uses.
    /// </summary>
    internal interface ISimd<TVec> where TVec : struct
    {
        /// <summary>Floats per vector.</summary>
        static abstract int Count { get; }
        static abstract TVec Load(ref float p, nint offset);
        static abstract void Store(TVec v, ref float p, nint offset);
        static abstract TVec Splat(float v);
        /// <summary>a·b + c, fused where the hardware has it.</summary>
        static abstract TVec MulAdd(TVec a, TVec b, TVec c);
        static abstract TVec Add(TVec a, TVec b);
        static abstract TVec Mul(TVec a, TVec b);
        /// <summary>
        /// Max and Min are the hardware's (maxps/minps: the second operand when either is NaN; fmax/fmin on Arm), not
        /// the IEEE-754:2019 operations Vector256.Max became in .NET 9, which cost a dozen instructions each.
        /// </summary>
        static abstract TVec Max(TVec a, TVec b);
        static abstract TVec Min(TVec a, TVec b);
    }

    /// <summary>Which <see cref="ISimd{TVec}"/> width this machine runs (JIT-time constants).</summary>
    internal static class Simd
    {
        /// <summary>Floats per vector of the widest accelerated width: 16, 8, 4, or 1 (scalar).</summary>
        public static int Width =>
            Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;
    }

    internal readonly struct Simd512 : ISimd<Vector512<float>>
    {
        public static int Count => 16;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float p, nint o) => Vector512.LoadUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, ref float p, nint o) => v.StoreUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float v) => Vector512.Create(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
            Avx512F.IsSupported ? Avx512F.FusedMultiplyAdd(a, b, c) : a * b + c;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Avx512F.IsSupported ? Avx512F.Max(a, b) : Vector512.Max(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) => Avx512F.IsSupported ? Avx512F.Min(a, b) : Vector512.Min(a, b);
    }

    internal readonly struct Simd256 : ISimd<Vector256<float>>
    {
        public static int Count => 8;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float p, nint o) => Vector256.LoadUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, ref float p, nint o) => v.StoreUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float v) => Vector256.Create(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
            Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Avx.IsSupported ? Avx.Max(a, b) : Vector256.Max(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Min(Vector256<float> a, Vector256<float> b) => Avx.IsSupported ? Avx.Min(a, b) : Vector256.Min(a, b);
    }

    internal readonly struct Simd128 : ISimd<Vector128<float>>
    {
        public static int Count => 4;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float p, nint o) => Vector128.LoadUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, ref float p, nint o) => v.StoreUnsafe(ref p, (nuint)o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Splat(float v) => Vector128.Create(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
            AdvSimd.IsSupported ? AdvSimd.FusedMultiplyAdd(c, a, b) : Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) =>
            Sse.IsSupported ? Sse.Max(a, b) : AdvSimd.IsSupported ? AdvSimd.Max(a, b) : Vector128.Max(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Min(Vector128<float> a, Vector128<float> b) =>
            Sse.IsSupported ? Sse.Min(a, b) : AdvSimd.IsSupported ? AdvSimd.Min(a, b) : Vector128.Min(a, b);
    }

    /// <summary>One float: the scalar path, and the tail of vector loops. Max and Min follow maxps/minps (second operand if either is NaN).</summary>
    internal readonly struct Simd1 : ISimd<float>
    {
        public static int Count => 1;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(ref float p, nint o) => Unsafe.Add(ref p, o);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float v, ref float p, nint o) => Unsafe.Add(ref p, o) = v;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Splat(float v) => v;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MulAdd(float a, float b, float c) => a * b + c;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => a > b ? a : b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Min(float a, float b) => a < b ? a : b;
    }
}
