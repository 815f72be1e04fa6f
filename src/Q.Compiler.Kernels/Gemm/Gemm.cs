#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    // Requires: Activation
    /// <summary>
    /// Float matrix multiply: y = act(alpha·op(A)·op(B) + beta·C). Rows of y are accumulated as axpy's over rows of B
    /// (B is [K, N] unless transB), so the inner loop is a vectorized, contiguous stream.
    /// biasMode: 0 none, 1 scalar, 2 per column [N], 3 per row [M,1], 4 full [M,N].
    /// </summary>
    internal static class Gemm
    {
        public static void Run(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y,
            int m, int n, int k, bool transA, bool transB, float alpha, float beta, int biasMode, int act, float actAlpha, float actBeta)
        {
            for (int i = 0; i < m; i++)
            {
                Span<float> yr = y.Slice(i * n, n);
                yr.Clear();
                if (!transB)
                {
                    for (int kk = 0; kk < k; kk++)
                    {
                        float av = transA ? a[kk * m + i] : a[i * k + kk];
                        if (av != 0f) KernelCommon.Axpy(av, b.Slice(kk * n, n), yr);
                    }
                }
                else if (!transA)
                {
                    ReadOnlySpan<float> ar = a.Slice(i * k, k);
                    for (int j = 0; j < n; j++) yr[j] = KernelCommon.Dot(ar, b.Slice(j * k, k));
                }
                else
                {
                    for (int j = 0; j < n; j++)
                    {
                        float s = 0;
                        for (int kk = 0; kk < k; kk++) s += a[kk * m + i] * b[j * k + kk];
                        yr[j] = s;
                    }
                }
                if (alpha != 1f) for (int j = 0; j < n; j++) yr[j] *= alpha;
                switch (biasMode)
                {
                    case 1: { float v = beta * c[0]; for (int j = 0; j < n; j++) yr[j] += v; break; }
                    case 2: for (int j = 0; j < n; j++) yr[j] += beta * c[j]; break;
                    case 3: { float v = beta * c[i]; for (int j = 0; j < n; j++) yr[j] += v; break; }
                    case 4: for (int j = 0; j < n; j++) yr[j] += beta * c[i * n + j]; break;
                }
                Activation.Apply(yr, act, actAlpha, actBeta);
            }
        }

        /// <summary>Batched MatMul: for each batch t, y[t] = A at aOffsets[t] (M×K) · B at bOffsets[t] (K×N).</summary>
        public static void Batched(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, int m, int n, int k,
            ReadOnlySpan<int> aOffsets, ReadOnlySpan<int> bOffsets, int act, float actAlpha, float actBeta)
        {
            for (int t = 0; t < aOffsets.Length; t++)
            {
                ReadOnlySpan<float> at = a.Slice(aOffsets[t], m * k);
                ReadOnlySpan<float> bt = b.Slice(bOffsets[t], k * n);
                Span<float> yt = y.Slice(t * m * n, m * n);
                for (int i = 0; i < m; i++)
                {
                    Span<float> yr = yt.Slice(i * n, n);
                    yr.Clear();
                    for (int kk = 0; kk < k; kk++) KernelCommon.Axpy(at[i * k + kk], bt.Slice(kk * n, n), yr);
                }
                Activation.Apply(yt, act, actAlpha, actBeta);
            }
        }
    }
}
