#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    // Requires: Activation, Gemm, Simd, PaddedPlane
    /// <summary>
    /// Float 2-D convolution (1-D is H = 1), NCHW, weights [M, C/group, KH, KW], with bias and a fused activation.
    /// Three strategies, chosen at build time by the lowering:
    /// <list type="bullet">
    /// <item><see cref="Pointwise"/> (Conv2D.Gemm.cs): 1x1, stride 1, no padding: a GEMM directly on NCHW, weights as A
    /// [M, C], the input planes as a row-major B [C, H·W], output rows = channels.</item>
    /// <item><see cref="ImplicitGemm"/> (Conv2D.Gemm.cs): other stride-1 convolutions, and strided ones with rows of
    /// at least 32 outputs: the input is padded (and split by column phase) once into scratch and the GEMM reads each
    /// row of its B (one kernel tap of one channel) in place through an offset table, so no im2col matrix is built.</item>
    /// <item><see cref="Im2Col"/> (Conv2D.Gemm.cs): everything else that is not depthwise: for a chunk of output pixels,
    /// the receptive fields are gathered (im2col) straight into the GEMM's packed-panel layout in a scratch buffer, then
    /// multiplied by the weights [M, C·KH·KW]; bias and activation are the GEMM epilogue.</item>
    /// <item><see cref="Depthwise"/> (Conv2D.Depthwise.cs): one filter per channel (group = C = M): each channel is
    /// padded (and split by column phase for strides above 1) into a scratch plane, then every output row is a sum of
    /// KH·KW shifted, contiguous input rows, vectorized along the row (3x3 unrolled).</item>
    /// </list>
    /// <see cref="Run"/> is the direct method (no scratch): a fallback and a second opinion in tests.
    /// </summary>
    internal static partial class Conv2D
    {
        /// <summary>Direct convolution: each output plane accumulates one shifted input row per (input channel, kh, kw).</summary>
        public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW,
            int dilH, int dilW, int padTop, int padLeft, int group, int act, float alpha, float beta)
        {
            int cg = c / group, mg = m / group, plane = oh * ow, inPlane = h * wd;
            for (int ni = 0; ni < n; ni++)
                for (int oc = 0; oc < m; oc++)
                {
                    int g = oc / mg;
                    Span<float> yp = y.Slice((ni * m + oc) * plane, plane);
                    yp.Fill(b[oc]);
                    for (int ic = 0; ic < cg; ic++)
                    {
                        ReadOnlySpan<float> xp = x.Slice((ni * c + g * cg + ic) * inPlane, inPlane);
                        ReadOnlySpan<float> wk = w.Slice(((oc * cg) + ic) * kh * kw, kh * kw);
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                float wv = wk[ky * kw + kx];
                                if (wv == 0f) continue;
                                int xOff = kx * dilW - padLeft;
                                // Output columns whose input column ox*s + xOff lies in [0, wd).
                                int oxLo = xOff >= 0 ? 0 : (-xOff + strideW - 1) / strideW;
                                int oxHi = Math.Min(ow, (wd - 1 - xOff) / strideW + 1);
                                if (wd - 1 - xOff < 0 || oxLo >= oxHi) continue;
                                for (int oy = 0; oy < oh; oy++)
                                {
                                    int iy = oy * strideH + ky * dilH - padTop;
                                    if ((uint)iy >= (uint)h) continue;
                                    Span<float> yr = yp.Slice(oy * ow, ow);
                                    ReadOnlySpan<float> xr = xp.Slice(iy * wd, wd);
                                    if (strideW == 1)
                                        KernelCommon.Axpy(wv, xr.Slice(oxLo + xOff, oxHi - oxLo), yr.Slice(oxLo, oxHi - oxLo));
                                    else
                                        for (int ox = oxLo; ox < oxHi; ox++) yr[ox] += wv * xr[ox * strideW + xOff];
                                }
                            }
                    }
                    Activation.Apply(yp, act, alpha, beta);
                }
        }
    }
}
