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
                case HardSigmoid: for (int i = 0; i < y.Length; i++) y[i] = MathF.Max(0f, MathF.Min(1f, alpha * y[i] + beta)); return;
                case HardSwish: for (int i = 0; i < y.Length; i++) { float v = y[i]; y[i] = v * MathF.Max(0f, MathF.Min(1f, v / 6f + 0.5f)); } return;
                case Tanh: for (int i = 0; i < y.Length; i++) y[i] = MathF.Tanh(y[i]); return;
                default: throw new ArgumentOutOfRangeException(nameof(kind));
            }
        }

        private static void ClampVec(Span<float> y, float lo, float hi)
        {
            int i = 0;
            ref float r = ref MemoryMarshal.GetReference(y);
            if (Vector256.IsHardwareAccelerated)
            {
                var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                for (; i <= y.Length - 8; i += 8)
                    Simd256.Min(Simd256.Max(Vector256.LoadUnsafe(ref r, (nuint)i), vlo), vhi).StoreUnsafe(ref r, (nuint)i);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi);
                for (; i <= y.Length - 4; i += 4)
                    Simd128.Min(Simd128.Max(Vector128.LoadUnsafe(ref r, (nuint)i), vlo), vhi).StoreUnsafe(ref r, (nuint)i);
            }
            for (; i < y.Length; i++) { float v = Unsafe.Add(ref r, i); Unsafe.Add(ref r, i) = MathF.Min(MathF.Max(v, lo), hi); }
        }
    }
}
