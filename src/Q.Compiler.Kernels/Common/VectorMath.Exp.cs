#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

// Requires: Simd
namespace Q.Compiler.Kernels
{
    internal static partial class VectorMath
    {
        // e^x = 2^n · e^r with n = round(x · log2 e) and r = x − n·ln 2 in [−ln2/2, ln2/2] (ln 2 in two parts, the first
        // exact in 9 bits, so n·Ln2Hi is exact), e^r by Cephes' degree-7 polynomial (relative error about 1e−7, one or two
        // ulp). 2^n is applied as two powers 2^n1 · 2^n2 (n1 = n >> 1) so that results which underflow to subnormals round
        // once, and results beyond float's range become +∞. x is clamped to [−104, 89] (e^−104 rounds to 0, e^89 to +∞);
        // NaN stays NaN.
        private const float ExpLo = -104f, ExpHi = 89f;
        private const float Log2E = 1.44269504088896341f;
        private const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
        private const float RoundMagic = 12582912f;      // 1.5·2^23: t = v + magic holds round(v) in its low mantissa bits
        private const int RoundMagicBits = 0x4B400000;   // the bit pattern of RoundMagic
        private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

        /// <summary>
        /// y[i] = e^x[i] within two ulp (subnormal results within one subnormal step), vectorized. The last partial vector
        /// goes through the same vector code (via a small buffer), so an element's result does not depend on its position.
        /// </summary>
        public static void Exp(ReadOnlySpan<float> x, Span<float> y)
        {
            int n = x.Length, i = 0;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i <= n - 8; i += 8) Exp(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
                if (i < n)
                {
                    Span<float> tail = stackalloc float[8];
                    x.Slice(i).CopyTo(tail);
                    Exp(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(tail))).StoreUnsafe(ref MemoryMarshal.GetReference(tail));
                    tail.Slice(0, n - i).CopyTo(y.Slice(i));
                }
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                for (; i <= n - 4; i += 4) Exp(Vector128.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
                if (i < n)
                {
                    Span<float> tail = stackalloc float[4];
                    x.Slice(i).CopyTo(tail);
                    Exp(Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(tail))).StoreUnsafe(ref MemoryMarshal.GetReference(tail));
                    tail.Slice(0, n - i).CopyTo(y.Slice(i));
                }
                return;
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = MathF.Exp(Unsafe.Add(ref xr, i));
        }

        /// <summary>e^x lane by lane (see <see cref="Exp(ReadOnlySpan{float}, Span{float})"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Exp(Vector256<float> x)
        {
            // Max/Min return the bound for a NaN lane (maxps semantics); the final select puts the NaN back.
            var v = Simd256.Min(Simd256.Max(x, Vector256.Create(ExpLo)), Vector256.Create(ExpHi));
            var t = Simd256.MulAdd(v, Vector256.Create(Log2E), Vector256.Create(RoundMagic));
            var nf = t - Vector256.Create(RoundMagic);
            var r = Simd256.MulAdd(nf, Vector256.Create(-Ln2Hi), v);
            r = Simd256.MulAdd(nf, Vector256.Create(-Ln2Lo), r);
            var p = Simd256.MulAdd(Vector256.Create(P0), r, Vector256.Create(P1));
            p = Simd256.MulAdd(p, r, Vector256.Create(P2));
            p = Simd256.MulAdd(p, r, Vector256.Create(P3));
            p = Simd256.MulAdd(p, r, Vector256.Create(P4));
            p = Simd256.MulAdd(p, r, Vector256.Create(P5));
            p = Simd256.MulAdd(p, r * r, r) + Vector256.Create(1f);
            var ni = t.AsInt32() - Vector256.Create(RoundMagicBits);
            var n1 = Vector256.ShiftRightArithmetic(ni, 1);
            var n2 = ni - n1;
            var s1 = Vector256.ShiftLeft(n1 + Vector256.Create(127), 23).AsSingle();
            var s2 = Vector256.ShiftLeft(n2 + Vector256.Create(127), 23).AsSingle();
            return Vector256.ConditionalSelect(Vector256.Equals(x, x), p * s1 * s2, x);
        }

        /// <summary>e^x lane by lane (see <see cref="Exp(ReadOnlySpan{float}, Span{float})"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Exp(Vector128<float> x)
        {
            var v = Simd128.Min(Simd128.Max(x, Vector128.Create(ExpLo)), Vector128.Create(ExpHi));
            var t = Simd128.MulAdd(v, Vector128.Create(Log2E), Vector128.Create(RoundMagic));
            var nf = t - Vector128.Create(RoundMagic);
            var r = Simd128.MulAdd(nf, Vector128.Create(-Ln2Hi), v);
            r = Simd128.MulAdd(nf, Vector128.Create(-Ln2Lo), r);
            var p = Simd128.MulAdd(Vector128.Create(P0), r, Vector128.Create(P1));
            p = Simd128.MulAdd(p, r, Vector128.Create(P2));
            p = Simd128.MulAdd(p, r, Vector128.Create(P3));
            p = Simd128.MulAdd(p, r, Vector128.Create(P4));
            p = Simd128.MulAdd(p, r, Vector128.Create(P5));
            p = Simd128.MulAdd(p, r * r, r) + Vector128.Create(1f);
            var ni = t.AsInt32() - Vector128.Create(RoundMagicBits);
            var n1 = Vector128.ShiftRightArithmetic(ni, 1);
            var n2 = ni - n1;
            var s1 = Vector128.ShiftLeft(n1 + Vector128.Create(127), 23).AsSingle();
            var s2 = Vector128.ShiftLeft(n2 + Vector128.Create(127), 23).AsSingle();
            return Vector128.ConditionalSelect(Vector128.Equals(x, x), p * s1 * s2, x);
        }
    }
}
