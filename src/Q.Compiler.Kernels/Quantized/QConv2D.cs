#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    // Requires: QGemm, Requantize, PaddedPlane
    /// <summary>
    /// Integer convolution on NCHW uint8 activations with int8 weights (QLinearConv, ConvInteger), through <see cref="QGemm"/>:
    /// the GEMM's rows are output pixels, its columns output channels, its depth K = C/G · KH · KW.
    /// </summary>
    /// <remarks>
    /// <para><b>Pointwise</b> (1×1, stride 1, no padding, one group): a chunk of pixels of the input is transposed
    /// (C × pixels → pixels × C) into scratch and multiplied directly; no patches.</para>
    /// <para><b>General</b> (any kernel, stride, dilation, padding, groups): the image is first transposed to a padded NHWC
    /// copy (padding = the input zero point, so padded taps contribute (zx − zx)·w = 0), in which the patch of an output
    /// pixel is KH runs of KW·C contiguous bytes (or KH·KW runs of C/G bytes with dilation or groups). Patches of a chunk of
    /// output pixels (rows) are gathered into scratch in the order k = (ky·KW + kx)·C/G + ic, the order the weights are
    /// packed in at build time, then multiplied per group.</para>
    /// <para>Either way <see cref="QGemm"/> writes a pixels × channels tile, transposed on store into the NCHW output.
    /// Transposes run on 16×16 byte blocks with four rounds of byte interleaves (SSE2 punpck / Arm zip). Scratch holds, in
    /// order: the output tile (chunk × M/G bytes, or int32 for ConvInteger), the patches (chunk × K), and the padded image
    /// (general path only); the chunk is derived from the scratch length (<see cref="GemmScratchLength"/>).</para>
    /// </remarks>
    internal static partial class QConv2D
    {
        /// <summary>Bytes of patches per chunk the lowering aims for: a chunk of A stays in L1/L2 while the panels stream.</summary>
        public const int TargetPatchBytes = 24 * 1024;

        /// <summary>
        /// Patch runs are copied 16 bytes at a time, overrunning by up to 15: the patches and the padded image each have this
        /// much slack after them.
        /// </summary>
        public const int CopySlack = 16;

        /// <summary>Whether the GEMM path multiplies the (transposed) input directly, without patches.</summary>
        public static bool IsPointwise(int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight, int group) =>
            kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0 && group == 1;

        /// <summary>Pixels per chunk for a target patch size: a multiple of 16, at least 16, at most the plane rounded up.</summary>
        public static int ChunkFor(int k, int plane) => Math.Min(Math.Max(16, TargetPatchBytes / k / 16 * 16), (plane + 15) / 16 * 16);

        /// <summary>Scratch bytes <see cref="Gemm"/> (or <see cref="GemmInt32"/>, <paramref name="int32Output"/>) needs for a chunk of <paramref name="chunk"/> pixels.</summary>
        public static int GemmScratchLength(int c, int h, int wd, int m, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int group, int chunk, bool int32Output)
        {
            int k = c / group * kh * kw;
            bool pointwise = IsPointwise(kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight, group);
            int padded = pointwise ? 0 : (h + padTop + padBottom) * (wd + padLeft + padRight) * c + 2 * CopySlack;
            return chunk * (m / group * (int32Output ? 4 : 1) + k) + padded;
        }

        /// <summary>
        /// y = clamp(zy + round((bias[oc] + Σ (x − zx)(w − zw[oc]))·scale[oc]), lo, hi) as uint8 NCHW. <paramref name="packedW"/>
        /// holds one packed K × M/G block per group (PackedQGemmWeights.FromNxK of the weights in (ky, kx, ic) order);
        /// <paramref name="columnSums"/>, <paramref name="bias"/>, <paramref name="wZeroPoints"/> (empty: all zero), and <paramref name="scale"/>
        /// have one entry per output channel.
        /// </summary>
        public static void Gemm(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> columnSums, ReadOnlySpan<int> bias,
            ReadOnlySpan<int> wZeroPoints, ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int group, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool weightsHaveMinus128)
            => RunGemm(QGemm.PathFor(weightsHaveMinus128), x, packedW, columnSums, bias, wZeroPoints, scale, y, default, scratch,
                n, c, h, wd, m, oh, ow, kh, kw, strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, group,
                xZeroPoint, yZeroPoint, clampMin, clampMax);

        /// <summary>ConvInteger: the int32 accumulators Σ (x − zx)(w − zw[oc]) as NCHW.</summary>
        public static void GemmInt32(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> wZeroPoints, Span<int> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int group, int xZeroPoint, bool weightsHaveMinus128)
            => RunGemm(QGemm.PathFor(weightsHaveMinus128), x, packedW, columnSums, default, wZeroPoints, default, default, y, scratch,
                n, c, h, wd, m, oh, ow, kh, kw, strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, group,
                xZeroPoint, 0, 0, 0);

        /// <summary>
        /// ConvInteger with the input zero point computed at run time (DynamicQuantizeLinear's one-element output); otherwise
        /// the overload with a build-time zero point.
        /// </summary>
        public static void GemmInt32(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> wZeroPoints, Span<int> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int group, ReadOnlySpan<byte> xZeroPoint, bool weightsHaveMinus128)
            => GemmInt32(x, packedW, columnSums, wZeroPoints, y, scratch, n, c, h, wd, m, oh, ow, kh, kw, strideH, strideW, dilH, dilW,
                padTop, padLeft, padBottom, padRight, group, xZeroPoint[0], weightsHaveMinus128);

        /// <summary>
        /// One given QGemm path (tests call each directly). Exactly one of <paramref name="y8"/> (requantized) and
        /// <paramref name="y32"/> (accumulators) is non-empty; <paramref name="bias"/> may be empty.
        /// </summary>
        public static void RunGemm(QGemm.Path path, ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bias, ReadOnlySpan<int> wZeroPoints, ReadOnlySpan<float> scale,
            Span<byte> y8, Span<int> y32, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int group, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax)
        {
            int cg = c / group, mg = m / group, k = cg * kh * kw, plane = oh * ow, inPlane = h * wd;
            bool int32 = y8.IsEmpty;
            bool pointwise = IsPointwise(kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight, group);
            int ph = h + padTop + padBottom, pw = wd + padLeft + padRight;
            int paddedLength = pointwise ? 0 : ph * pw * c + 2 * CopySlack;
            int tileBytes = mg * (int32 ? 4 : 1);
            int chunk = (scratch.Length - paddedLength) / (tileBytes + k);
            chunk = chunk >= plane ? plane : chunk / 16 * 16;
            if (chunk <= 0 || x.Length < n * c * inPlane || (int32 ? y32.Length : y8.Length) < n * m * plane || columnSums.Length < m
                || (wZeroPoints.Length != 0 && wZeroPoints.Length < m) || (!int32 && scale.Length < m))
                throw new ArgumentException("QConv2D operand or scratch sizes do not match");
            int packedPerGroup = QGemm.PackedLength(k, mg);

            Span<byte> tile = scratch.Slice(0, chunk * tileBytes);
            Span<byte> patches = scratch.Slice(chunk * tileBytes, chunk * k);
            // [tile][patches][slack][padded image][slack]
            Span<byte> padded = pointwise ? default : scratch.Slice(chunk * (tileBytes + k) + CopySlack, paddedLength - CopySlack);
            // Weight zero points: QGemm skips the row sums when none is given.
            bool anyZb = false;
            for (int i = 0; i < wZeroPoints.Length && i < m; i++) anyZb |= wZeroPoints[i] != 0;

            for (int ni = 0; ni < n; ni++)
            {
                ReadOnlySpan<byte> xi = x.Slice(ni * c * inPlane, c * inPlane);
                if (!pointwise)
                {
                    padded.Slice(0, ph * pw * c).Fill((byte)xZeroPoint);
                    for (int iy = 0; iy < h; iy++)
                    {
                        Span<byte> dst = padded.Slice(((iy + padTop) * pw + padLeft) * c);
                        if (c == 3) Interleave3(xi.Slice(iy * wd), inPlane, dst, wd);
                        else Transpose(xi.Slice(iy * wd), inPlane, dst, c, c, wd);
                    }
                }
                for (int p0 = 0; p0 < plane; p0 += chunk)
                {
                    int rows = Math.Min(chunk, plane - p0);
                    if (pointwise) Transpose(xi.Slice(p0), inPlane, patches, c, c, rows);
                    for (int g = 0; g < group; g++)
                    {
                        if (!pointwise)
                            Im2Row(padded, patches, p0, rows, c, pw, ow, kh, kw, strideH, strideW, dilH, dilW, g * cg, cg);
                        int oc0 = g * mg;
                        QGemm.Run(path, patches.Slice(0, rows * k), packedW.Slice(g * packedPerGroup, packedPerGroup), columnSums.Slice(oc0, mg),
                            bias.IsEmpty ? default : bias.Slice(oc0, mg), anyZb ? wZeroPoints.Slice(oc0, mg) : default,
                            int32 ? default : scale.Slice(oc0, mg),
                            int32 ? default : tile.Slice(0, rows * mg), int32 ? MemoryMarshal.Cast<byte, int>(tile).Slice(0, rows * mg) : default,
                            rows, mg, k, xZeroPoint, yZeroPoint, clampMin, clampMax);
                        int yOffset = (ni * m + oc0) * plane + p0;
                        if (int32)
                        {
                            ReadOnlySpan<int> t = MemoryMarshal.Cast<byte, int>(tile);
                            for (int j = 0; j < mg; j++)
                            {
                                Span<int> dst = y32.Slice(yOffset + j * plane, rows);
                                for (int r = 0; r < rows; r++) dst[r] = t[r * mg + j];
                            }
                        }
                        else Transpose(tile, mg, y8.Slice(yOffset), plane, rows, mg);
                    }
                }
            }
        }

        /// <summary>
        /// Gathers the patches of output pixels p0 .. p0 + rows − 1 for input channels ic0 .. ic0 + cg − 1 from the padded NHWC
        /// image (row stride pw·c) into rows of K = KH·KW·cg bytes, k = (ky·KW + kx)·cg + ic.
        /// </summary>
        private static void Im2Row(ReadOnlySpan<byte> padded, Span<byte> patches, int p0, int rows, int c, int pw, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int ic0, int cg)
        {
            int k = kh * kw * cg;
            int oy = p0 / ow, ox = p0 % ow;
            bool runs = dilW == 1 && cg == c;       // a kernel row is one run of KW·C bytes
            ref byte src0 = ref MemoryMarshal.GetReference(padded);
            ref byte dst0 = ref MemoryMarshal.GetReference(patches);
            for (int r = 0; r < rows; r++)
            {
                ref byte dst = ref Unsafe.Add(ref dst0, r * k);
                for (int ky = 0; ky < kh; ky++)
                {
                    int rowStart = ((oy * strideH + ky * dilH) * pw + ox * strideW) * c + ic0;
                    if (runs)
                        CopyRun(ref Unsafe.Add(ref src0, rowStart), ref Unsafe.Add(ref dst, ky * kw * c), kw * c);
                    else
                        for (int kx = 0; kx < kw; kx++)
                            CopyRun(ref Unsafe.Add(ref src0, rowStart + kx * dilW * c), ref Unsafe.Add(ref dst, (ky * kw + kx) * cg), cg);
                }
                if (++ox == ow) { ox = 0; oy++; }
            }
        }

        /// <summary>
        /// Copies a short run 16 bytes at a time, writing (and reading) up to 15 bytes past its end: later runs of the same
        /// patch row overwrite them, and the buffers have <see cref="CopySlack"/> bytes after them.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyRun(ref byte src, ref byte dst, int length)
        {
            for (int o = 0; o < length; o += 16)
                Vector128.LoadUnsafe(ref Unsafe.Add(ref src, o)).StoreUnsafe(ref Unsafe.Add(ref dst, o));
        }

        /// <summary>
        /// Three planes (stride <paramref name="planeStride"/>) interleaved into RGBRGB… (an image's first layer): 16 pixels at a
        /// time by three byte shuffles per output vector (pshufb / tbl), the rest scalar.
        /// </summary>
        private static void Interleave3(ReadOnlySpan<byte> src, int planeStride, Span<byte> dst, int count)
        {
            if (2 * planeStride + count > src.Length || 3 * count > dst.Length) throw new ArgumentException("Interleave3 sizes do not match");
            ref byte r0 = ref MemoryMarshal.GetReference(src);
            ref byte g0 = ref Unsafe.Add(ref r0, planeStride);
            ref byte b0 = ref Unsafe.Add(ref r0, 2 * planeStride);
            ref byte d0 = ref MemoryMarshal.GetReference(dst);
            int i = 0;
            if (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported)
            {
                // Output byte j of vector v is plane (16v + j) % 3, pixel (16v + j) / 3; 0xFF (out of range) selects 0.
                var r0m = Vector128.Create((byte)0, 255, 255, 1, 255, 255, 2, 255, 255, 3, 255, 255, 4, 255, 255, 5);
                var g0m = Vector128.Create((byte)255, 0, 255, 255, 1, 255, 255, 2, 255, 255, 3, 255, 255, 4, 255, 255);
                var b0m = Vector128.Create((byte)255, 255, 0, 255, 255, 1, 255, 255, 2, 255, 255, 3, 255, 255, 4, 255);
                var r1m = Vector128.Create((byte)255, 255, 6, 255, 255, 7, 255, 255, 8, 255, 255, 9, 255, 255, 10, 255);
                var g1m = Vector128.Create((byte)5, 255, 255, 6, 255, 255, 7, 255, 255, 8, 255, 255, 9, 255, 255, 10);
                var b1m = Vector128.Create((byte)255, 5, 255, 255, 6, 255, 255, 7, 255, 255, 8, 255, 255, 9, 255, 255);
                var r2m = Vector128.Create((byte)255, 11, 255, 255, 12, 255, 255, 13, 255, 255, 14, 255, 255, 15, 255, 255);
                var g2m = Vector128.Create((byte)255, 255, 11, 255, 255, 12, 255, 255, 13, 255, 255, 14, 255, 255, 15, 255);
                var b2m = Vector128.Create((byte)10, 255, 255, 11, 255, 255, 12, 255, 255, 13, 255, 255, 14, 255, 255, 15);
                for (; i + 16 <= count; i += 16)
                {
                    var r = Vector128.LoadUnsafe(ref Unsafe.Add(ref r0, i));
                    var g = Vector128.LoadUnsafe(ref Unsafe.Add(ref g0, i));
                    var b = Vector128.LoadUnsafe(ref Unsafe.Add(ref b0, i));
                    ref byte d = ref Unsafe.Add(ref d0, 3 * i);
                    (Lookup(r, r0m) | Lookup(g, g0m) | Lookup(b, b0m)).StoreUnsafe(ref d);
                    (Lookup(r, r1m) | Lookup(g, g1m) | Lookup(b, b1m)).StoreUnsafe(ref d, 16);
                    (Lookup(r, r2m) | Lookup(g, g2m) | Lookup(b, b2m)).StoreUnsafe(ref d, 32);
                }
            }
            for (; i < count; i++)
            {
                Unsafe.Add(ref d0, 3 * i) = Unsafe.Add(ref r0, i);
                Unsafe.Add(ref d0, 3 * i + 1) = Unsafe.Add(ref g0, i);
                Unsafe.Add(ref d0, 3 * i + 2) = Unsafe.Add(ref b0, i);
            }
        }

        /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for i &lt; rows, j &lt; cols: 16×16 SIMD blocks, scalar edges.</summary>
        public static void Transpose(ReadOnlySpan<byte> src, int srcStride, Span<byte> dst, int dstStride, int rows, int cols)
        {
            if (rows <= 0 || cols <= 0) return;
            if ((long)(rows - 1) * srcStride + cols > src.Length || (long)(cols - 1) * dstStride + rows > dst.Length)
                throw new ArgumentException("Transpose operand sizes do not match");
            ref byte s0 = ref MemoryMarshal.GetReference(src);
            ref byte d0 = ref MemoryMarshal.GetReference(dst);
            int i = 0;
            bool simd = Sse2.IsSupported || AdvSimd.Arm64.IsSupported;
            // Partial blocks (8 channels, 8 output channels) go through a 16×16 block in scratch: the copies cost far less
            // than a strided byte loop.
            Span<byte> block = stackalloc byte[512];
            ref byte b0 = ref MemoryMarshal.GetReference(block);
            ref byte t0 = ref Unsafe.Add(ref b0, 256);
            if (simd)
                for (; i + 16 <= rows; i += 16)
                {
                    int j = 0;
                    for (; j + 16 <= cols; j += 16)
                        Transpose16(ref Unsafe.Add(ref s0, i * srcStride + j), srcStride, ref Unsafe.Add(ref d0, j * dstStride + i), dstStride);
                    int rest = cols - j;
                    if (rest > 0)
                    {
                        for (int ii = 0; ii < 16; ii++) PaddedPlane.CopyRow(ref Unsafe.Add(ref s0, (i + ii) * srcStride + j), ref Unsafe.Add(ref b0, ii * 16), rest);
                        Transpose16(ref b0, 16, ref t0, 16);
                        for (int jj = 0; jj < rest; jj++)
                            Vector128.LoadUnsafe(ref Unsafe.Add(ref t0, jj * 16)).StoreUnsafe(ref Unsafe.Add(ref d0, (j + jj) * dstStride + i));
                    }
                }
            if (simd && i == 0 && rows >= 4)
            {
                // Fewer than 16 rows: 16 columns at a time through the block, the rest below.
                int j = 0;
                for (; j + 16 <= cols; j += 16)
                {
                    for (int ii = 0; ii < rows; ii++) Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, ii * srcStride + j)).StoreUnsafe(ref Unsafe.Add(ref b0, ii * 16));
                    Transpose16(ref b0, 16, ref t0, 16);
                    for (int jj = 0; jj < 16; jj++) PaddedPlane.CopyRow(ref Unsafe.Add(ref t0, jj * 16), ref Unsafe.Add(ref d0, (j + jj) * dstStride), rows);
                }
                for (; j < cols; j++)
                    for (int ii = 0; ii < rows; ii++)
                        Unsafe.Add(ref d0, j * dstStride + ii) = Unsafe.Add(ref s0, ii * srcStride + j);
                return;
            }
            if (i == 0 && rows < 16)
            {
                // Few rows (an image of 3 channels): write dst sequentially, reading the rows in step.
                for (int j = 0; j < cols; j++)
                    for (int ii = 0; ii < rows; ii++)
                        Unsafe.Add(ref d0, j * dstStride + ii) = Unsafe.Add(ref s0, ii * srcStride + j);
                return;
            }
            for (; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    Unsafe.Add(ref d0, j * dstStride + i) = Unsafe.Add(ref s0, i * srcStride + j);
        }

        /// <summary>
        /// A 16×16 byte block: four rounds of out[2i] = zip_lo(in[i], in[i+8]), out[2i+1] = zip_hi(in[i], in[i+8]); each round
        /// is a perfect shuffle of the 256 bytes' index bits, and four of them exchange row and column.
        /// </summary>
        private static void Transpose16(ref byte src, int srcStride, ref byte dst, int dstStride)
        {
            var a0 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 0 * srcStride));
            var a1 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 1 * srcStride));
            var a2 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 2 * srcStride));
            var a3 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 3 * srcStride));
            var a4 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 4 * srcStride));
            var a5 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 5 * srcStride));
            var a6 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 6 * srcStride));
            var a7 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 7 * srcStride));
            var a8 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 8 * srcStride));
            var a9 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 9 * srcStride));
            var a10 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 10 * srcStride));
            var a11 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 11 * srcStride));
            var a12 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 12 * srcStride));
            var a13 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 13 * srcStride));
            var a14 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 14 * srcStride));
            var a15 = Vector128.LoadUnsafe(ref Unsafe.Add(ref src, 15 * srcStride));
            var b0_0 = ZipLow(a0, a8);
            var b1_0 = ZipHigh(a0, a8);
            var b2_0 = ZipLow(a1, a9);
            var b3_0 = ZipHigh(a1, a9);
            var b4_0 = ZipLow(a2, a10);
            var b5_0 = ZipHigh(a2, a10);
            var b6_0 = ZipLow(a3, a11);
            var b7_0 = ZipHigh(a3, a11);
            var b8_0 = ZipLow(a4, a12);
            var b9_0 = ZipHigh(a4, a12);
            var b10_0 = ZipLow(a5, a13);
            var b11_0 = ZipHigh(a5, a13);
            var b12_0 = ZipLow(a6, a14);
            var b13_0 = ZipHigh(a6, a14);
            var b14_0 = ZipLow(a7, a15);
            var b15_0 = ZipHigh(a7, a15);
            var a0_1 = ZipLow(b0_0, b8_0);
            var a1_1 = ZipHigh(b0_0, b8_0);
            var a2_1 = ZipLow(b1_0, b9_0);
            var a3_1 = ZipHigh(b1_0, b9_0);
            var a4_1 = ZipLow(b2_0, b10_0);
            var a5_1 = ZipHigh(b2_0, b10_0);
            var a6_1 = ZipLow(b3_0, b11_0);
            var a7_1 = ZipHigh(b3_0, b11_0);
            var a8_1 = ZipLow(b4_0, b12_0);
            var a9_1 = ZipHigh(b4_0, b12_0);
            var a10_1 = ZipLow(b5_0, b13_0);
            var a11_1 = ZipHigh(b5_0, b13_0);
            var a12_1 = ZipLow(b6_0, b14_0);
            var a13_1 = ZipHigh(b6_0, b14_0);
            var a14_1 = ZipLow(b7_0, b15_0);
            var a15_1 = ZipHigh(b7_0, b15_0);
            var b0_2 = ZipLow(a0_1, a8_1);
            var b1_2 = ZipHigh(a0_1, a8_1);
            var b2_2 = ZipLow(a1_1, a9_1);
            var b3_2 = ZipHigh(a1_1, a9_1);
            var b4_2 = ZipLow(a2_1, a10_1);
            var b5_2 = ZipHigh(a2_1, a10_1);
            var b6_2 = ZipLow(a3_1, a11_1);
            var b7_2 = ZipHigh(a3_1, a11_1);
            var b8_2 = ZipLow(a4_1, a12_1);
            var b9_2 = ZipHigh(a4_1, a12_1);
            var b10_2 = ZipLow(a5_1, a13_1);
            var b11_2 = ZipHigh(a5_1, a13_1);
            var b12_2 = ZipLow(a6_1, a14_1);
            var b13_2 = ZipHigh(a6_1, a14_1);
            var b14_2 = ZipLow(a7_1, a15_1);
            var b15_2 = ZipHigh(a7_1, a15_1);
            var a0_3 = ZipLow(b0_2, b8_2);
            var a1_3 = ZipHigh(b0_2, b8_2);
            var a2_3 = ZipLow(b1_2, b9_2);
            var a3_3 = ZipHigh(b1_2, b9_2);
            var a4_3 = ZipLow(b2_2, b10_2);
            var a5_3 = ZipHigh(b2_2, b10_2);
            var a6_3 = ZipLow(b3_2, b11_2);
            var a7_3 = ZipHigh(b3_2, b11_2);
            var a8_3 = ZipLow(b4_2, b12_2);
            var a9_3 = ZipHigh(b4_2, b12_2);
            var a10_3 = ZipLow(b5_2, b13_2);
            var a11_3 = ZipHigh(b5_2, b13_2);
            var a12_3 = ZipLow(b6_2, b14_2);
            var a13_3 = ZipHigh(b6_2, b14_2);
            var a14_3 = ZipLow(b7_2, b15_2);
            var a15_3 = ZipHigh(b7_2, b15_2);
            a0_3.StoreUnsafe(ref Unsafe.Add(ref dst, 0 * dstStride));
            a1_3.StoreUnsafe(ref Unsafe.Add(ref dst, 1 * dstStride));
            a2_3.StoreUnsafe(ref Unsafe.Add(ref dst, 2 * dstStride));
            a3_3.StoreUnsafe(ref Unsafe.Add(ref dst, 3 * dstStride));
            a4_3.StoreUnsafe(ref Unsafe.Add(ref dst, 4 * dstStride));
            a5_3.StoreUnsafe(ref Unsafe.Add(ref dst, 5 * dstStride));
            a6_3.StoreUnsafe(ref Unsafe.Add(ref dst, 6 * dstStride));
            a7_3.StoreUnsafe(ref Unsafe.Add(ref dst, 7 * dstStride));
            a8_3.StoreUnsafe(ref Unsafe.Add(ref dst, 8 * dstStride));
            a9_3.StoreUnsafe(ref Unsafe.Add(ref dst, 9 * dstStride));
            a10_3.StoreUnsafe(ref Unsafe.Add(ref dst, 10 * dstStride));
            a11_3.StoreUnsafe(ref Unsafe.Add(ref dst, 11 * dstStride));
            a12_3.StoreUnsafe(ref Unsafe.Add(ref dst, 12 * dstStride));
            a13_3.StoreUnsafe(ref Unsafe.Add(ref dst, 13 * dstStride));
            a14_3.StoreUnsafe(ref Unsafe.Add(ref dst, 14 * dstStride));
            a15_3.StoreUnsafe(ref Unsafe.Add(ref dst, 15 * dstStride));
        }

        /// <summary>Byte table lookup: index ≥ 128 (pshufb) or ≥ 16 (tbl) gives 0.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> Lookup(Vector128<byte> table, Vector128<byte> indices) =>
            Ssse3.IsSupported ? Ssse3.Shuffle(table, indices) : AdvSimd.Arm64.VectorTableLookup(table, indices);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> ZipLow(Vector128<byte> a, Vector128<byte> b) =>
            Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> ZipHigh(Vector128<byte> a, Vector128<byte> b) =>
            Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
    }
}
