#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    // Requires: Requantize
    /// <summary>
    /// Quantized matrix multiply: uint8 activations A (M×K, row-major) times int8 weights B (K×N, packed at build time)
    /// into int32 accumulators, then requantized per output column to uint8.
    /// </summary>
    /// <remarks>
    /// <para><b>Math.</b> With activation zero point za and weight zero points zb[n] (0 for symmetric weights):</para>
    /// <code>
    /// acc[i,n] = bias[n] + Σ_k (a[i,k] − za)·(b[k,n] − zb[n])
    ///          = Σ_k (a[i,k] − c)·b[k,n]                    the product every path computes, c = 0 or 128
    ///          + bias[n] + (c − za)·colsum[n] + K·za·zb[n]   per column: build-time colsum[n] = Σ_k b[k,n]
    ///          − zb[n]·rowsum[i]                             per row: rowsum[i] = Σ_k a[i,k], only if some zb[n] ≠ 0
    /// y[i,n]   = clamp(zy + round((float)acc[i,n]·scale[n]), lo, hi)   float32 scale, round half to even (Requantize)
    /// </code>
    /// <para>The SIMD paths multiply a' = a − 128 (a ^ 0x80, so a' is int8) because no x86 or Arm instruction multiplies
    /// u8 by s8 into int32 without an int16 step that can saturate: AVX2/AVX-512BW <c>vpmaddubsw</c> adds two u8·s8 products
    /// into a saturating int16 (255·127·2 &gt; 32767). MLAS accepts that saturation (or asks for 7-bit weights, ORT's
    /// reduce_range); we avoid it exactly with the sign trick: a'·b = |a'|·(b·sgn(a')), and |a'| ≤ 128, |b| ≤ 127 bound a
    /// pair by 2·128·127 = 32512. That needs b ≠ −128 (b·sgn(a') must fit int8): the build-time packer records whether
    /// some weight is −128 (never, for our symmetric quantizer and ONNX Runtime's), and such matrices take the exact
    /// widening path instead (AVX2: vpmaddwd on int16-widened operands, <see cref="MicroAvx2Widen"/>). Arm's SDOT
    /// multiplies s8·s8 into int32 directly, so a' suits it as is.</para>
    /// <para>Every path's accumulator arithmetic is exact modulo 2^32, so all paths and the integer reference agree bit
    /// for bit whenever the true accumulator fits int32 (K ≤ 32768 guarantees it).</para>
    /// <para><b>Layout.</b> Packed B: panels of 16 columns, K in quads of 4; panel p, quad q is 64 bytes, column j's 4 weights
    /// at bytes 4j..4j+3 (see Q.Compiler.Quantization.PackedQGemmWeights). The driver walks panels, then blocks of
    /// rows; a micro-kernel accumulates a rows×16 tile over all of K, then the epilogue requantizes and stores it.</para>
    /// </remarks>
    internal static partial class QGemm
    {
        public const int PanelWidth = 16;
        public const int KGroup = 4;
        /// <summary>Largest expanded panel (bytes) whose partial last panel is packed compact (Q.Compiler.Quantization.PackedQGemmWeights).</summary>
        public const int CompactPanelLimit = 16384;

        /// <summary>Bytes of packed B for K×N: full panels of 16 columns, the last partial one compact when it expands to at most <see cref="CompactPanelLimit"/>.</summary>
        public static int PackedLength(int k, int n)
        {
            int quads = (k + KGroup - 1) / KGroup;
            bool compact = n % PanelWidth != 0 && quads * PanelWidth * KGroup <= CompactPanelLimit;
            return compact ? n / PanelWidth * quads * PanelWidth * KGroup + quads * (n % PanelWidth) * KGroup
                : (n + PanelWidth - 1) / PanelWidth * quads * PanelWidth * KGroup;
        }
        private const int MaxRows = 8;

        /// <summary>Which implementation <see cref="U8S8"/> uses on this machine for weights in [−127, 127].</summary>
        public static string SelectedPath => PathFor(weightsHaveMinus128: false).ToString();

        /// <summary>Implementation ids for tests and benchmarks; <see cref="U8S8"/> picks one with <see cref="PathFor"/>.</summary>
        public enum Path { Scalar, Vector128, Avx2, Avx2Widen, Avx512BW, AdvSimd, AdvSimdDp }

        public static bool IsSupported(Path p) => p switch
        {
            Path.Scalar => true,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            Path.Avx2 => Avx2.IsSupported,
            Path.Avx2Widen => Avx2.IsSupported,
            Path.Avx512BW => Avx512BW.IsSupported,
            Path.AdvSimd => AdvSimd.Arm64.IsSupported,
            Path.AdvSimdDp => AdvSimd.Arm64.IsSupported && Dp.IsSupported,
            _ => false,
        };

        /// <summary>The fastest exact path for weights that do (not) contain −128.</summary>
        public static Path PathFor(bool weightsHaveMinus128)
        {
            if (!weightsHaveMinus128 && Avx512BW.IsSupported) return Path.Avx512BW;
            if (!weightsHaveMinus128 && Avx2.IsSupported) return Path.Avx2;
            if (AdvSimd.Arm64.IsSupported) return Dp.IsSupported ? Path.AdvSimdDp : Path.AdvSimd;
            if (Avx2.IsSupported) return Path.Avx2Widen;
            if (Vector128.IsHardwareAccelerated) return Path.Vector128;
            return Path.Scalar;
        }

        /// <summary>
        /// y[i,n] = clamp(zy + round((bias[n] + Σ_k (a[i,k] − za)(b[k,n] − zb[n]))·M[n]), lo, hi) as uint8.
        /// <paramref name="bZeroPoints"/> and <paramref name="bias"/> may be empty (all zero); scales have one
        /// entry per column. <paramref name="weightsHaveMinus128"/> is the packer's build-time flag.
        /// </summary>
        public static void U8S8(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bias, ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<float> scales,
            Span<byte> y, int m, int n, int k, int aZeroPoint, int yZeroPoint, int clampMin, int clampMax, bool weightsHaveMinus128)
        {
            Run(PathFor(weightsHaveMinus128), a, packedB, columnSums, bias, bZeroPoints, scales, y, default, m, n, k,
                aZeroPoint, yZeroPoint, clampMin, clampMax);
        }

        /// <summary>
        /// The raw accumulators y[i,n] = bias[n] + Σ_k (a[i,k] − za)(b[k,n] − zb[n]) as int32 (MatMulInteger, ConvInteger,
        /// or a float epilogue).
        /// </summary>
        public static void U8S8Int32(ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bias, ReadOnlySpan<int> bZeroPoints, Span<int> y, int m, int n, int k, int aZeroPoint, bool weightsHaveMinus128)
        {
            Run(PathFor(weightsHaveMinus128), a, packedB, columnSums, bias, bZeroPoints, default, default, y, m, n, k,
                aZeroPoint, 0, 0, 0);
        }

        /// <summary>
        /// Runs one given implementation (tests call each path directly). Exactly one of <paramref name="y8"/> (requantized)
        /// and <paramref name="y32"/> (raw accumulators) is non-empty.
        /// </summary>
        public static void Run(Path path, ReadOnlySpan<byte> a, ReadOnlySpan<sbyte> packedB, ReadOnlySpan<int> columnSums,
            ReadOnlySpan<int> bias, ReadOnlySpan<int> bZeroPoints, ReadOnlySpan<float> scales,
            Span<byte> y8, Span<int> y32, int m, int n, int k, int aZeroPoint, int yZeroPoint, int clampMin, int clampMax)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QGemm path " + path + " is not supported on this machine");
            int quads = (k + KGroup - 1) / KGroup;
            int panels = (n + PanelWidth - 1) / PanelWidth;
            bool requant = y32.IsEmpty;
            if (a.Length < m * k || packedB.Length < PackedLength(k, n) || columnSums.Length < n
                || (requant ? y8.Length < m * n || scales.Length < n : y32.Length < m * n)
                || (bias.Length != 0 && bias.Length < n) || (bZeroPoints.Length != 0 && bZeroPoints.Length < n))
                throw new ArgumentException("QGemm operand sizes do not match M=" + m + ", N=" + n + ", K=" + k);
            if (m == 0 || n == 0) return;

            // The products the path forms: (a − c)·b with c = 128 on the SIMD paths that work on a' = a ^ 0x80.
            int c = path is Path.Scalar or Path.Vector128 or Path.Avx2Widen ? 0 : 128;
            int rowsPerTile = path == Path.Avx512BW ? 8 : path is Path.AdvSimd or Path.Avx2Widen ? 2 : 4;
            int fullQuads = k / KGroup;
            bool hasTail = fullQuads != quads;
            bool rowSums = !bZeroPoints.IsEmpty;

            Span<int> tile = stackalloc int[MaxRows * PanelWidth];
            Span<int> colOffset = stackalloc int[PanelWidth];
            Span<int> rowSum = stackalloc int[MaxRows];
            Span<byte> tail = stackalloc byte[MaxRows * KGroup];
            Span<float> panelScale = stackalloc float[PanelWidth];
            Span<byte> partial = stackalloc byte[PanelWidth];
            Requantize.Path rq = path switch
            {
                Path.Avx512BW => Requantize.Path.Avx512,
                Path.Avx2 or Path.Avx2Widen => Requantize.Path.Avx2,
                Path.AdvSimd or Path.AdvSimdDp => Requantize.Path.AdvSimd,
                Path.Vector128 => Requantize.Path.Vector128,
                _ => Requantize.Path.Scalar,
            };
            ref byte a0 = ref MemoryMarshal.GetReference(a);
            ref sbyte b0 = ref MemoryMarshal.GetReference(packedB);
            // A compact last panel (r columns, r·4 bytes per quad) is expanded here to the 64-byte blocks the micro-kernels read.
            int lastCols = n % PanelWidth;
            bool compactLast = lastCols != 0 && quads * PanelWidth * KGroup <= CompactPanelLimit;
            Span<sbyte> expanded = compactLast ? stackalloc sbyte[quads * PanelWidth * KGroup] : Span<sbyte>.Empty;
            if (compactLast)
            {
                expanded.Clear();
                ReadOnlySpan<sbyte> src = packedB.Slice((panels - 1) * quads * PanelWidth * KGroup, quads * lastCols * KGroup);
                for (int q = 0; q < quads; q++)
                    src.Slice(q * lastCols * KGroup, lastCols * KGroup).CopyTo(expanded.Slice(q * PanelWidth * KGroup));
            }

            for (int p = 0; p < panels; p++)
            {
                int n0 = p * PanelWidth;
                int cols = Math.Min(PanelWidth, n - n0);
                // Per column: bias + (c − za)·colsum + K·za·zb (wrapping int32 arithmetic: exact mod 2^32).
                for (int j = 0; j < PanelWidth; j++)
                {
                    if (j >= cols) { colOffset[j] = 0; continue; }
                    int zb = rowSums ? bZeroPoints[n0 + j] : 0;
                    colOffset[j] = unchecked((bias.IsEmpty ? 0 : bias[n0 + j]) + (c - aZeroPoint) * columnSums[n0 + j] + k * aZeroPoint * zb);
                }
                ref sbyte panel = ref compactLast && p == panels - 1 ? ref MemoryMarshal.GetReference(expanded) : ref Unsafe.Add(ref b0, p * quads * PanelWidth * KGroup);
                if (requant)
                {
                    // Padding columns get scale 0; their results are computed and dropped.
                    panelScale.Clear();
                    scales.Slice(n0, cols).CopyTo(panelScale);
                }

                int done = 0;
                if (requant && path == Path.Avx2 && !rowSums)
                {
                    // A partial last quad is read whole: the bytes past a row's end (the next row's) meet zero-padded
                    // weights and add exactly 0. Only rows whose whole quads lie within A take this path.
                    int safeRows = a.Length < quads * KGroup ? 0 : Math.Min(m, (a.Length - quads * KGroup) / k + 1);
                    done = PanelAvx2Requantized(ref a0, k, safeRows, ref panel, quads, colOffset, panelScale, ref y8[n0], n, cols,
                        yZeroPoint, clampMin, clampMax);
                }
                for (int i0 = done; i0 < m; i0 += rowsPerTile)
                {
                    int rows = Math.Min(rowsPerTile, m - i0);
                    ref byte aBlock = ref Unsafe.Add(ref a0, i0 * k);
                    Micro(path, ref aBlock, k, rows, ref panel, fullQuads, tile, accumulate: false);
                    if (hasTail)
                    {
                        // The last, partial quad: copy it zero-padded (padded weights are 0, so the padding value is irrelevant).
                        tail.Clear();
                        for (int r = 0; r < rows; r++)
                            for (int t = 0; t < k - fullQuads * KGroup; t++)
                                tail[r * KGroup + t] = Unsafe.Add(ref aBlock, r * k + fullQuads * KGroup + t);
                        Micro(path, ref MemoryMarshal.GetReference(tail), KGroup, rows, ref Unsafe.Add(ref panel, fullQuads * PanelWidth * KGroup),
                            1, tile, accumulate: true);
                    }
                    if (rowSums)
                        for (int r = 0; r < rows; r++)
                        {
                            int s = 0;
                            ReadOnlySpan<byte> row = a.Slice((i0 + r) * k, k);
                            for (int t = 0; t < row.Length; t++) s += row[t];
                            rowSum[r] = s;
                        }
                    if (requant && rq == Requantize.Path.Avx2 && !rowSums)
                    {
                        // Fused AVX2 epilogue: offsets, requantization, clamp and pack in registers, 16 outputs per row.
                        ref int t0 = ref MemoryMarshal.GetReference(tile);
                        ref int o0 = ref MemoryMarshal.GetReference(colOffset);
                        ref float ps = ref MemoryMarshal.GetReference(panelScale);
                        var off0 = Vector256.LoadUnsafe(ref o0); var off1 = Vector256.LoadUnsafe(ref o0, 8);
                        var s0 = Vector256.LoadUnsafe(ref ps); var s1 = Vector256.LoadUnsafe(ref ps, 8);
                        var vlo = Vector256.Create((float)(clampMin - yZeroPoint)); var vhi = Vector256.Create((float)(clampMax - yZeroPoint));
                        var vz = Vector256.Create(yZeroPoint);
                        for (int r = 0; r < rows; r++)
                        {
                            ref int tr = ref Unsafe.Add(ref t0, r * PanelWidth);
                            var packed = Requantize.Avx2Row16(Avx2.Add(Vector256.LoadUnsafe(ref tr), off0), Avx2.Add(Vector256.LoadUnsafe(ref tr, 8), off1),
                                s0, s1, vlo, vhi, vz, signed: false);
                            if (cols == PanelWidth) packed.StoreUnsafe(ref y8[(i0 + r) * n + n0]);
                            else
                            {
                                packed.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
                                partial.Slice(0, cols).CopyTo(y8.Slice((i0 + r) * n + n0, cols));
                            }
                        }
                        continue;
                    }
                    if (!requant && !rowSums && cols == PanelWidth && Vector128.IsHardwareAccelerated)
                    {
                        // Raw accumulators: add the column offsets and store, 4 lanes at a time.
                        ref int t0 = ref MemoryMarshal.GetReference(tile);
                        ref int o0 = ref MemoryMarshal.GetReference(colOffset);
                        for (int r = 0; r < rows; r++)
                        {
                            ref int dst = ref y32[(i0 + r) * n + n0];
                            for (int j = 0; j < PanelWidth; j += 4)
                                (Vector128.LoadUnsafe(ref t0, (nuint)(r * PanelWidth + j)) + Vector128.LoadUnsafe(ref o0, (nuint)j)).StoreUnsafe(ref dst, (nuint)j);
                        }
                        continue;
                    }
                    // Add the offsets in place: tile[r, j] += colOffset[j] − zb[j]·rowsum[r].
                    for (int r = 0; r < rows; r++)
                    {
                        Span<int> tr = tile.Slice(r * PanelWidth, PanelWidth);
                        for (int j = 0; j < PanelWidth; j++) tr[j] = unchecked(tr[j] + colOffset[j]);
                        if (rowSums)
                            for (int j = 0; j < cols; j++) tr[j] = unchecked(tr[j] - bZeroPoints[n0 + j] * rowSum[r]);
                    }
                    if (!requant)
                    {
                        for (int r = 0; r < rows; r++)
                            tile.Slice(r * PanelWidth, cols).CopyTo(y32.Slice((i0 + r) * n + n0, cols));
                        continue;
                    }
                    for (int r = 0; r < rows; r++)
                    {
                        Span<byte> dst = y8.Slice((i0 + r) * n + n0, cols);
                        if (cols == PanelWidth)
                            Requantize.Tile16(rq, tile.Slice(r * PanelWidth, PanelWidth), panelScale, dst, yZeroPoint, clampMin, clampMax, signed: false);
                        else
                        {
                            Requantize.Tile16(rq, tile.Slice(r * PanelWidth, PanelWidth), panelScale, partial, yZeroPoint, clampMin, clampMax, signed: false);
                            partial.Slice(0, cols).CopyTo(dst);
                        }
                    }
                }
            }
        }

        /// <summary>Accumulates (a − c)·b over <paramref name="quads"/> K-quads into a rows×16 tile (row stride 16).</summary>
        private static void Micro(Path path, ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            switch (path)
            {
                case Path.Avx512BW: MicroAvx512(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                case Path.Avx2: MicroAvx2(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                case Path.Avx2Widen: MicroAvx2Widen(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                case Path.AdvSimdDp: MicroAdvSimdDp(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                case Path.AdvSimd: MicroAdvSimd(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                case Path.Vector128: MicroVector128(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
                default: MicroScalar(ref a, lda, rows, ref panel, quads, tile, accumulate); break;
            }
        }

        /// <summary>Row r of a block, or row 0 again for the missing rows of a partial block (computed, never stored).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static ref byte RowRef(ref byte a, int lda, int rows, int r) => ref Unsafe.Add(ref a, r < rows ? r * lda : 0);

        /// <summary>The 4 activations a[r, 4q..4q+3] as one little-endian int (byte t is k = 4q+t).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int Quad(ref byte row, int q) => Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref row, q * KGroup));

        private static void MicroScalar(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            if (!accumulate) tile.Clear();
            for (int r = 0; r < rows; r++)
            {
                ref byte row = ref Unsafe.Add(ref a, r * lda);
                Span<int> acc = tile.Slice(r * PanelWidth, PanelWidth);
                for (int q = 0; q < quads; q++)
                {
                    ref sbyte block = ref Unsafe.Add(ref panel, q * PanelWidth * KGroup);
                    int x0 = Unsafe.Add(ref row, q * 4), x1 = Unsafe.Add(ref row, q * 4 + 1);
                    int x2 = Unsafe.Add(ref row, q * 4 + 2), x3 = Unsafe.Add(ref row, q * 4 + 3);
                    for (int j = 0; j < PanelWidth; j++)
                    {
                        ref sbyte w = ref Unsafe.Add(ref block, j * KGroup);
                        acc[j] += x0 * w + x1 * Unsafe.Add(ref w, 1) + x2 * Unsafe.Add(ref w, 2) + x3 * Unsafe.Add(ref w, 3);
                    }
                }
            }
        }

        /// <summary>
        /// Portable Vector128 path (raw a, c = 0): a lane is a column; the weight of k = 4q+t is byte t of the lane,
        /// sign-extended by shifting left then arithmetic right, times a broadcast activation. Exact for all weights.
        /// </summary>
        private static void MicroVector128(ref byte a, int lda, int rows, ref sbyte panel, int quads, Span<int> tile, bool accumulate)
        {
            ref int t0 = ref MemoryMarshal.GetReference(tile);
            for (int r = 0; r < rows; r++)
            {
                ref byte row = ref Unsafe.Add(ref a, r * lda);
                ref int tr = ref Unsafe.Add(ref t0, r * PanelWidth);
                Vector128<int> c0 = Vector128<int>.Zero, c1 = c0, c2 = c0, c3 = c0;
                if (accumulate)
                {
                    c0 = Vector128.LoadUnsafe(ref tr); c1 = Vector128.LoadUnsafe(ref tr, 4);
                    c2 = Vector128.LoadUnsafe(ref tr, 8); c3 = Vector128.LoadUnsafe(ref tr, 12);
                }
                for (int q = 0; q < quads; q++)
                {
                    ref sbyte block = ref Unsafe.Add(ref panel, q * PanelWidth * KGroup);
                    var w0 = Vector128.LoadUnsafe(ref block).AsInt32();
                    var w1 = Vector128.LoadUnsafe(ref block, 16).AsInt32();
                    var w2 = Vector128.LoadUnsafe(ref block, 32).AsInt32();
                    var w3 = Vector128.LoadUnsafe(ref block, 48).AsInt32();
                    for (int t = 0; t < KGroup; t++)
                    {
                        var x = Vector128.Create((int)Unsafe.Add(ref row, q * KGroup + t));
                        int up = 24 - 8 * t;
                        c0 += x * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w0, up), 24);
                        c1 += x * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w1, up), 24);
                        c2 += x * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w2, up), 24);
                        c3 += x * Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(w3, up), 24);
                    }
                }
                c0.StoreUnsafe(ref tr); c1.StoreUnsafe(ref tr, 4); c2.StoreUnsafe(ref tr, 8); c3.StoreUnsafe(ref tr, 12);
            }
        }
    }
}
