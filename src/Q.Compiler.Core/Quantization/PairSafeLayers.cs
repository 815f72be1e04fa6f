using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Which quantized convolutions get pair-safe weights (<see cref="WeightQuantizer.PairSafePerChannel"/>,
    /// <see cref="QuantizerOptions.PairSafeWeights"/>): those that lower to Q.Compiler.Kernels.QConvNchw, whose AVX2 tile
    /// can then multiply raw uint8 activations without the sign trick.
    /// </summary>
    internal static class PairSafeLayers
    {
        /// <summary>
        /// Whether a float Conv with input <paramref name="x"/> (N, C, H, W), weights <paramref name="w"/> (M, C/G, KH, KW) and
        /// output <paramref name="y"/> (N, M, OH, OW), quantized to a requantizing QLinearConv with symmetric weights, lowers to
        /// QConvNchw: the lowering's own shape rule (QConvLowering.NchwShapeFits) on the tensor shapes alone. A float-output
        /// head (ConvInteger with the calibrated x zero point) follows the same rule to QConvNchw.GemmInt32; Gemm/MatMul never
        /// take QConvNchw.
        /// </summary>
        public static bool TakesNchw(Shape x, Shape w, Shape y)
        {
            if (x.Rank != 4 || w.Rank != 4 || y.Rank != 4) return false;
            int c = x[1], kh = w[2], kw = w[3], oh = y[2], ow = y[3];
            // Pointwise from shapes: a 1×1 kernel whose output plane is the input plane (stride 1, no padding).
            return Ops.QConv.QConvLowering.NchwShapeFits(w[1] == c ? 1 : c / w[1], c, kw, oh, ow, kh == 1 && kw == 1 && oh == x[2] && ow == x[3]);
        }
    }
}
