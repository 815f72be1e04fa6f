#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    internal static partial class Reduce
    {
        /// <summary>ArgMax / ArgMin along the middle axis of [outer, r, inner]; ties go to the first index, or the last with <paramref name="last"/>.</summary>
        public static void ArgExtreme(ReadOnlySpan<float> x, Span<long> y, int outer, int r, int inner, bool max, bool last)
        {
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                {
                    int b = o * r * inner + j;
                    int best = 0;
                    float bv = x[b];
                    for (int k = 1; k < r; k++)
                    {
                        float v = x[b + k * inner];
                        bool better = max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
                        if (better) { best = k; bv = v; }
                    }
                    y[o * inner + j] = best;
                }
        }
    }
}
