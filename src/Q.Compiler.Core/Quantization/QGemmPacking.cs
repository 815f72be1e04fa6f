using System;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Int8 weights of a quantized GEMM, packed at build time in the layout every kernel path of
    /// <c>Q.Compiler.Kernels.QGemm</c> reads (one layout for all instruction sets, so a plan does not depend on the CPU).
    /// </summary>
    /// <remarks>
    /// Layout: B (K×N, column n = output channel) is cut into panels of 16 columns and K into quads of 4 rows, both zero-padded.
    /// Panel p, quad q is a 64-byte block; in it, column j (0..15) holds its 4 weights b[4q..4q+3, 16p+j] in 4 consecutive bytes:
    /// <code>
    /// offset(k, n) = ((n/16 · KQuads + k/4) · 16 + n%16) · 4 + k%4        total = Panels · KQuads · 64 bytes
    /// </code>
    /// So one 32-bit lane is one output column and one 4-deep slice of K: a 512-bit load is a whole block (AVX-512), a 256-bit
    /// load half of one (AVX2), a 128-bit load a quarter (AdvSimd SDOT, Vector128). The column sums Σ_k b[k, n] go beside the
    /// data, for the zero-point terms (see the kernel's derivation).
    /// <para><b>Compact last panel.</b> When N is not a multiple of 16, the last panel holds only its r = N % 16 columns:
    /// quad q is r·4 bytes (column j at 4j) instead of 64, as long as the expanded panel (KQuads · 64 bytes) is at most
    /// <see cref="CompactPanelLimit"/>; the kernel expands it on the stack before use. Zero padding would otherwise cost up
    /// to 15/16 of a panel: 25% of the weights of a 12-channel layer.</para>
    /// </remarks>
    public sealed class PackedQGemmWeights
    {
        public const int PanelWidth = 16;
        public const int KGroup = 4;
        /// <summary>Largest K: keeps every exact intermediate of the zero-point algebra within int32.</summary>
        public const int MaxK = 1 << 15;

        private PackedQGemmWeights(sbyte[] data, int k, int n, int[] columnSums, bool hasMinus128)
        {
            Data = data; K = k; N = n; ColumnSums = columnSums; HasMinus128 = hasMinus128;
        }

        public sbyte[] Data { get; }
        public int K { get; }
        public int N { get; }
        public int KQuads => (K + KGroup - 1) / KGroup;
        public int Panels => (N + PanelWidth - 1) / PanelWidth;
        /// <summary>Σ_k b[k, n] for each column.</summary>
        public int[] ColumnSums { get; }
        /// <summary>Whether some weight is −128: the x86 sign-trick kernels need [−127, 127] and fall back otherwise.</summary>
        public bool HasMinus128 { get; }

        /// <summary>Largest expanded panel (bytes) whose partial form is stored compact (Q.Compiler.Kernels.QGemm.CompactPanelLimit).</summary>
        public const int CompactPanelLimit = 16384;

        /// <summary>Whether the last panel of a K×N matrix is stored compact (see the remarks).</summary>
        public static bool CompactLastPanel(int k, int n) =>
            n % PanelWidth != 0 && (k + KGroup - 1) / KGroup * PanelWidth * KGroup <= CompactPanelLimit;

        public static int PackedLength(int k, int n)
        {
            int quads = (k + KGroup - 1) / KGroup;
            return CompactLastPanel(k, n)
                ? n / PanelWidth * quads * PanelWidth * KGroup + quads * (n % PanelWidth) * KGroup
                : (n + PanelWidth - 1) / PanelWidth * quads * PanelWidth * KGroup;
        }

        /// <summary>Byte offset of b[k, n] in the packed data of a K×N matrix (<paramref name="totalN"/> = N).</summary>
        public static int Offset(int k, int n, int kQuads, int totalN)
        {
            int panel = n / PanelWidth;
            if (panel == totalN / PanelWidth && CompactLastPanel(kQuads * KGroup, totalN))
                return (panel * kQuads * PanelWidth + k / KGroup * (totalN % PanelWidth) + n % PanelWidth) * KGroup + k % KGroup;
            return ((panel * kQuads + k / KGroup) * PanelWidth + n % PanelWidth) * KGroup + k % KGroup;
        }

        /// <summary>Packs B given row-major as K×N (MatMul's B, Gemm without transB).</summary>
        public static PackedQGemmWeights FromKxN(ReadOnlySpan<sbyte> b, int k, int n) => Pack(b, k, n, transposed: false);

        /// <summary>Packs B given row-major as N×K (Conv's OIHW weights as N = Cout rows of K = Cin·kh·kw, Gemm with transB).</summary>
        public static PackedQGemmWeights FromNxK(ReadOnlySpan<sbyte> bt, int n, int k) => Pack(bt, k, n, transposed: true);

        private static PackedQGemmWeights Pack(ReadOnlySpan<sbyte> src, int k, int n, bool transposed)
        {
            if (k <= 0 || n <= 0) throw new ArgumentOutOfRangeException(nameof(k), "K and N must be positive");
            if (k > MaxK) throw new ArgumentOutOfRangeException(nameof(k), k, "K above " + MaxK + " is not supported by the int8 GEMM");
            if (src.Length != (long)k * n) throw new ArgumentException($"{src.Length} weights for K={k}, N={n}");
            int quads = (k + KGroup - 1) / KGroup;
            var data = new sbyte[PackedLength(k, n)];
            var sums = new int[n];
            bool m128 = false;
            for (int kk = 0; kk < k; kk++)
                for (int nn = 0; nn < n; nn++)
                {
                    sbyte w = transposed ? src[nn * k + kk] : src[kk * n + nn];
                    data[Offset(kk, nn, quads, n)] = w;
                    sums[nn] += w;
                    m128 |= w == -128;
                }
            return new PackedQGemmWeights(data, k, n, sums, m128);
        }
    }
}
