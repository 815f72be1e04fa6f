using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Which quantized convolutions get pair-safe weights (<see cref="WeightQuantizer.PairSafePerChannel"/>,
    /// <see cref="QuantizerOptions.PairSafeConvWeights"/>): those that lower to Q.Compiler.Kernels.QConvNchw, whose AVX2 tile
    /// can then multiply raw uint8 activations without the sign trick.
    /// </summary>
    internal static class PairSafeLayers
    {
        /// <summary>
        /// Whether a float Conv with input <paramref name="x"/> (N, C, H, W), weights <paramref name="w"/> (M, C/G, KH, KW) and
        /// output <paramref name="y"/> (N, M, OH, OW), quantized to a requantizing QLinearConv with symmetric weights, lowers to
        /// QConvNchw. Mirrors QConvLowering.TakesNchw and NchwGathersCheaply from the shapes alone: one group (depthwise and
        /// grouped convolutions take other kernels), at least 16 output pixels, and rows gathered cheaply: pointwise
        /// (1×1, the output plane the input plane: stride 1 and no padding), output rows of at least 16 pixels, or output
        /// rows at least as long as KW·C. A float-output head (ConvInteger) and Gemm/MatMul never take QConvNchw.
        /// </summary>
        public static bool TakesNchw(Shape x, Shape w, Shape y)
        {
            if (x.Rank != 4 || w.Rank != 4 || y.Rank != 4) return false;
            int c = x[1], kh = w[2], kw = w[3], oh = y[2], ow = y[3];
            if (w[1] != c) return false; // more than one group
            if (oh * ow < 16) return false;
            bool pointwise = kh == 1 && kw == 1 && oh == x[2] && ow == x[3];
            return pointwise || ow >= 16 || ow >= kw * c;
        }
    }
}
