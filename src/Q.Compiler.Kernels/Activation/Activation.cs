#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    // Requires: Simd
    /// <summary>
    /// Activations applied in place by kernels that fuse them. Codes: 0 none, 1 Relu, 2 Clip(alpha=min, beta=max),
    /// 3 LeakyRelu(alpha), 4 Sigmoid, 5 HardSigmoid(alpha, beta), 6 HardSwish, 7 Tanh.
    /// </summary>
    internal static class Activation
    {
        public const int None = 0, Relu = 1, Clip = 2, LeakyRelu = 3, Sigmoid = 4, HardSigmoid = 5, HardSwish = 6, Tanh = 7;

        public static void Apply(Span<float> y, int kind, float alpha, float beta)
        {
            switch (kind)
            {
                case None: return;
                case Relu: ClampVec(y, 0f, float.PositiveInfinity); return;
                case Clip: ClampVec(y, alpha, beta); return;
                case LeakyRelu:
                {
                    int i = 0;
                    ref float r = ref MemoryMarshal.GetReference(y);
                    if (Vector256.IsHardwareAccelerated)
                    {
                        var va = Vector256.Create(alpha);
                        for (; i <= y.Length - 8; i += 8)
                        {
                            var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                            Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero), v, v * va).StoreUnsafe(ref r, (nuint)i);
                        }
                    }
                    for (; i < y.Length; i++) { float v = y[i]; y[i] = v >= 0 ? v : v * alpha; }
                    return;
                }
                case Sigmoid: for (int i = 0; i < y.Length; i++) y[i] = 1f / (1f + MathF.Exp(-y[i])); return;
                case HardSigmoid: Hard(y, alpha, beta, swish: false); return;
                case HardSwish: Hard(y, 1f / 6f, 0.5f, swish: true); return;
                case Tanh: for (int i = 0; i < y.Length; i++) y[i] = MathF.Tanh(y[i]); return;
                default: throw new ArgumentOutOfRangeException(nameof(kind));
            }
        }

        /// <summary>h = min(1, max(0, a·v + b)); y = h (HardSigmoid) or v·h (HardSwish, a = 1/6, b = 1/2). NaN stays NaN.</summary>
        private static void Hard(Span<float> y, float a, float b, bool swish)
        {
            int i = 0;
            ref float r = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated) i = HardVec<Simd256, Vector256<float>>(ref r, y.Length, a, b, swish);
            else if (Vector128.IsHardwareAccelerated) i = HardVec<Simd128, Vector128<float>>(ref r, y.Length, a, b, swish);
            for (; i < y.Length; i++)
            {
                float v = Unsafe.Add(ref r, i), h = MathF.Min(1f, MathF.Max(0f, a * v + b));
                Unsafe.Add(ref r, i) = swish ? v * h : h;
            }
        }

        private static int HardVec<TS, TV>(ref float r, int n, float a, float b, bool swish) where TS : struct, ISimd<TV> where TV : struct
        {
            TV va = TS.Splat(a), vb = TS.Splat(b), zero = TS.Splat(0f), one = TS.Splat(1f);
            int i = 0;
            for (; i <= n - TS.Count; i += TS.Count)
            {
                TV v = TS.Load(ref r, i);
                // The value in the second operand: hardware max/min return it when it is NaN.
                TV h = TS.Min(one, TS.Max(zero, TS.MulAdd(va, v, vb)));
                TS.Store(swish ? TS.Mul(v, h) : h, ref r, i);
            }
            return i;
        }

        private static void ClampVec(Span<float> y, float lo, float hi) => ClampInto(y, y, lo, hi);

        /// <summary>y[i] = min(max(x[i], lo), hi) in one pass (Relu: lo = 0, hi = +∞); x and y may be the same span.</summary>
        public static void ClampInto(ReadOnlySpan<float> x, Span<float> y, float lo, float hi)
        {
            int i = 0, n = y.Length;
            if (x.Length < n) throw new ArgumentException("Activation.ClampInto: x is shorter than y");
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float r = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
            {
                var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                for (; i <= n - 8; i += 8)
                    Simd256.Min(Simd256.Max(Vector256.LoadUnsafe(ref xr, (nuint)i), vlo), vhi).StoreUnsafe(ref r, (nuint)i);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi);
                for (; i <= n - 4; i += 4)
                    Simd128.Min(Simd128.Max(Vector128.LoadUnsafe(ref xr, (nuint)i), vlo), vhi).StoreUnsafe(ref r, (nuint)i);
            }
            for (; i < n; i++) { float v = Unsafe.Add(ref xr, i); Unsafe.Add(ref r, i) = MathF.Min(MathF.Max(v, lo), hi); }
        }
    }
}
