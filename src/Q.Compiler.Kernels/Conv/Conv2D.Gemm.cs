#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    internal static partial class Conv2D
    {
        /// <summary>
        /// 1x1 convolution with stride 1 and no padding, as one GEMM per image and group on NCHW data:
        /// y[g·mg + i, p] = act(b[g·mg + i] + Σ_c w[g·mg + i, c] · x[g·cg + c, p]) for p over the H·W pixels.
        /// The input planes are B [cg, H·W]; <paramref name="scratch"/> (Gemm.PackBufferLength(cg, H·W) floats, or
        /// empty) lets the GEMM pack them block by block.
        /// </summary>
        public static void Pointwise(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch,
            int n, int c, int hw, int m, int group, int act, float alpha, float beta)
        {
            int cg = c / group, mg = m / group;
            for (int ni = 0; ni < n; ni++)
                for (int g = 0; g < group; g++)
                {
                    var args = new GemmArgs
                    {
                        A = w.Slice(g * mg * cg, mg * cg), Lda = cg, AStep = 1,
                        B = x.Slice((ni * c + g * cg) * hw, cg * hw), BLayout = Gemm.BRowMajor, Ldb = hw,
                        C = y.Slice((ni * m + g * mg) * hw, mg * hw), Ldc = hw,
                        M = mg, N = hw, K = cg,
                        RowBias = b.Slice(g * mg, mg), RowBiasStep = 1, PackBuffer = scratch,
                        Act = act, ActAlpha = alpha, ActBeta = beta,
                    };
                    Gemm.Multiply(ref args);
                }
        }

        /// <summary>
        /// General convolution by im2col + GEMM. For each image, group and chunk of output pixels, the input patches are
        /// written into <paramref name="scratch"/> in the packed-panel layout of <see cref="Gemm"/> (K = cg·KH·KW rows
        /// per 16-pixel panel, row k = (c, ky, kx) in weight order, zeros where the window overlaps padding), then
        /// y[chunk] = act(b + W[mg, K] · patches). A chunk is as many 16-pixel panels as the scratch holds (at least one).
        /// </summary>
        public static void Im2Col(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW,
            int dilH, int dilW, int padTop, int padLeft, int group, int act, float alpha, float beta)
        {
            int cg = c / group, mg = m / group, k = cg * kh * kw, plane = oh * ow, inPlane = h * wd;
            const int W = Gemm.PanelWidth;
            int chunk = scratch.Length / (k * W) * W;
            if (chunk < W) throw new ArgumentException($"im2col scratch of {scratch.Length} floats is smaller than one panel ({k * W})", nameof(scratch));
            var geo = new PatchGeometry
            {
                C = cg, H = h, W = wd, OW = ow, KH = kh, KW = kw, StrideH = strideH, StrideW = strideW,
                DilH = dilH, DilW = dilW, PadTop = padTop, PadLeft = padLeft,
            };
            for (int ni = 0; ni < n; ni++)
                for (int g = 0; g < group; g++)
                {
                    ReadOnlySpan<float> xg = x.Slice((ni * c + g * cg) * inPlane, cg * inPlane);
                    for (int p0 = 0; p0 < plane; p0 += chunk)
                    {
                        int count = Math.Min(chunk, plane - p0);
                        Span<float> panels = scratch.Slice(0, (count + W - 1) / W * k * W);
                        Patches(xg, geo, p0, count, panels);
                        var args = new GemmArgs
                        {
                            A = w.Slice(g * mg * k, mg * k), Lda = k, AStep = 1,
                            B = panels, BLayout = Gemm.BPacked,
                            C = y.Slice((ni * m + g * mg) * plane + p0, (mg - 1) * plane + count), Ldc = plane,
                            M = mg, N = count, K = k,
                            RowBias = b.Slice(g * mg, mg), RowBiasStep = 1,
                            Act = act, ActAlpha = alpha, ActBeta = beta,
                        };
                        Gemm.Multiply(ref args);
                    }
                }
        }

        /// <summary>The convolution geometry im2col needs (for one group's channels).</summary>
        internal struct PatchGeometry
        {
            public int C, H, W, OW, KH, KW, StrideH, StrideW, DilH, DilW, PadTop, PadLeft;
        }

        /// <summary>
        /// Writes the patches of output pixels p0..p0+count−1 (row-major over the output plane) into panels of 16 pixels:
        /// element (k, pixel) at dst[(pixel / 16)·K·16 + k·16 + pixel % 16], unused lanes of the last panel zeroed.
        /// A panel's pixels fall into runs that share an output row; for each run and kernel tap the valid lanes form one
        /// interval (computed, not tested per lane), copied as a block for stride 1 and gathered for larger strides.
        /// </summary>
        internal static void Patches(ReadOnlySpan<float> x, in PatchGeometry g, int p0, int count, Span<float> dst)
        {
            const int W = Gemm.PanelWidth;
            int k = g.C * g.KH * g.KW, inPlane = g.H * g.W, sw = g.StrideW;
            if ((count + W - 1) / W * k * W > dst.Length || g.C * inPlane > x.Length)
                throw new ArgumentException("im2col operands are smaller than their shapes");
            Span<int> runStart = stackalloc int[W + 1];  // lane where each run of same-row pixels starts
            Span<int> runIy = stackalloc int[W];          // oy·sh − padTop of the run
            Span<int> runIx = stackalloc int[W];          // ox·sw − padLeft of the run's first pixel
            Span<int> rowOff = stackalloc int[W];         // input row offset for the current (channel, ky), −1 if padding
            ref float x0 = ref MemoryMarshal.GetReference(x);
            ref float d0 = ref MemoryMarshal.GetReference(dst);
            for (int q = 0; q * W < count; q++)
            {
                int first = p0 + q * W, lanes = Math.Min(W, count - q * W);
                int runs = 0;
                for (int l = 0; l < lanes;)
                {
                    int p = first + l, oy = p / g.OW, ox = p - oy * g.OW;
                    int len = Math.Min(lanes - l, g.OW - ox);
                    runStart[runs] = l; runIy[runs] = oy * g.StrideH - g.PadTop; runIx[runs] = ox * sw - g.PadLeft;
                    runs++; l += len;
                }
                runStart[runs] = lanes;
                ref float panel = ref Unsafe.Add(ref d0, (nint)q * k * W);
                int row = 0;
                for (int ci = 0; ci < g.C; ci++)
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        for (int r = 0; r < runs; r++)
                        {
                            int iy = runIy[r] + ky * g.DilH;
                            rowOff[r] = (uint)iy < (uint)g.H ? ci * inPlane + iy * g.W : -1;
                        }
                        for (int kx = 0; kx < g.KW; kx++, row++)
                        {
                            ref float d = ref Unsafe.Add(ref panel, (nint)row * W);
                            if (lanes < W) Zero(ref Unsafe.Add(ref d, lanes), W - lanes);
                            for (int r = 0; r < runs; r++)
                            {
                                int l0 = runStart[r], len = runStart[r + 1] - l0;
                                ref float dr = ref Unsafe.Add(ref d, l0);
                                int off = rowOff[r];
                                if (off < 0) { Zero(ref dr, len); continue; }
                                int ix0 = runIx[r] + kx * g.DilW;
                                // Lanes [a, b) read inside the row: 0 ≤ ix0 + l·sw < W (no division for stride 1).
                                int a, b;
                                if (sw == 1) { a = Math.Max(0, -ix0); b = Math.Min(len, g.W - ix0); }
                                else
                                {
                                    a = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
                                    b = ix0 >= g.W ? 0 : Math.Min(len, (g.W - ix0 + sw - 1) / sw);
                                }
                                if (b <= a) { Zero(ref dr, len); continue; }
                                if (a > 0) Zero(ref dr, a);
                                if (b < len) Zero(ref Unsafe.Add(ref dr, b), len - b);
                                ref float src = ref Unsafe.Add(ref x0, off + ix0 + a * sw);
                                if (sw == 1) CopySmall(ref src, ref Unsafe.Add(ref dr, a), b - a);
                                else
                                    for (int l = 0; l < b - a; l++) Unsafe.Add(ref dr, a + l) = Unsafe.Add(ref src, l * sw);
                            }
                        }
                    }
            }
        }

        /// <summary>Copies 1..16 floats with at most two (overlapping) vector moves.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopySmall(ref float src, ref float dst, int len)
        {
            if (Vector256.IsHardwareAccelerated && len >= 8)
            {
                Vector256.LoadUnsafe(ref src).StoreUnsafe(ref dst);
                Vector256.LoadUnsafe(ref src, (nuint)(len - 8)).StoreUnsafe(ref dst, (nuint)(len - 8));
                return;
            }
            int i = 0;
            if (Vector128.IsHardwareAccelerated && len >= 4)
            {
                for (; i <= len - 4; i += 4) Vector128.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
                if (i < len) Vector128.LoadUnsafe(ref src, (nuint)(len - 4)).StoreUnsafe(ref dst, (nuint)(len - 4));
                return;
            }
            for (; i < len; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
        }

        /// <summary>Zeroes 1..16 floats.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Zero(ref float dst, int len)
        {
            if (Vector256.IsHardwareAccelerated && len >= 8)
            {
                Vector256<float>.Zero.StoreUnsafe(ref dst);
                Vector256<float>.Zero.StoreUnsafe(ref dst, (nuint)(len - 8));
                return;
            }
            int i = 0;
            if (Vector128.IsHardwareAccelerated && len >= 4)
            {
                for (; i <= len - 4; i += 4) Vector128<float>.Zero.StoreUnsafe(ref dst, (nuint)i);
                if (i < len) Vector128<float>.Zero.StoreUnsafe(ref dst, (nuint)(len - 4));
                return;
            }
            for (; i < len; i++) Unsafe.Add(ref dst, i) = 0f;
        }
    }
}
