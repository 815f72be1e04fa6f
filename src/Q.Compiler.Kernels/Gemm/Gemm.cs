#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    // Requires: Activation
    /// <summary>
    /// Float matrix multiply, organized like ONNX Runtime's MLAS SGEMM: a driver (this file) that blocks the problem,
    /// packs what needs packing and handles edges, and one small micro-kernel per instruction set
    /// (Gemm.Avx512.cs, Gemm.Avx2.cs, Gemm.Vector128.cs for Arm AdvSimd and generic 128-bit SIMD, Gemm.Scalar.cs).
    /// <para>
    /// B is consumed in <b>panels of 16 columns</b> (<see cref="PanelWidth"/>), the same width on every instruction set, so
    /// a B packed at build time works on whatever machine runs the model. Packed layout (<see cref="BPacked"/>): panel
    /// p = j / 16 holds rows k = 0..K−1 of 16 floats each, element (k, j) at <c>b[p·K·16 + k·16 + j % 16]</c>; the last
    /// panel is zero-padded to 16 columns. A is never packed: the micro-kernel broadcasts A(i, k) from
    /// <c>a[i·lda + k·aStep]</c>, so a transposed A costs nothing (aStep = M).
    /// </para>
    /// <para>
    /// A micro-kernel computes a tile of up to MaxRows rows × (16 · panels) columns over one block of K, keeping the
    /// tile in registers: C = (C or rowBias[i] + colBias[j]) + Σ_k A(i, k)·B(k, j), then clamps to [lo, hi] when asked
    /// (Relu and Clip fuse there). The driver loops K in blocks of <see cref="KBlock"/> (accumulating into C after the
    /// first) and columns in blocks of <see cref="NBlockPanels"/> panels, so the B block stays in L2 while every row
    /// tile of A streams through it. Other activations run on each finished tile while it is still in cache.
    /// </para>
    /// </summary>
    internal static partial class Gemm
    {
        /// <summary>Columns per B panel, for every instruction set (and for B packed at build time).</summary>
        public const int PanelWidth = 16;
        /// <summary>K per block: a 16-column panel slice of KBlock rows is 32 KB (L1); fewer, longer blocks also mean fewer passes over C.</summary>
        public const int KBlock = 512;
        /// <summary>Panels per column block: a KBlock × 128 block of B is 256 KB, for L2.</summary>
        public const int NBlockPanels = 8;

        /// <summary>
        /// B layouts: packed panels (above), row-major [K, N] with row stride ldb, transposed [N, K] with row stride ldb,
        /// or rows at offsets: B(k, j) = b[offsets[k] + j] (implicit GEMM: row k of B is a shifted view of the input, so
        /// nothing is copied; the caller guarantees that b holds 16 readable floats past every row's last column).
        /// </summary>
        public const int BPacked = 0, BRowMajor = 1, BTransposed = 2, BOffsets = 3;

        /// <summary>Bias modes of <see cref="Run"/>: none, one scalar, per column [N], per row [M, 1], full [M, N].</summary>
        public const int BiasNone = 0, BiasScalar = 1, BiasPerColumn = 2, BiasPerRow = 3, BiasFull = 4;

        /// <summary>
        /// y = act(alpha·op(A)·op(B) + beta·C) with B computed at run time (or constant but not packed). A is [M, K]
        /// (or [K, M] if transA), B is [K, N] (or [N, K] if transB); C broadcasts per <paramref name="biasMode"/>.
        /// </summary>
        public static void Run(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y,
            int m, int n, int k, bool transA, bool transB, float alpha, float beta, int biasMode, int act, float actAlpha, float actBeta)
        {
            var g = new GemmArgs
            {
                A = a, Lda = transA ? 1 : k, AStep = transA ? m : 1,
                B = b, BLayout = transB ? BTransposed : BRowMajor, Ldb = transB ? k : n,
                C = y, Ldc = n, M = m, N = n, K = k,
            };
            RunWithBias(ref g, c, alpha, beta, biasMode, act, actAlpha, actBeta);
        }

        /// <summary>
        /// y = act(op(A)·B + C) with B packed at build time (layout <see cref="BPacked"/>, alpha already folded in);
        /// bias as in <see cref="Run"/> with beta already folded in.
        /// </summary>
        public static void RunPacked(ReadOnlySpan<float> a, ReadOnlySpan<float> bPacked, ReadOnlySpan<float> c, Span<float> y,
            int m, int n, int k, bool transA, int biasMode, int act, float actAlpha, float actBeta)
        {
            var g = new GemmArgs
            {
                A = a, Lda = transA ? 1 : k, AStep = transA ? m : 1,
                B = bPacked, BLayout = BPacked, Ldb = 0,
                C = y, Ldc = n, M = m, N = n, K = k, PackBuffer = Span<float>.Empty, Offsets = ReadOnlySpan<int>.Empty,
            };
            RunWithBias(ref g, c, 1f, 1f, biasMode, act, actAlpha, actBeta);
        }

        /// <summary>Batched MatMul: for each batch t, y[t] = act(A at aOffsets[t] (M×K) · B at bOffsets[t] (K×N)).</summary>
        public static void Batched(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y, int m, int n, int k,
            ReadOnlySpan<int> aOffsets, ReadOnlySpan<int> bOffsets, int act, float actAlpha, float actBeta)
        {
            for (int t = 0; t < aOffsets.Length; t++)
            {
                var g = new GemmArgs
                {
                    A = a.Slice(aOffsets[t], m * k), Lda = k, AStep = 1,
                    B = b.Slice(bOffsets[t], k * n), BLayout = BRowMajor, Ldb = n,
                    C = y.Slice(t * m * n, m * n), Ldc = n, M = m, N = n, K = k,
                    Act = act, ActAlpha = actAlpha, ActBeta = actBeta,
                };
                Multiply(ref g);
            }
        }

        private static void RunWithBias(ref GemmArgs g, ReadOnlySpan<float> c, float alpha, float beta, int biasMode, int act, float actAlpha, float actBeta)
        {
            int m = g.M, n = g.N;
            if (alpha != 1f || (beta != 1f && biasMode != BiasNone))
            {
                // Rare (alpha and beta are folded into constant weights at build time): plain product, then the epilogue.
                Multiply(ref g);
                for (int i = 0; i < m; i++)
                {
                    Span<float> row = g.C.Slice(i * n, n);
                    for (int j = 0; j < n; j++)
                    {
                        float bias = biasMode switch { BiasScalar => c[0], BiasPerColumn => c[j], BiasPerRow => c[i], BiasFull => c[i * n + j], _ => 0f };
                        row[j] = alpha * row[j] + beta * bias;
                    }
                    Activation.Apply(row, act, actAlpha, actBeta);
                }
                return;
            }
            switch (biasMode)
            {
                case BiasScalar: g.RowBias = c.Slice(0, 1); g.RowBiasStep = 0; break;
                case BiasPerColumn: g.ColBias = c.Slice(0, n); break;
                case BiasPerRow: g.RowBias = c.Slice(0, m); g.RowBiasStep = 1; break;
                case BiasFull: c.Slice(0, m * n).CopyTo(g.C); g.Accumulate = true; break;
            }
            g.Act = act; g.ActAlpha = actAlpha; g.ActBeta = actBeta;
            Multiply(ref g);
        }

        /// <summary>The micro-kernel this machine uses (JIT-time constant; for tests and benchmarks).</summary>
        public static string SelectedPath =>
            Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? "Avx512" :
            Vector256.IsHardwareAccelerated && Fma.IsSupported ? "Avx2" :
            AdvSimd.IsSupported ? "AdvSimd" :
            Vector128.IsHardwareAccelerated ? "Vector128" : "Scalar";

        /// <summary>C = epilogue(A·B) with the best micro-kernel for this machine (the JIT removes the other branches).</summary>
        public static void Multiply(ref GemmArgs g)
        {
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) Multiply<Avx512Kernel>(ref g);
            else if (Vector256.IsHardwareAccelerated && Fma.IsSupported) Multiply<Avx2Kernel>(ref g);
            else if (AdvSimd.IsSupported) Multiply<AdvSimdKernel>(ref g);
            else if (Vector128.IsHardwareAccelerated) Multiply<Vector128Kernel>(ref g);
            else Multiply<ScalarKernel>(ref g);
        }

        /// <summary>The driver: blocking, packing of B where needed, edges, and the epilogue.</summary>
        internal static void Multiply<TKernel>(ref GemmArgs g) where TKernel : struct, IGemmKernel
        {
            int m = g.M, n = g.N, k = g.K;
            if (m <= 0 || n <= 0) return;
            CheckExtents(ref g);
            if (k == 0)
            {
                // Nothing to multiply: the result is the epilogue alone.
                for (int i = 0; i < m; i++)
                {
                    Span<float> row = g.C.Slice(i * g.Ldc, n);
                    if (!g.Accumulate) row.Clear();
                    for (int j = 0; j < n; j++)
                        row[j] += (g.RowBias.IsEmpty ? 0f : g.RowBias[i * g.RowBiasStep]) + (g.ColBias.IsEmpty ? 0f : g.ColBias[j]);
                    Activation.Apply(row, g.Act, g.ActAlpha, g.ActBeta);
                }
                return;
            }

            const int W = PanelWidth;
            int panels = (n + W - 1) / W, tailCols = n - (panels - 1) * W;
            bool clamp = g.Act == Activation.Relu || g.Act == Activation.Clip;
            float lo = g.Act == Activation.Clip ? g.ActAlpha : 0f, hi = g.Act == Activation.Clip ? g.ActBeta : float.PositiveInfinity;
            bool after = !clamp && g.Act != Activation.None;

            Span<float> zeros = stackalloc float[W];
            Span<float> edgeC = stackalloc float[TKernel.MaxRows * W];
            Span<float> edgeColBias = stackalloc float[W];
            // Packed copy of one KBlock slice of a panel that B's own layout cannot serve (the ragged last panel of a
            // row-major B, every panel of a transposed B).
            // Pack whole blocks of a run-time B when the caller gave room and B is reused by enough rows to pay for it.
            bool packBlock = (g.BLayout == BRowMajor || g.BLayout == BTransposed) && m >= 4
                && g.PackBuffer.Length >= Math.Min(KBlock, k) * Math.Min(NBlockPanels, panels) * W;
            Span<float> packed = packBlock || g.BLayout == BPacked || g.BLayout == BOffsets || (g.BLayout == BRowMajor && tailCols == W)
                ? Span<float>.Empty : stackalloc float[Math.Min(KBlock, k) * W];

            ref float a0 = ref MemoryMarshal.GetReference(g.A);
            ref float b0 = ref MemoryMarshal.GetReference(g.B);
            ref float c0 = ref MemoryMarshal.GetReference(g.C);
            ref float rowBias = ref g.RowBias.IsEmpty ? ref MemoryMarshal.GetReference(zeros) : ref MemoryMarshal.GetReference(g.RowBias);
            nint rowBiasStep = g.RowBias.IsEmpty ? 0 : g.RowBiasStep;
            nint panelStride = g.BLayout == BPacked ? (nint)k * W : W;

            scoped GemmTile t = new GemmTile { Lda = g.Lda, AStep = g.AStep, Lo = lo, Hi = hi };
            for (int nb = 0; nb < panels; nb += NBlockPanels)
            {
                int blockPanels = Math.Min(NBlockPanels, panels - nb);
                bool hasTail = nb + blockPanels == panels && tailCols < W;
                for (int kb = 0; kb < k; kb += KBlock)
                {
                    int kc = Math.Min(KBlock, k - kb);
                    bool first = kb == 0 && !g.Accumulate, last = kb + kc == k;
                    t.K = kc;
                    t.Clamp = last && clamp;
                    // Panel groups this block is computed in: each is read by one kernel call per row tile.
                    int group = 0;
                    while (group < blockPanels)
                    {
                        int p = nb + group;
                        int count;
                        bool ragged = false;
                        t.Indirect = false;
                        if (g.BLayout == BOffsets)
                        {
                            count = blockPanels;
                            t.B = ref Unsafe.Add(ref b0, (nint)p * W);
                            t.Ldb = 0; t.PanelStride = W;
                            t.Offsets = ref Unsafe.Add(ref MemoryMarshal.GetReference(g.Offsets), kb);
                            t.Indirect = true;
                            ragged = hasTail;
                        }
                        else if (packBlock)
                        {
                            // Run-time B copied block by block into panels: unit-stride reads for the kernel, no cache-set
                            // conflicts between rows of B whose stride is a multiple of 4 KB.
                            count = blockPanels;
                            for (int pp = 0; pp < count; pp++)
                                PackPanel(g.B, g.BLayout, g.Ldb, kb, kc, (p + pp) * W, p + pp == panels - 1 ? tailCols : W, g.PackBuffer.Slice(pp * kc * W, kc * W));
                            t.B = ref MemoryMarshal.GetReference(g.PackBuffer);
                            t.Ldb = W; t.PanelStride = (nint)kc * W;
                            ragged = hasTail;
                        }
                        else if (g.BLayout == BPacked)
                        {
                            count = blockPanels - group;
                            t.B = ref Unsafe.Add(ref b0, p * panelStride + (nint)kb * W);
                            t.Ldb = W; t.PanelStride = panelStride;
                            ragged = hasTail && group + count == blockPanels;
                        }
                        else if (g.BLayout == BRowMajor && !(hasTail && p == panels - 1))
                        {
                            count = blockPanels - group - (hasTail ? 1 : 0);
                            t.B = ref Unsafe.Add(ref b0, (nint)kb * g.Ldb + (nint)p * W);
                            t.Ldb = g.Ldb; t.PanelStride = W;
                        }
                        else
                        {
                            count = 1;
                            int cols = p == panels - 1 ? tailCols : W;
                            PackPanel(g.B, g.BLayout, g.Ldb, kb, kc, p * W, cols, packed);
                            t.B = ref MemoryMarshal.GetReference(packed);
                            t.Ldb = W; t.PanelStride = 0;
                            ragged = cols < W;
                        }
                        int fullCount = ragged ? count - 1 : count;
                        for (int i = 0; i < m;)
                        {
                            int rows = Math.Min(TKernel.MaxRows, m - i);
                            t.A = ref Unsafe.Add(ref a0, (nint)i * g.Lda + (nint)kb * g.AStep);
                            t.RowBias = ref Unsafe.Add(ref rowBias, i * rowBiasStep); t.RowBiasStep = rowBiasStep;
                            t.Accumulate = !first;
                            if (fullCount > 0)
                            {
                                t.Panels = fullCount;
                                t.C = ref Unsafe.Add(ref c0, (nint)i * g.Ldc + (nint)p * W); t.Ldc = g.Ldc;
                                if (g.ColBias.IsEmpty) { t.ColBias = ref MemoryMarshal.GetReference(zeros); t.ColBiasPanelStep = 0; }
                                else { t.ColBias = ref Unsafe.Add(ref MemoryMarshal.GetReference(g.ColBias), p * W); t.ColBiasPanelStep = W; }
                                TKernel.Run(ref t, rows);
                            }
                            if (ragged)
                            {
                                // The last, partial panel: computed 16 wide into a small tile, then its valid columns copied out.
                                int pt = p + fullCount, cols = tailCols;
                                ref float bSave = ref t.B;
                                t.B = ref Unsafe.Add(ref t.B, fullCount * t.PanelStride);
                                t.Panels = 1;
                                t.C = ref MemoryMarshal.GetReference(edgeC); t.Ldc = W;
                                if (!first)
                                    for (int r = 0; r < rows; r++) g.C.Slice((i + r) * g.Ldc + pt * W, cols).CopyTo(edgeC.Slice(r * W, cols));
                                if (g.ColBias.IsEmpty) t.ColBias = ref MemoryMarshal.GetReference(zeros);
                                else
                                {
                                    g.ColBias.Slice(pt * W, cols).CopyTo(edgeColBias);
                                    t.ColBias = ref MemoryMarshal.GetReference(edgeColBias);
                                }
                                t.ColBiasPanelStep = 0;
                                TKernel.Run(ref t, rows);
                                for (int r = 0; r < rows; r++) edgeC.Slice(r * W, cols).CopyTo(g.C.Slice((i + r) * g.Ldc + pt * W, cols));
                                t.B = ref bSave;
                            }
                            if (last && after)
                                for (int r = 0; r < rows; r++)
                                    Activation.Apply(g.C.Slice((i + r) * g.Ldc + p * W, Math.Min(count * W, n - p * W)), g.Act, g.ActAlpha, g.ActBeta);
                            i += rows;
                        }
                        group += count;
                    }
                }
            }
        }

        /// <summary>Copies rows kb..kb+kc, columns j0..j0+cols of a row-major or transposed B into one zero-padded panel.</summary>
        private static void PackPanel(ReadOnlySpan<float> b, int layout, int ldb, int kb, int kc, int j0, int cols, Span<float> dst)
        {
            const int W = PanelWidth;
            if (layout == BRowMajor)
            {
                if ((long)(kb + kc - 1) * ldb + j0 + cols > b.Length || kc * W > dst.Length) throw new ArgumentException("B is smaller than its shape");
                ref float s = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), (nint)kb * ldb + j0);
                ref float d = ref MemoryMarshal.GetReference(dst);
                if (cols == W)
                {
                    for (int kk = 0; kk < kc; kk++)
                    {
                        if (Vector256.IsHardwareAccelerated)
                        {
                            Vector256.LoadUnsafe(ref s).StoreUnsafe(ref d);
                            Vector256.LoadUnsafe(ref s, 8).StoreUnsafe(ref d, 8);
                        }
                        else if (Vector128.IsHardwareAccelerated)
                        {
                            Vector128.LoadUnsafe(ref s).StoreUnsafe(ref d);
                            Vector128.LoadUnsafe(ref s, 4).StoreUnsafe(ref d, 4);
                            Vector128.LoadUnsafe(ref s, 8).StoreUnsafe(ref d, 8);
                            Vector128.LoadUnsafe(ref s, 12).StoreUnsafe(ref d, 12);
                        }
                        else
                            for (int j = 0; j < W; j++) Unsafe.Add(ref d, j) = Unsafe.Add(ref s, j);
                        s = ref Unsafe.Add(ref s, ldb);
                        d = ref Unsafe.Add(ref d, W);
                    }
                    return;
                }
                for (int kk = 0; kk < kc; kk++)
                {
                    int j = 0;
                    for (; j < cols; j++) Unsafe.Add(ref d, j) = Unsafe.Add(ref s, j);
                    for (; j < W; j++) Unsafe.Add(ref d, j) = 0f;
                    s = ref Unsafe.Add(ref s, ldb);
                    d = ref Unsafe.Add(ref d, W);
                }
                return;
            }
            // Transposed: column j of the panel is row j0 + j of b, contiguous along k.
            if (cols < W) dst.Slice(0, kc * W).Clear();
            for (int j = 0; j < cols; j++)
            {
                ReadOnlySpan<float> src = b.Slice((j0 + j) * ldb + kb, kc);
                for (int kk = 0; kk < kc; kk++) dst[kk * W + j] = src[kk];
            }
        }

        /// <summary>Throws unless every element the driver will touch lies inside the spans (the kernels use unchecked refs).</summary>
        private static void CheckExtents(ref GemmArgs g)
        {
            int m = g.M, n = g.N, k = g.K;
            if (m < 0 || n < 0 || k < 0 || g.Lda < 0 || g.AStep < 0 || g.Ldc < n || g.Ldb < 0) throw new ArgumentOutOfRangeException(nameof(g));
            long aLast = k == 0 ? -1 : (long)(m - 1) * g.Lda + (long)(k - 1) * g.AStep;
            long bNeed = k == 0 ? 0 : g.BLayout switch
            {
                BPacked => (long)((n + PanelWidth - 1) / PanelWidth) * k * PanelWidth,
                BRowMajor => (long)(k - 1) * g.Ldb + n,
                BOffsets => MaxOffset(g.Offsets, k) + (long)(n + PanelWidth - 1) / PanelWidth * PanelWidth,
                _ => (long)(n - 1) * g.Ldb + k,
            };
            long cNeed = (long)(m - 1) * g.Ldc + n;
            if (aLast >= g.A.Length || bNeed > g.B.Length || cNeed > g.C.Length
                || (!g.RowBias.IsEmpty && (long)(m - 1) * g.RowBiasStep >= g.RowBias.Length) || (!g.ColBias.IsEmpty && g.ColBias.Length < n)
                || ((g.BLayout == BRowMajor || g.BLayout == BTransposed) && g.Ldb < (g.BLayout == BRowMajor ? n : k)))
                throw new ArgumentException("GEMM operands are smaller than their shapes and strides require");
        }

        /// <summary>The largest of offsets[0..k), checking that there are k of them and none is negative.</summary>
        private static long MaxOffset(ReadOnlySpan<int> offsets, int k)
        {
            if (offsets.Length < k) throw new ArgumentException("fewer B row offsets than K");
            int max = 0;
            for (int i = 0; i < k; i++)
            {
                if (offsets[i] < 0) throw new ArgumentException("negative B row offset");
                max = Math.Max(max, offsets[i]);
            }
            return max;
        }

        /// <summary>Floats of <see cref="GemmArgs.PackBuffer"/> that let the driver pack a run-time [K, N] B block by block.</summary>
        public static int PackBufferLength(int k, int n) => Math.Min(KBlock, k) * Math.Min(NBlockPanels, (n + PanelWidth - 1) / PanelWidth) * PanelWidth;

        /// <summary>Number of floats of <see cref="BPacked"/> storage for a [K, N] matrix.</summary>
        public static int PackedLength(int k, int n) => (n + PanelWidth - 1) / PanelWidth * k * PanelWidth;

        /// <summary>Packs a row-major [K, N] matrix into the <see cref="BPacked"/> layout (tests; the build packs constants itself).</summary>
        public static void Pack(ReadOnlySpan<float> b, int k, int n, Span<float> dst)
        {
            const int W = PanelWidth;
            int panels = (n + W - 1) / W;
            dst.Slice(0, PackedLength(k, n)).Clear();
            for (int p = 0; p < panels; p++)
            {
                int cols = Math.Min(W, n - p * W);
                for (int kk = 0; kk < k; kk++) b.Slice(kk * n + p * W, cols).CopyTo(dst.Slice((p * k + kk) * W, cols));
            }
        }
    }

    /// <summary>One GEMM: operands with their strides and the epilogue. See <see cref="Gemm"/> for the conventions.</summary>
    internal ref struct GemmArgs
    {
        /// <summary>A(i, k) = A[i·Lda + k·AStep].</summary>
        public ReadOnlySpan<float> A;
        public int Lda, AStep;
        /// <summary>B in layout BLayout (Gemm.BPacked, BRowMajor, BTransposed) with row stride Ldb (unused when packed).</summary>
        public ReadOnlySpan<float> B;
        public int BLayout, Ldb;
        /// <summary>Row offsets into B for <see cref="Gemm.BOffsets"/> (K of them).</summary>
        public ReadOnlySpan<int> Offsets;
        /// <summary>C(i, j) = C[i·Ldc + j].</summary>
        public Span<float> C;
        public int Ldc;
        public int M, N, K;
        /// <summary>Added to row i: RowBias[i·RowBiasStep] (empty: none; step 0: one value for every row).</summary>
        public ReadOnlySpan<float> RowBias;
        public int RowBiasStep;
        /// <summary>Added to column j: ColBias[j] (empty: none).</summary>
        public ReadOnlySpan<float> ColBias;
        /// <summary>C already holds values to add the product to (instead of the biases).</summary>
        public bool Accumulate;
        /// <summary>
        /// Optional room to pack a run-time B (row-major or transposed) one block at a time:
        /// <see cref="Gemm.PackBufferLength"/> floats. Without it such a B is read in place.
        /// </summary>
        public Span<float> PackBuffer;
        /// <summary>Fused activation (codes of <see cref="Activation"/>).</summary>
        public int Act;
        public float ActAlpha, ActBeta;
    }

    /// <summary>
    /// What a micro-kernel call computes: rows × (16 · Panels) of C over K (one block), with
    /// A(r, k) = A[r·Lda + k·AStep], B(k, p·16 + j) = B[p·PanelStride + k·Ldb + j] (or, when Indirect,
    /// B[p·PanelStride + Offsets[k] + j]), C(r, p·16 + j) = C[r·Ldc + p·16 + j].
    /// C starts from itself (Accumulate) or from RowBias[r·RowBiasStep] + ColBias[p·ColBiasPanelStep + j], and is
    /// clamped to [Lo, Hi] at the end when Clamp is set.
    /// </summary>
    internal ref struct GemmTile
    {
        public ref float A;
        public nint Lda, AStep;
        public ref float B;
        public nint Ldb, PanelStride;
        public ref int Offsets;
        public bool Indirect;
        public int Panels, K;
        public ref float C;
        public nint Ldc;
        public bool Accumulate;
        public ref float RowBias;
        public nint RowBiasStep;
        public ref float ColBias;
        public nint ColBiasPanelStep;
        public bool Clamp;
        public float Lo, Hi;
    }

    /// <summary>An instruction set's micro-kernel and its tile height (the MLAS "kernel traits").</summary>
    internal interface IGemmKernel
    {
        /// <summary>Rows of C one call computes at most.</summary>
        static abstract int MaxRows { get; }

        /// <summary>Computes the tile described by <paramref name="t"/> for 1 ≤ rows ≤ MaxRows.</summary>
        static abstract void Run(ref GemmTile t, int rows);
    }

    /// <summary>How a micro-kernel walks the rows of B, known to the JIT: by a stride, or through an offset table.</summary>
    internal interface IBRows { static abstract bool Indirect { get; } }
    internal readonly struct StridedRows : IBRows { public static bool Indirect => false; }
    internal readonly struct OffsetRows : IBRows { public static bool Indirect => true; }

    /// <summary>A row count known to the JIT: micro-kernels are generic over it so each height compiles to straight-line code.</summary>
    internal interface IRowCount { static abstract int Value { get; } }
    internal readonly struct Rows1 : IRowCount { public static int Value => 1; }
    internal readonly struct Rows2 : IRowCount { public static int Value => 2; }
    internal readonly struct Rows3 : IRowCount { public static int Value => 3; }
    internal readonly struct Rows4 : IRowCount { public static int Value => 4; }
    internal readonly struct Rows5 : IRowCount { public static int Value => 5; }
    internal readonly struct Rows6 : IRowCount { public static int Value => 6; }
}
