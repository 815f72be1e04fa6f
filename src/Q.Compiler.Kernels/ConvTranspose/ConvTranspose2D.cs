#nullable enable
using System;

// Requires: KernelCommon, Activation
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Transposed convolution over NCHW, weights [C, M/group, KH, KW]. For every (input channel, output channel, kernel tap)
    /// an input row is scattered into an output row: with stride 1 that is a contiguous y += w·x (vectorized axpy),
    /// otherwise every s-th output element. Output pixels no tap reaches keep the bias. A fused activation is applied last.
    /// </summary>
    internal static class ConvTranspose2D
    {
        public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW,
            int dilH, int dilW, int padTop, int padLeft, int group, int activation, float alpha, float beta)
        {
            int cg = c / group, mg = m / group, inPlane = h * wd, outPlane = oh * ow;
            for (int b = 0; b < n; b++)
            {
                for (int oc = 0; oc < m; oc++) y.Slice((b * m + oc) * outPlane, outPlane).Fill(bias[oc]);
                for (int ic = 0; ic < c; ic++)
                {
                    int grp = ic / cg;
                    ReadOnlySpan<float> xp = x.Slice((b * c + ic) * inPlane, inPlane);
                    for (int ml = 0; ml < mg; ml++)
                    {
                        Span<float> yp = y.Slice((b * m + grp * mg + ml) * outPlane, outPlane);
                        ReadOnlySpan<float> wk = w.Slice((ic * mg + ml) * kh * kw, kh * kw);
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                float wv = wk[ky * kw + kx];
                                if (wv == 0f) continue;
                                // Output column of input column iw: iw·s + off; keep 0 ≤ ow < OW.
                                int off = kx * dilW - padLeft;
                                int iw0 = off >= 0 ? 0 : (-off + strideW - 1) / strideW;
                                int iw1 = Math.Min(wd, (ow - 1 - off) / strideW + 1); // exclusive
                                if (ow - 1 - off < 0 || iw1 <= iw0) continue;
                                for (int iy = 0; iy < h; iy++)
                                {
                                    int oy = iy * strideH - padTop + ky * dilH;
                                    if ((uint)oy >= (uint)oh) continue;
                                    ReadOnlySpan<float> xr = xp.Slice(iy * wd, wd);
                                    Span<float> yr = yp.Slice(oy * ow, ow);
                                    if (strideW == 1)
                                        KernelCommon.Axpy(wv, xr.Slice(iw0, iw1 - iw0), yr.Slice(iw0 + off, iw1 - iw0));
                                    else
                                        for (int iw = iw0; iw < iw1; iw++) yr[iw * strideW + off] += wv * xr[iw];
                                }
                            }
                    }
                }
                Activation.Apply(y.Slice(b * m * outPlane, m * outPlane), activation, alpha, beta);
            }
        }
    }
}
