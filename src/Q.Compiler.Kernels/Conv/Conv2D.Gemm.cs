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

        /// <summary>Output columns one implicit-GEMM call aims for when rows are batched (see <see cref="ImplicitGemm"/>).</summary>
        public const int ImplicitGemmChunkColumns = 512;

        /// <summary>
        /// Floats of scratch <see cref="ImplicitGemm"/> needs: the padded, column-phase-split input, 16 floats of slack,
        /// K offsets, and (for stride 1 unless OW is a multiple of 16 and at least 64) a staging tile of mg × R·PW
        /// outputs, R = max(1, 512 / PW).
        /// </summary>
        public static int ImplicitGemmScratchLength(int c, int h, int wd, int m, int kh, int kw, int strideH, int strideW, int dilW, int group,
            int padTop, int padLeft, int padBottom, int padRight)
        {
            int pw = wd + padLeft + padRight, pws = (pw + strideW - 1) / strideW, ow = (pw - (kw - 1) * dilW - 1) / strideW + 1;
            int rows = ImplicitGemmRowsPerCall(ow, pw, strideH, strideW);
            int staging = rows == 0 ? 0 : m / group * rows * pw;
            return c * (h + padTop + padBottom) * strideW * pws + Gemm.PanelWidth + c / group * kh * kw + staging;
        }

        /// <summary>Output rows per GEMM when rows are batched through the staging tile; 0 when each row goes straight to y.</summary>
        private static int ImplicitGemmRowsPerCall(int ow, int pw, int strideH, int strideW) =>
            strideH > 1 || strideW > 1 || (ow % Gemm.PanelWidth == 0 && ow >= 4 * Gemm.PanelWidth) ? 0 : Math.Max(1, ImplicitGemmChunkColumns / pw);

        /// <summary>
        /// Convolution as an implicit GEMM: the input is copied once into <paramref name="scratch"/> with its zero padding
        /// and its columns split by phase for strides above 1 (<see cref="PaddedPlane"/>: PH = H + padTop + padBottom rows
        /// of s·PWs floats), so that row k = (c, ky, kx) of B for output row oy is a contiguous run of that copy: row
        /// oy·sh + ky·dh, phase (kx·dw) mod s, from slot (kx·dw) div s. The GEMM reads it in place through a table of K
        /// offsets (<see cref="Gemm.BOffsets"/>); no im2col matrix is written.
        /// <para>
        /// One GEMM per output row straight into y, or, for stride 1 and rows that are narrow or not a multiple of 16,
        /// R rows per GEMM over the flat columns oy·PW + ox (the KW−1 columns between rows are computed and dropped) into
        /// a staging tile copied row by row into y, so narrow planes fill whole panels instead of a ragged one per row.
        /// Scratch: <see cref="ImplicitGemmScratchLength"/> floats.
        /// </para>
        /// </summary>
        public static void ImplicitGemm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int group, int act, float alpha, float beta)
        {
            int cg = c / group, mg = m / group, k = cg * kh * kw, s = strideW;
            int ph = h + padTop + padBottom, pw = wd + padLeft + padRight, pws = (pw + s - 1) / s, rowLen = s * pws;
            int planeP = ph * rowLen, plane = oh * ow, inPlane = h * wd;
            int paddedLength = c * planeP + Gemm.PanelWidth;
            if (strideH < 1 || s < 1 || oh < 1 || ow < 1 || (oh - 1) * strideH + (kh - 1) * dilH >= ph || (ow - 1) * s + (kw - 1) * dilW >= pw)
                throw new ArgumentException("implicit GEMM convolution: the output is larger than the padded input allows");
            int rowsPerCall = ImplicitGemmRowsPerCall(ow, pw, strideH, s);
            if (rowsPerCall > 0 && (oh != ph - (kh - 1) * dilH || ow != pw - (kw - 1) * dilW))
                throw new ArgumentException("implicit GEMM convolution: batched rows need the full stride-1 output");
            int stagingLength = rowsPerCall == 0 ? 0 : mg * rowsPerCall * pw;
            if (scratch.Length < paddedLength + k + stagingLength)
                throw new ArgumentException($"implicit GEMM scratch of {scratch.Length} floats is smaller than {paddedLength + k + stagingLength}", nameof(scratch));
            Span<float> padded = scratch.Slice(0, paddedLength);
            Span<int> offsets = MemoryMarshal.Cast<float, int>(scratch.Slice(paddedLength, k));
            Span<float> staging = scratch.Slice(paddedLength + k, stagingLength);
            int row = 0;
            for (int ci = 0; ci < cg; ci++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int t = kx * dilW;
                        offsets[row++] = ci * planeP + ky * dilH * rowLen + (t % s) * pws + t / s;
                    }
            padded.Slice(c * planeP).Clear();
            for (int ni = 0; ni < n; ni++)
            {
                for (int ch = 0; ch < c; ch++)
                    PaddedPlane.Write(x.Slice((ni * c + ch) * inPlane, inPlane), h, wd, padTop, padLeft, ph, s, pws, 0f,
                        padded.Slice(ch * planeP, planeP), padsWritten: ni > 0);
                for (int g = 0; g < group; g++)
                {
                    var args = new GemmArgs
                    {
                        A = w.Slice(g * mg * k, mg * k), Lda = k, AStep = 1,
                        BLayout = Gemm.BOffsets, Offsets = offsets,
                        M = mg, K = k,
                        RowBias = b.Slice(g * mg, mg), RowBiasStep = 1,
                        Act = act, ActAlpha = alpha, ActBeta = beta,
                    };
                    Span<float> yg = y.Slice((ni * m + g * mg) * plane, mg * plane);
                    for (int oy = 0; oy < oh;)
                    {
                        args.B = padded.Slice(g * cg * planeP + oy * strideH * rowLen);
                        if (rowsPerCall == 0)
                        {
                            args.C = yg.Slice(oy * ow, (mg - 1) * plane + ow); args.Ldc = plane; args.N = ow;
                            Gemm.Multiply(ref args);
                            oy++;
                            continue;
                        }
                        int rows = Math.Min(rowsPerCall, oh - oy), cols = (rows - 1) * pw + ow, ldc = rowsPerCall * pw;
                        args.C = staging.Slice(0, (mg - 1) * ldc + cols); args.Ldc = ldc; args.N = cols;
                        Gemm.Multiply(ref args);
                        for (int i = 0; i < mg; i++)
                            for (int r = 0; r < rows; r++)
                                staging.Slice(i * ldc + r * pw, ow).CopyTo(yg.Slice(i * plane + (oy + r) * ow, ow));
                        oy += rows;
                    }
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
        /// Row-oriented: for each k = (c, ky, kx) and each output row the chunk touches, the pixels whose window column
        /// lies inside the input form one interval (computed once per kx), copied from one input row (a contiguous run
        /// for stride 1, a strided gather otherwise) and scattered into the panels 16 lanes at a time; the rest is zeroed.
        /// </summary>
        internal static void Patches(ReadOnlySpan<float> x, in PatchGeometry g, int p0, int count, Span<float> dst)
        {
            const int W = Gemm.PanelWidth;
            int k = g.C * g.KH * g.KW, inPlane = g.H * g.W, sw = g.StrideW, ow = g.OW;
            int panels = (count + W - 1) / W;
            if (count <= 0 || panels * k * W > dst.Length || g.C * inPlane > x.Length || ow <= 0)
                throw new ArgumentException("im2col operands are smaller than their shapes");
            ref float x0 = ref MemoryMarshal.GetReference(x);
            ref float d0 = ref MemoryMarshal.GetReference(dst);
            nint panelStride = (nint)k * W;
            int oyFirst = p0 / ow, oyLast = (p0 + count - 1) / ow;
            int row = 0;
            for (int ci = 0; ci < g.C; ci++)
                for (int ky = 0; ky < g.KH; ky++)
                    for (int kx = 0; kx < g.KW; kx++, row++)
                    {
                        ref float dRow = ref Unsafe.Add(ref d0, (nint)row * W);
                        if (count % W != 0) Zero(ref Unsafe.Add(ref dRow, (panels - 1) * panelStride + count % W), W - count % W);
                        // Output columns [lo, hi) read inside the input row: 0 ≤ ox·sw + shift < W.
                        int shift = kx * g.DilW - g.PadLeft;
                        int lo = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                        int hi = shift >= g.W ? 0 : (g.W - shift + sw - 1) / sw;
                        lo = Math.Min(lo, ow); hi = Math.Min(Math.Max(hi, lo), ow);
                        for (int oy = oyFirst; oy <= oyLast; oy++)
                        {
                            int oxa = oy == oyFirst ? p0 - oy * ow : 0, oxb = oy == oyLast ? p0 + count - oy * ow : ow;
                            int q = oy * ow + oxa - p0;
                            int iy = oy * g.StrideH + ky * g.DilH - g.PadTop;
                            if ((uint)iy >= (uint)g.H) { ZeroPixels(ref dRow, panelStride, q, oxb - oxa); continue; }
                            int a = Math.Min(Math.Max(lo, oxa), oxb), b = Math.Min(Math.Max(hi, a), oxb);
                            if (a > oxa) ZeroPixels(ref dRow, panelStride, q, a - oxa);
                            if (b > a)
                                CopyPixels(ref Unsafe.Add(ref x0, ci * inPlane + iy * g.W + a * sw + shift), sw, ref dRow, panelStride, q + a - oxa, b - a);
                            if (oxb > b) ZeroPixels(ref dRow, panelStride, q + b - oxa, oxb - b);
                        }
                    }
        }

        /// <summary>Copies src[i·sw] for i &lt; len to pixels q, q+1, ... of one panel row (16 lanes per panel).</summary>
        private static void CopyPixels(ref float src, int sw, ref float dRow, nint panelStride, int q, int len)
        {
            const int W = Gemm.PanelWidth;
            while (len > 0)
            {
                int lane = q & (W - 1), n = Math.Min(W - lane, len);
                ref float d = ref Unsafe.Add(ref dRow, (q >> 4) * panelStride + lane);
                if (sw == 1) CopySmall(ref src, ref d, n);
                else for (int i = 0; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref src, i * sw);
                src = ref Unsafe.Add(ref src, n * sw);
                q += n; len -= n;
            }
        }

        /// <summary>Zeroes pixels q..q+len−1 of one panel row.</summary>
        private static void ZeroPixels(ref float dRow, nint panelStride, int q, int len)
        {
            const int W = Gemm.PanelWidth;
            while (len > 0)
            {
                int lane = q & (W - 1), n = Math.Min(W - lane, len);
                Zero(ref Unsafe.Add(ref dRow, (q >> 4) * panelStride + lane), n);
                q += n; len -= n;
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
