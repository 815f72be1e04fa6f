#nullable enable
using System.Runtime.CompilerServices;

namespace Q.Compiler.Kernels
{
    internal static partial class Gemm
    {
        /// <summary>
        /// No SIMD: one row at a time, each 16-column panel as four groups of four scalar accumulators (plain multiply
        /// and add: a software fused multiply-add would be far slower).
        /// </summary>
        internal readonly struct ScalarKernel : IGemmKernel
        {
            public static int MaxRows => 1;

            public static void Run(ref GemmTile t, int rows)
            {
                nint aStep = t.AStep, ldb = t.Ldb;
                int k = t.K;
                float lo = t.Lo, hi = t.Hi;
                for (int p = 0; p < t.Panels; p++)
                {
                    ref float c = ref Unsafe.Add(ref t.C, p * 16);
                    ref float cb = ref Unsafe.Add(ref t.ColBias, p * t.ColBiasPanelStep);
                    for (int j = 0; j < 16; j += 4)
                    {
                        float s0, s1, s2, s3;
                        if (t.Accumulate)
                        {
                            s0 = Unsafe.Add(ref c, j); s1 = Unsafe.Add(ref c, j + 1); s2 = Unsafe.Add(ref c, j + 2); s3 = Unsafe.Add(ref c, j + 3);
                        }
                        else
                        {
                            float r = t.RowBias;
                            s0 = r + Unsafe.Add(ref cb, j); s1 = r + Unsafe.Add(ref cb, j + 1); s2 = r + Unsafe.Add(ref cb, j + 2); s3 = r + Unsafe.Add(ref cb, j + 3);
                        }
                        ref float a = ref t.A;
                        ref float bPanel = ref Unsafe.Add(ref Unsafe.Add(ref t.B, p * t.PanelStride), j);
                        ref float b = ref bPanel;
                        for (int kk = 0; kk < k; kk++)
                        {
                            if (t.Indirect) b = ref Unsafe.Add(ref bPanel, Unsafe.Add(ref t.Offsets, kk));
                            float x = a;
                            s0 += x * b; s1 += x * Unsafe.Add(ref b, 1); s2 += x * Unsafe.Add(ref b, 2); s3 += x * Unsafe.Add(ref b, 3);
                            a = ref Unsafe.Add(ref a, aStep);
                            if (!t.Indirect) b = ref Unsafe.Add(ref b, ldb);
                        }
                        if (t.Clamp)
                        {
                            s0 = Clamp(s0, lo, hi); s1 = Clamp(s1, lo, hi); s2 = Clamp(s2, lo, hi); s3 = Clamp(s3, lo, hi);
                        }
                        Unsafe.Add(ref c, j) = s0; Unsafe.Add(ref c, j + 1) = s1; Unsafe.Add(ref c, j + 2) = s2; Unsafe.Add(ref c, j + 3) = s3;
                    }
                }
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static float Clamp(float v, float lo, float hi) => System.MathF.Min(System.MathF.Max(v, lo), hi); // ONNX Clip: hi wins when lo > hi
        }
    }
}
