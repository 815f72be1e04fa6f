#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>Conversions at the boundary of float16 models, which compute in float32 inside.</summary>
    internal static class HalfConvert
    {
        /// <summary>y = (float)x (exact).</summary>
        public static void ToSingle(ReadOnlySpan<Half> x, Span<float> y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = (float)x[i];
        }

        /// <summary>y = (Half)x, rounded to nearest even; overflow becomes ±∞.</summary>
        public static void ToHalf(ReadOnlySpan<float> x, Span<Half> y)
        {
            for (int i = 0; i < y.Length; i++) y[i] = (Half)x[i];
        }
    }
}
