#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    // Requires: Requantize, PaddedPlane
    /// <summary>
    /// Integer convolution (QLinearConv, one group, symmetric weights) as an NCHW-native GEMM: rows are output channels
    /// (the weights), columns are output pixels (the activations), so a tile of results is stored straight into the output
    /// planes, with no transposes, and the requantization scale is one per row.
    /// </summary>
    /// <remarks>
    /// <para><b>Math.</b> acc[oc, p] = bias[oc] + Σ_k (x[k, p] − zx)·w[oc, k] = Σ_k (x[k, p] − 128)·w[oc, k] + bias'[oc] with
    /// bias'[oc] = bias[oc] + (128 − zx)·Σ_k w[oc, k], folded at build time (Q.Compiler.Ops.QConv.QConvWeights.NchwBias): every
    /// path multiplies the flipped activations x' = x ^ 0x80 = x − 128 (int8) and starts its accumulators at bias', so the
    /// kernel reads no weight sums. The weights have no zero points (the lowering takes the QConv2D path otherwise).</para>
    /// <para><b>Unsigned mode</b> (unsignedActivations, chosen per layer at build time when every output channel's weights are
    /// pair-safe, Q.Compiler.Ops.QConv.QConvWeights.IsPairSafe): the activations are packed as they are, x ∈ [0, 255], the
    /// folded bias is bias[oc] − zx·Σ_k w[oc, k], and the AVX2 tile multiplies the raw bytes (vpmaddubsw cannot saturate
    /// under the pair bound), with no vpabsb / vpsignb; weights may then hold −128. The portable paths zero-extend instead of
    /// sign-extending; every path gives the same bytes as in signed mode.</para>
    /// <para><b>Depth.</b> k = (ic·KH + ky)·KW + kx, the OIHW order of the weights. A pointwise convolution (1×1, stride 1,
    /// no padding) reads its K rows straight from the input planes. Any other first pads the image into scratch, split by
    /// column phase for strides above 1 (padding = zx, so padded taps contribute (zx − zx)·w = 0), so that row k of the
    /// patches (an im2col matrix K × pixels) is, along an output row, one contiguous run of that image; the patches of a
    /// chunk of pixels are copied into scratch.</para>
    /// <para><b>Block flags.</b> The packed weights may be followed by one byte per block of 4 output channels
    /// (Q.Compiler.Ops.QConv.QConvWeights.NchwBlockFlags, proved at build time): bit 0 = some row's |acc·scale| may reach 2^30,
    /// so the upper bound is applied in float before cvtps2dq; bit 1 = the int16 pair sums of quads 2j and 2j + 1 add without
    /// overflow, so the AVX2 tile widens them together. Absent, the kernel assumes 1 (clamp in float, widen every quad).</para>
    /// <para><b>Packing.</b> The K rows of a chunk are interleaved by quads: for a block of 16 pixels and a quad of rows
    /// 4q..4q+3, 64 bytes, pixel j's four bytes at 4j..4j+3 (two rounds of byte/word unpacks of four 16-byte rows). The
    /// weights are packed at build time (Q.Compiler.Ops.QConv.QConvWeights.PackNchw) in blocks of 4 output channels,
    /// 16 bytes per quad (row r's four weights at 4r..4r+3), K zero-padded to a multiple of 4 and M to a multiple of 4
    /// with zero rows, so padded depth contributes 0 whatever the activation bytes. Where 32 or 64 pixels of a chunk are
    /// contiguous (a pointwise plane, or one output row of the padded image), the unpacks run on ymm / zmm rows and each
    /// 128-bit lane of the results is one block's (<see cref="PackQuadWide"/>): the same bytes in fewer instructions.</para>
    /// <para><b>AVX2.</b> A 4 channels × 16 pixels tile: per quad, two activation vectors x' (8 pixels each) and |x'| (shared
    /// by all rows), and per row the broadcast weight quad w: vpmaddubsw(|x'|, sign(w, x')) forms pairs bounded by
    /// 2·128·127 (exact, needs w ≠ −128 as in <see cref="QGemm"/>), vpmaddwd by ones sums them into int32. The epilogue
    /// requantizes with a broadcast scale per row and stores 16 contiguous bytes per row.</para>
    /// <para>Scratch holds, in order: the packed activations (chunk · 4·⌈K/4⌉ bytes), and for non-pointwise convolutions
    /// the patches (K · chunk bytes), slack, the padded image, slack (<see cref="ScratchLength"/>).</para>
    /// </remarks>
    internal static partial class QConvNchw
    {
        /// <summary>Output channels per weight block (rows of a tile).</summary>
        public const int RowBlock = 4;
        /// <summary>Pixels per packed activation block (columns of a tile).</summary>
        public const int PixelBlock = 16;
        /// <summary>Bytes of packed activations per chunk the lowering aims for: the chunk stays in L1 while the weight blocks pass.</summary>
        public const int TargetPackedBytes = 16 * 1024;
        /// <summary>Patch runs are copied 16 bytes at a time, overrunning by up to 15 bytes.</summary>
        public const int CopySlack = 16;

        /// <summary>Implementation ids for tests and benchmarks.</summary>
        public enum Path { Scalar, Vector128, Avx2, Avx512BW }

        public static bool IsSupported(Path p) => p switch
        {
            Path.Scalar => true,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            Path.Avx2 => Avx2.IsSupported,
            Path.Avx512BW => Avx512BW.IsSupported,
            _ => false,
        };

        /// <summary>
        /// The fastest exact path for weights that do (not) contain −128. <see cref="Path.Avx512BW"/> runs unsigned mode on its
        /// zmm tile and signed mode on the AVX2 tile (the sign trick has no zmm form).
        /// </summary>
        public static Path PathFor(bool weightsHaveMinus128) =>
            weightsHaveMinus128 ? (Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar)
            : Avx512BW.IsSupported ? Path.Avx512BW : Avx2.IsSupported ? Path.Avx2 : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

        /// <summary>Bytes of packed weights for M output channels and depth K.</summary>
        public static int PackedLength(int m, int k) => (m + RowBlock - 1) / RowBlock * ((k + 3) / 4) * RowBlock * 4;

        /// <summary>Whether the K rows are the input planes themselves (1×1, stride 1, no padding).</summary>
        public static bool IsPointwise(int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight) =>
            kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0;

        /// <summary>Pixels per chunk for depth K: a multiple of 16, at least 16, at most the plane rounded up.</summary>
        public static int ChunkFor(int k, int plane) =>
            Math.Min(Math.Max(PixelBlock, TargetPackedBytes / (4 * ((k + 3) / 4)) / PixelBlock * PixelBlock), (plane + PixelBlock - 1) / PixelBlock * PixelBlock);

        /// <summary>Bytes of the padded, phase-split image of a non-pointwise convolution.</summary>
        private static int PaddedLength(int c, int h, int wd, int strideW, int padTop, int padLeft, int padBottom, int padRight)
        {
            int pw = wd + padLeft + padRight;
            return c * (h + padTop + padBottom) * strideW * ((pw + strideW - 1) / strideW);
        }

        /// <summary>Scratch bytes <see cref="Gemm"/> needs for a chunk of <paramref name="chunk"/> pixels (a multiple of 16).</summary>
        public static int ScratchLength(int c, int h, int wd, int kh, int kw, int strideH, int strideW,
            int padTop, int padLeft, int padBottom, int padRight, int chunk)
        {
            int k = c * kh * kw;
            bool pointwise = IsPointwise(kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight);
            int fixedBytes = pointwise ? 0 : 2 * CopySlack + PaddedLength(c, h, wd, strideW, padTop, padLeft, padBottom, padRight);
            return chunk * (4 * ((k + 3) / 4) + (pointwise ? 0 : k)) + fixedBytes;
        }

        /// <summary>
        /// y = clamp(zy + round((bias[oc] + Σ_ic,ky,kx (x − zx)·w[oc])·scale[oc]), lo, hi) as uint8 NCHW. <paramref name="packedW"/>
        /// is QConvWeights.PackNchw of the OIHW int8 weights, <paramref name="foldedBias"/> QConvWeights.NchwBias: the bias plus
        /// (128 − zx)·Σ_k w[oc, k]. <paramref name="xZeroPoint"/> is still needed: it is the padding value.
        /// </summary>
        public static void Gemm(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> foldedBias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool weightsHaveMinus128, bool unsignedActivations = false)
            => Run(PathFor(weightsHaveMinus128 && !unsignedActivations), x, packedW, foldedBias, scale, y, scratch, n, c, h, wd, m, oh, ow, kh, kw,
                strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax, unsignedActivations);

        /// <summary>
        /// One given path (tests call each directly); <paramref name="foldedBias"/> may be empty (all zero). With
        /// <paramref name="unsignedActivations"/> the activations are multiplied as they are (x ∈ [0, 255]) and the folded bias
        /// is QConvWeights.NchwBias's unsigned form, bias − zx·Σ_k w; the weights must then be pair-safe (QConvWeights.IsPairSafe).
        /// </summary>
        public static void Run(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> foldedBias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool unsignedActivations = false)
            => Core(path, x, default, 0, 0, packedW, foldedBias, scale, y, default, false, scratch, n, c, h, wd, m, oh, ow, kh, kw, strideH, strideW, dilH, dilW,
                padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax, unsignedActivations);

        /// <summary>
        /// ConvInteger: y[oc] = Σ_ic,ky,kx (x − zx)·w[oc] as int32 NCHW, with the tiles, packing and modes of <see cref="Gemm"/>;
        /// the epilogue stores the accumulators instead of requantizing. <paramref name="foldedBias"/> is QConvWeights.NchwBias
        /// of a zero bias: (128 − zx)·Σ_k w[oc, k] (signed mode) or −zx·Σ_k w[oc, k] (unsigned mode).
        /// </summary>
        public static void GemmInt32(ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> foldedBias, Span<int> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, bool weightsHaveMinus128, bool unsignedActivations = false)
            => RunInt32(PathFor(weightsHaveMinus128 && !unsignedActivations), x, packedW, foldedBias, y, scratch, n, c, h, wd, m, oh, ow, kh, kw,
                strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, unsignedActivations);

        /// <summary><see cref="GemmInt32"/> on one given path (tests call each directly); <paramref name="foldedBias"/> may be empty (all zero).</summary>
        public static void RunInt32(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> foldedBias, Span<int> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, bool unsignedActivations = false)
            => Core(path, x, default, 0, 0, packedW, foldedBias, default, default, y, true, scratch, n, c, h, wd, m, oh, ow, kh, kw, strideH, strideW, dilH, dilW,
                padTop, padLeft, padBottom, padRight, xZeroPoint, 0, 0, 255, unsignedActivations);

        /// <summary>
        /// <see cref="Run"/> on uint8 input <paramref name="x"/>, or, when <paramref name="xFloat"/> is not empty, on the float
        /// input quantized while the padded image is built (QuantizeLinear with <paramref name="quantScale"/> and
        /// <paramref name="quantZeroPoint"/>: see QConvNchw.FloatInput.cs; non-pointwise convolutions only). With
        /// <paramref name="int32Output"/> the accumulators go to <paramref name="y32"/> (ConvInteger) and scale and y are unused.
        /// </summary>
        private static void Core(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<float> xFloat, float quantScale, int quantZeroPoint,
            ReadOnlySpan<sbyte> packedW, ReadOnlySpan<int> foldedBias,
            ReadOnlySpan<float> scale, Span<byte> y, Span<int> y32, bool int32Output, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool unsignedActivations)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QConvNchw path " + path + " is not supported on this machine");
            bool floatInput = !xFloat.IsEmpty;
            int k = c * kh * kw, quads = (k + 3) / 4, plane = oh * ow, inPlane = h * wd;
            bool pointwise = IsPointwise(kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight);
            int pw = wd + padLeft + padRight, ph = h + padTop + padBottom, pws = (pw + strideW - 1) / strideW;
            int paddedLength = pointwise ? 0 : PaddedLength(c, h, wd, strideW, padTop, padLeft, padBottom, padRight);
            int perPixel = 4 * quads + (pointwise ? 0 : k);
            int chunk = (scratch.Length - (pointwise ? 0 : paddedLength + 2 * CopySlack)) / perPixel / PixelBlock * PixelBlock;
            chunk = Math.Min(chunk, (plane + PixelBlock - 1) / PixelBlock * PixelBlock);
            if (floatInput && pointwise) throw new ArgumentException("QConvNchw takes float input only for convolutions that pad their image");
            if (chunk <= 0 || (floatInput ? xFloat.Length : x.Length) < n * c * inPlane || (int32Output ? y32.Length : y.Length) < n * m * plane
                || packedW.Length < PackedLength(m, k) || (!int32Output && scale.Length < m) || (foldedBias.Length != 0 && foldedBias.Length < m))
                throw new ArgumentException("QConvNchw operand or scratch sizes do not match");

            Span<byte> packed = scratch.Slice(0, chunk * 4 * quads);
            Span<byte> patches = pointwise ? default : scratch.Slice(chunk * 4 * quads, chunk * k + CopySlack);
            Span<byte> padded = pointwise ? default : scratch.Slice(chunk * perPixel + CopySlack, paddedLength + CopySlack);
            int blocks = (m + RowBlock - 1) / RowBlock;
            Span<int> offsets = stackalloc int[blocks * RowBlock];
            Span<float> scales = stackalloc float[blocks * RowBlock];
            for (int oc = 0; oc < m; oc++)
            {
                offsets[oc] = foldedBias.IsEmpty ? 0 : foldedBias[oc];
                scales[oc] = int32Output ? 1f : scale[oc];
            }
            // Padding rows: zero weights, offset 0, scale 0 (computed, never stored).
            offsets.Slice(m).Clear();
            scales.Slice(m).Clear();
            // Per weight block, what the AVX2 tile may skip, decided at build time from the weights, bias and scales and stored
            // after the weights (a byte per block); without them every block clamps in float and widens every quad.
            int packedLength = PackedLength(m, k);
            ReadOnlySpan<byte> blockFlags = packedW.Length >= packedLength + blocks
                ? MemoryMarshal.AsBytes(packedW.Slice(packedLength, blocks)) : default;

            // Output rows of at least 16 pixels: chunks are packed straight from the padded image through a table of tap offsets.
            bool direct = !pointwise && ow >= PixelBlock && k <= MaxDirectTaps;
            Span<int> tapOffsets = direct ? stackalloc int[k] : default;
            if (direct)
                for (int ic = 0, row = 0; ic < c; ic++)
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++, row++)
                            tapOffsets[row] = TapOffset(ic, ky, kx, ph, pws, strideW, dilH, dilW);

            // Signed mode packs x' = x ^ 0x80 = x − 128 (int8); unsigned mode packs the bytes as they are.
            byte flip = unsignedActivations ? (byte)0 : (byte)0x80;
            for (int ni = 0; ni < n; ni++)
            {
                ReadOnlySpan<byte> xi = floatInput ? default : x.Slice(ni * c * inPlane, c * inPlane);
                Span<byte> yi = int32Output ? default : y.Slice(ni * m * plane, m * plane);
                Span<int> yi32 = int32Output ? y32.Slice(ni * m * plane, m * plane) : default;
                if (floatInput)
                    PadImageFloat(xFloat.Slice(ni * c * inPlane, c * inPlane), quantScale, quantZeroPoint, padded, c, h, wd, ph, pws, strideW, padTop, padLeft, (byte)xZeroPoint);
                else if (!pointwise)
                    PadImage(xi, padded, c, h, wd, ph, pws, strideW, padTop, padLeft, (byte)xZeroPoint);
                for (int p0 = 0; p0 < plane; p0 += chunk)
                {
                    int pixels = Math.Min(chunk, plane - p0);
                    if (pointwise)
                        Pack(xi.Slice(p0), inPlane, plane - p0, packed, k, pixels, flip);
                    else if (direct)
                        PackDirect(padded, tapOffsets, packed, k, p0, pixels, ow, plane, strideH * strideW * pws, flip);
                    else
                    {
                        Im2Col(padded, patches, chunk, p0, pixels, c, ph, pws, ow, kh, kw, strideH, strideW, dilH, dilW);
                        Pack(patches, chunk, chunk, packed, k, pixels, flip);
                    }
                    for (int b = 0; b < blocks; b++)
                    {
                        int oc0 = b * RowBlock;
                        int rows = Math.Min(RowBlock, m - oc0);
                        ReadOnlySpan<sbyte> wBlock = packedW.Slice(b * quads * 16, quads * 16);
                        Span<byte> yBlock = int32Output ? default : yi.Slice(oc0 * plane + p0);
                        Span<int> yBlock32 = int32Output ? yi32.Slice(oc0 * plane + p0) : default;
                        if (path == Path.Avx512BW && unsignedActivations)
                            BlockAvx512(packed, wBlock, quads, pixels, offsets.Slice(oc0, RowBlock), scales.Slice(oc0, RowBlock), yBlock, yBlock32, plane, rows,
                                yZeroPoint, clampMin, clampMax, blockFlags.IsEmpty ? FloatClamp : blockFlags[b]);
                        else if (path is Path.Avx2 or Path.Avx512BW && unsignedActivations)
                            BlockAvx2<RawBytes>(packed, wBlock, quads, pixels, offsets.Slice(oc0, RowBlock), scales.Slice(oc0, RowBlock), yBlock, yBlock32, plane, rows,
                                yZeroPoint, clampMin, clampMax, blockFlags.IsEmpty ? FloatClamp : blockFlags[b]);
                        else if (path is Path.Avx2 or Path.Avx512BW)
                            BlockAvx2<SignTrick>(packed, wBlock, quads, pixels, offsets.Slice(oc0, RowBlock), scales.Slice(oc0, RowBlock), yBlock, yBlock32, plane, rows,
                                yZeroPoint, clampMin, clampMax, blockFlags.IsEmpty ? FloatClamp : blockFlags[b]);
                        else
                            BlockPortable(path, packed, wBlock, quads, pixels, offsets.Slice(oc0, RowBlock), scales.Slice(oc0, RowBlock), yBlock, yBlock32, plane, rows,
                                yZeroPoint, clampMin, clampMax, unsignedActivations);
                    }
                }
            }
        }

        /// <summary>
        /// Interleaves K rows (row i at src[i·stride], <paramref name="available"/> readable bytes in each) by quads into
        /// 16-pixel blocks of <paramref name="quads"/>·64 bytes; missing rows of the last quad repeat row K − 1 (their weights are 0),
        /// missing pixels of the last block are zero. Every byte is xored with <paramref name="flip"/>: 0x80 gives x − 128 as int8
        /// (signed mode), 0 leaves x (unsigned mode).
        /// </summary>
        private static void Pack(ReadOnlySpan<byte> src, int stride, int available, Span<byte> dst, int k, int pixels, byte flip)
        {
            int quads = (k + 3) / 4;
            ref byte s0 = ref MemoryMarshal.GetReference(src);
            ref byte d0 = ref MemoryMarshal.GetReference(dst);
            Span<byte> edge = stackalloc byte[4 * PixelBlock];
            ref byte e0 = ref MemoryMarshal.GetReference(edge);
            int wide = WidePack;
            for (int p = 0, blk = 0; p < pixels; p += PixelBlock, blk++)
            {
                if (wide > PixelBlock && p + wide <= pixels && p + wide <= available)
                {
                    // 32 or 64 pixels (2 or 4 blocks) per quad: one wide transposition, the 16-byte lanes stored to their blocks.
                    for (int q = 0; q < quads; q++)
                        PackQuadWide(wide, ref Unsafe.Add(ref s0, Math.Min(4 * q, k - 1) * stride + p), ref Unsafe.Add(ref s0, Math.Min(4 * q + 1, k - 1) * stride + p),
                            ref Unsafe.Add(ref s0, Math.Min(4 * q + 2, k - 1) * stride + p), ref Unsafe.Add(ref s0, Math.Min(4 * q + 3, k - 1) * stride + p),
                            ref Unsafe.Add(ref d0, (blk * quads + q) * 64), quads * 64, flip);
                    p += wide - PixelBlock;
                    blk += wide / PixelBlock - 1;
                    continue;
                }
                bool whole = p + PixelBlock <= available;
                int count = Math.Min(PixelBlock, available - p);
                for (int q = 0; q < quads; q++)
                {
                    scoped ref byte r0 = ref Unsafe.Add(ref s0, Math.Min(4 * q, k - 1) * stride + p);
                    scoped ref byte r1 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 1, k - 1) * stride + p);
                    scoped ref byte r2 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 2, k - 1) * stride + p);
                    scoped ref byte r3 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 3, k - 1) * stride + p);
                    if (!whole)
                    {
                        // The last pixels of the plane: copied into a zeroed block so no read passes the input's end.
                        edge.Clear();
                        for (int j = 0; j < count; j++)
                        {
                            Unsafe.Add(ref e0, j) = Unsafe.Add(ref r0, j);
                            Unsafe.Add(ref e0, PixelBlock + j) = Unsafe.Add(ref r1, j);
                            Unsafe.Add(ref e0, 2 * PixelBlock + j) = Unsafe.Add(ref r2, j);
                            Unsafe.Add(ref e0, 3 * PixelBlock + j) = Unsafe.Add(ref r3, j);
                        }
                        r0 = ref e0; r1 = ref Unsafe.Add(ref e0, PixelBlock); r2 = ref Unsafe.Add(ref e0, 2 * PixelBlock); r3 = ref Unsafe.Add(ref e0, 3 * PixelBlock);
                    }
                    PackQuad(ref r0, ref r1, ref r2, ref r3, ref Unsafe.Add(ref d0, (blk * quads + q) * 64), flip);
                }
            }
        }

        /// <summary>
        /// Packs a chunk straight from the padded image (OW ≥ 16, so a 16-pixel block spans at most two output rows): row k of
        /// a block is 16 contiguous bytes of one phase, at the tap's offset plus the block's (oy, ox); no patches. A block that
        /// crosses into row oy + 1 takes its first OW − ox bytes from row oy and the rest from row oy + 1 (a byte blend of two
        /// loads); pixels past the plane are never stored, so the last row's overhang is read from row oy's slack as it is.
        /// </summary>
        private static void PackDirect(ReadOnlySpan<byte> padded, ReadOnlySpan<int> tapOffsets, Span<byte> dst, int k, int p0, int pixels,
            int ow, int plane, int rowStep, byte flip)
        {
            int quads = (k + 3) / 4;
            ref byte s0 = ref MemoryMarshal.GetReference(padded);
            ref byte d0 = ref MemoryMarshal.GetReference(dst);
            ref int t0 = ref MemoryMarshal.GetReference(tapOffsets);
            Span<byte> edge = stackalloc byte[4 * PixelBlock];
            ref byte e0 = ref MemoryMarshal.GetReference(edge);
            var ramp = Vector128.Create((byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            int wideMax = WidePack;
            for (int p = 0, blk = 0; p < pixels; p += PixelBlock, blk++)
            {
                int oy = (p0 + p) / ow, ox = (p0 + p) - oy * ow, split = ow - ox;
                ref byte b = ref Unsafe.Add(ref s0, oy * rowStep + ox);
                // 64 or 32 pixels of one output row (2 or 4 whole blocks): one wide transposition per quad.
                int wide = wideMax;
                while (wide > PixelBlock && (split < wide || p + wide > pixels)) wide /= 2;
                if (wide > PixelBlock)
                {
                    for (int q = 0; q < quads; q++)
                        PackQuadWide(wide, ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q, k - 1))), ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 1, k - 1))),
                            ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 2, k - 1))), ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 3, k - 1))),
                            ref Unsafe.Add(ref d0, (blk * quads + q) * 64), quads * 64, flip);
                    p += wide - PixelBlock;
                    blk += wide / PixelBlock - 1;
                    continue;
                }
                if (split >= PixelBlock || p0 + p + split >= plane)
                {
                    for (int q = 0; q < quads; q++)
                        PackQuad(ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q, k - 1))), ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 1, k - 1))),
                            ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 2, k - 1))), ref Unsafe.Add(ref b, Unsafe.Add(ref t0, Math.Min(4 * q + 3, k - 1))),
                            ref Unsafe.Add(ref d0, (blk * quads + q) * 64), flip);
                    continue;
                }
                // Pixel j ≥ split is (oy + 1, j − split): byte j of a load 'split' bytes before row oy + 1.
                ref byte next = ref Unsafe.Add(ref s0, (oy + 1) * rowStep - split);
                var first = Vector128.LessThan(ramp, Vector128.Create((byte)split));
                for (int q = 0; q < quads; q++)
                {
                    for (int t = 0; t < 4; t++)
                    {
                        int tap = Unsafe.Add(ref t0, Math.Min(4 * q + t, k - 1));
                        Vector128.ConditionalSelect(first, Vector128.LoadUnsafe(ref Unsafe.Add(ref b, tap)), Vector128.LoadUnsafe(ref Unsafe.Add(ref next, tap)))
                            .StoreUnsafe(ref e0, (nuint)(t * PixelBlock));
                    }
                    PackQuad(ref e0, ref Unsafe.Add(ref e0, PixelBlock), ref Unsafe.Add(ref e0, 2 * PixelBlock), ref Unsafe.Add(ref e0, 3 * PixelBlock),
                        ref Unsafe.Add(ref d0, (blk * quads + q) * 64), flip);
                }
            }
        }

        /// <summary>Pixels per wide transposition in Pack / PackDirect: 64 with AVX-512BW, 32 with AVX2, else 16 (PackQuad only).</summary>
        private static int WidePack => Avx512BW.IsSupported ? 64 : Avx2.IsSupported ? 32 : PixelBlock;

        /// <summary>
        /// <see cref="PackQuad"/> on <paramref name="wide"/> (32 or 64) pixels at once: the byte and word unpacks work per
        /// 128-bit lane, so lane L of the four results is block L's 64 bytes; it goes to d + L·<paramref name="blockStride"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PackQuadWide(int wide, ref byte r0, ref byte r1, ref byte r2, ref byte r3, ref byte d, int blockStride, byte flip)
        {
            if (wide == 64 && Avx512BW.IsSupported)
            {
                var a = Vector512.LoadUnsafe(ref r0);
                var b = Vector512.LoadUnsafe(ref r1);
                var c = Vector512.LoadUnsafe(ref r2);
                var e = Vector512.LoadUnsafe(ref r3);
                if (flip != 0)
                {
                    var xor = Vector512.Create(flip);
                    a ^= xor; b ^= xor; c ^= xor; e ^= xor;
                }
                var abLo = Avx512BW.UnpackLow(a, b).AsUInt16();
                var abHi = Avx512BW.UnpackHigh(a, b).AsUInt16();
                var ceLo = Avx512BW.UnpackLow(c, e).AsUInt16();
                var ceHi = Avx512BW.UnpackHigh(c, e).AsUInt16();
                var v0 = Avx512BW.UnpackLow(abLo, ceLo).AsByte();
                var v1 = Avx512BW.UnpackHigh(abLo, ceLo).AsByte();
                var v2 = Avx512BW.UnpackLow(abHi, ceHi).AsByte();
                var v3 = Avx512BW.UnpackHigh(abHi, ceHi).AsByte();
                StoreLanes(v0.GetLower(), ref d, blockStride);
                StoreLanes(v1.GetLower(), ref Unsafe.Add(ref d, 16), blockStride);
                StoreLanes(v2.GetLower(), ref Unsafe.Add(ref d, 32), blockStride);
                StoreLanes(v3.GetLower(), ref Unsafe.Add(ref d, 48), blockStride);
                ref byte d2 = ref Unsafe.Add(ref d, 2 * blockStride);
                StoreLanes(v0.GetUpper(), ref d2, blockStride);
                StoreLanes(v1.GetUpper(), ref Unsafe.Add(ref d2, 16), blockStride);
                StoreLanes(v2.GetUpper(), ref Unsafe.Add(ref d2, 32), blockStride);
                StoreLanes(v3.GetUpper(), ref Unsafe.Add(ref d2, 48), blockStride);
                return;
            }
            if (Avx2.IsSupported)
            {
                var a = Vector256.LoadUnsafe(ref r0);
                var b = Vector256.LoadUnsafe(ref r1);
                var c = Vector256.LoadUnsafe(ref r2);
                var e = Vector256.LoadUnsafe(ref r3);
                if (flip != 0)
                {
                    var xor = Vector256.Create(flip);
                    a ^= xor; b ^= xor; c ^= xor; e ^= xor;
                }
                var abLo = Avx2.UnpackLow(a, b).AsUInt16();
                var abHi = Avx2.UnpackHigh(a, b).AsUInt16();
                var ceLo = Avx2.UnpackLow(c, e).AsUInt16();
                var ceHi = Avx2.UnpackHigh(c, e).AsUInt16();
                StoreLanes(Avx2.UnpackLow(abLo, ceLo).AsByte(), ref d, blockStride);
                StoreLanes(Avx2.UnpackHigh(abLo, ceLo).AsByte(), ref Unsafe.Add(ref d, 16), blockStride);
                StoreLanes(Avx2.UnpackLow(abHi, ceHi).AsByte(), ref Unsafe.Add(ref d, 32), blockStride);
                StoreLanes(Avx2.UnpackHigh(abHi, ceHi).AsByte(), ref Unsafe.Add(ref d, 48), blockStride);
                return;
            }
            throw new PlatformNotSupportedException();
        }

        /// <summary>The two 16-byte lanes of <paramref name="v"/> to d and d + <paramref name="blockStride"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreLanes(Vector256<byte> v, ref byte d, int blockStride)
        {
            v.GetLower().StoreUnsafe(ref d);
            v.GetUpper().StoreUnsafe(ref Unsafe.Add(ref d, blockStride));
        }

        /// <summary>16 bytes of each of four rows, xored with <paramref name="flip"/> (unless 0), interleaved into 64 (pixel j's bytes at 4j..4j+3): byte then word unpacks.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PackQuad(ref byte r0, ref byte r1, ref byte r2, ref byte r3, ref byte d, byte flip)
        {
            if (Sse2.IsSupported || AdvSimd.Arm64.IsSupported)
            {
                var a = Vector128.LoadUnsafe(ref r0);
                var b = Vector128.LoadUnsafe(ref r1);
                var c = Vector128.LoadUnsafe(ref r2);
                var e = Vector128.LoadUnsafe(ref r3);
                if (flip != 0)
                {
                    var xor = Vector128.Create(flip);
                    a ^= xor; b ^= xor; c ^= xor; e ^= xor;
                }
                var abLo = ZipLow(a, b);
                var abHi = ZipHigh(a, b);
                var ceLo = ZipLow(c, e);
                var ceHi = ZipHigh(c, e);
                ZipLow(abLo.AsUInt16(), ceLo.AsUInt16()).AsByte().StoreUnsafe(ref d);
                ZipHigh(abLo.AsUInt16(), ceLo.AsUInt16()).AsByte().StoreUnsafe(ref d, 16);
                ZipLow(abHi.AsUInt16(), ceHi.AsUInt16()).AsByte().StoreUnsafe(ref d, 32);
                ZipHigh(abHi.AsUInt16(), ceHi.AsUInt16()).AsByte().StoreUnsafe(ref d, 48);
                return;
            }
            byte f = flip;
            for (int j = 0; j < PixelBlock; j++)
            {
                Unsafe.Add(ref d, 4 * j) = (byte)(Unsafe.Add(ref r0, j) ^ f);
                Unsafe.Add(ref d, 4 * j + 1) = (byte)(Unsafe.Add(ref r1, j) ^ f);
                Unsafe.Add(ref d, 4 * j + 2) = (byte)(Unsafe.Add(ref r2, j) ^ f);
                Unsafe.Add(ref d, 4 * j + 3) = (byte)(Unsafe.Add(ref r3, j) ^ f);
            }
        }

        /// <summary>
        /// The padded image (C × PH rows of <paramref name="strideW"/> phases of <paramref name="pws"/> bytes): padded column j
        /// is byte j / sW of phase j % sW, so a strided run of a padded row is a contiguous run of one phase.
        /// </summary>
        private static void PadImage(ReadOnlySpan<byte> x, Span<byte> padded, int c, int h, int wd, int ph, int pws, int strideW,
            int padTop, int padLeft, byte zero)
        {
            int planeBytes = ph * strideW * pws;
            padded.Slice(0, c * planeBytes).Fill(zero);
            var g = new PaddedPlane.Geometry(h, wd, padTop, padLeft, strideW, pws);
            for (int ic = 0; ic < c; ic++)
                PaddedPlane.CopyInterior(x.Slice(ic * h * wd, h * wd), padded.Slice(ic * planeBytes, planeBytes), g);
        }

        /// <summary>
        /// Row k = (ic·KH + ky)·KW + kx of the patches of output pixels p0 .. p0 + pixels − 1, at patches[k·stride]: runs of
        /// output rows, each a contiguous run of one phase of the padded image.
        /// </summary>
        private static void Im2Col(ReadOnlySpan<byte> padded, Span<byte> patches, int stride, int p0, int pixels, int c, int ph, int pws,
            int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW)
        {
            ref byte s0 = ref MemoryMarshal.GetReference(padded);
            ref byte d0 = ref MemoryMarshal.GetReference(patches);
            int rowBytes = strideW * pws;
            int row = 0;
            for (int ic = 0; ic < c; ic++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++, row++)
                    {
                        int tapOffset = TapOffset(ic, ky, kx, ph, pws, strideW, dilH, dilW);
                        ref byte dst = ref Unsafe.Add(ref d0, row * stride);
                        int p = p0, end = p0 + pixels;
                        while (p < end)
                        {
                            int oy = p / ow, ox = p - oy * ow;
                            int run = Math.Min(ow - ox, end - p);
                            CopyRun(ref Unsafe.Add(ref s0, tapOffset + oy * strideH * rowBytes + ox), ref Unsafe.Add(ref dst, p - p0), run);
                            p += run;
                        }
                    }
        }

        /// <summary>Largest depth packed straight from the padded image (its tap offsets live on the stack).</summary>
        private const int MaxDirectTaps = 4096;

        /// <summary>
        /// Offset in the padded image of tap (ic, ky, kx) for output pixel (0, 0); pixel (oy, ox) adds oy·sH·sW·PWs + ox:
        /// ((ic·PH + ky·dH)·sW + phase)·PWs + kx·dW / sW with phase = kx·dW mod sW.
        /// </summary>
        private static int TapOffset(int ic, int ky, int kx, int ph, int pws, int strideW, int dilH, int dilW)
        {
            int col = kx * dilW;
            return ((ic * ph + ky * dilH) * strideW + col % strideW) * pws + col / strideW;
        }

        /// <summary>Copies a run 16 bytes at a time, overrunning by up to 15 bytes (the buffers have <see cref="CopySlack"/> after them; later runs overwrite the rest).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyRun(ref byte src, ref byte dst, int length)
        {
            for (int o = 0; o < length; o += 16)
                Vector128.LoadUnsafe(ref Unsafe.Add(ref src, o)).StoreUnsafe(ref Unsafe.Add(ref dst, o));
        }

        /// <summary>
        /// Portable tiles (Vector128, or scalar): a lane is a pixel and byte t of the lane is x' = x − 128 for k = 4q + t,
        /// sign-extended by shifts (signed mode), or x itself, zero-extended (unsigned mode), times the broadcast weight. Exact
        /// for all weights in both modes. Requantized per row with <see cref="Requantize.Tile16"/>.
        /// </summary>
        private static void BlockPortable(Path path, ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
            ReadOnlySpan<int> offsets, ReadOnlySpan<float> scales, Span<byte> y, Span<int> y32, int plane, int rows, int yZeroPoint, int clampMin, int clampMax,
            bool unsignedActivations)
        {
            bool int32Output = y.IsEmpty;
            Span<int> acc = stackalloc int[PixelBlock];
            Span<float> s16 = stackalloc float[PixelBlock];
            Span<byte> out16 = stackalloc byte[PixelBlock];
            var rq = path == Path.Scalar ? Requantize.Path.Scalar : Requantize.Path.Vector128;
            ref byte a0 = ref MemoryMarshal.GetReference(packed);
            ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
            ref int acc0 = ref MemoryMarshal.GetReference(acc);
            for (int r = 0; r < rows; r++)
            {
                s16.Fill(scales[r]);
                for (int p = 0, blk = 0; p < pixels; p += PixelBlock, blk++)
                {
                    ref byte a = ref Unsafe.Add(ref a0, blk * quads * 64);
                    if (path == Path.Vector128)
                    {
                        var c0 = Vector128.Create(offsets[r]);
                        Vector128<int> c1 = c0, c2 = c0, c3 = c0;
                        for (int q = 0; q < quads; q++)
                        {
                            ref byte aq = ref Unsafe.Add(ref a, q * 64);
                            var x0 = Vector128.LoadUnsafe(ref aq).AsInt32();
                            var x1 = Vector128.LoadUnsafe(ref aq, 16).AsInt32();
                            var x2 = Vector128.LoadUnsafe(ref aq, 32).AsInt32();
                            var x3 = Vector128.LoadUnsafe(ref aq, 48).AsInt32();
                            for (int t = 0; t < 4; t++)
                            {
                                var w = Vector128.Create((int)Unsafe.Add(ref w0, q * 16 + r * 4 + t));
                                c0 += Lane(x0, t, unsignedActivations) * w;
                                c1 += Lane(x1, t, unsignedActivations) * w;
                                c2 += Lane(x2, t, unsignedActivations) * w;
                                c3 += Lane(x3, t, unsignedActivations) * w;
                            }
                        }
                        c0.StoreUnsafe(ref acc0); c1.StoreUnsafe(ref acc0, 4); c2.StoreUnsafe(ref acc0, 8); c3.StoreUnsafe(ref acc0, 12);
                    }
                    else
                    {
                        for (int j = 0; j < PixelBlock; j++)
                        {
                            int sum = offsets[r];
                            for (int q = 0; q < quads; q++)
                                for (int t = 0; t < 4; t++)
                                {
                                    byte v = Unsafe.Add(ref a, q * 64 + 4 * j + t);
                                    sum = unchecked(sum + (unsignedActivations ? v : (sbyte)v) * Unsafe.Add(ref w0, q * 16 + r * 4 + t));
                                }
                            acc[j] = sum;
                        }
                    }
                    int count = Math.Min(PixelBlock, pixels - p);
                    if (int32Output)
                    {
                        acc.Slice(0, count).CopyTo(y32.Slice(r * plane + p, count));
                        continue;
                    }
                    Requantize.Tile16(rq, acc, s16, out16, yZeroPoint, clampMin, clampMax, signed: false);
                    out16.Slice(0, count).CopyTo(y.Slice(r * plane + p, count));
                }
            }
        }
        /// <summary>Byte <paramref name="t"/> of each int32 lane: sign-extended (x' = x − 128, signed mode) or zero-extended (x, unsigned mode).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> Lane(Vector128<int> x, int t, bool unsignedActivations)
        {
            var high = Vector128.ShiftLeft(x, 24 - 8 * t);
            return unsignedActivations ? Vector128.ShiftRightLogical(high, 24) : Vector128.ShiftRightArithmetic(high, 24);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> ZipLow(Vector128<byte> a, Vector128<byte> b) =>
            Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> ZipHigh(Vector128<byte> a, Vector128<byte> b) =>
            Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<ushort> ZipLow(Vector128<ushort> a, Vector128<ushort> b) =>
            Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<ushort> ZipHigh(Vector128<ushort> a, Vector128<ushort> b) =>
            Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
    }
}
