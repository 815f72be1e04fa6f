#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    // Requires: QuantizeLinear
    /// <summary>
    /// QConvNchw on a float input: QuantizeLinear (per tensor, uint8) fused into the convolution's padded image, so the
    /// quantized input is never written as a tensor of its own and read back. The padded, phase-split image is built row by
    /// row with the QuantizeLinear kernel's own arithmetic (the bytes are those of the separate op: round half to even,
    /// saturated, NaN → zero point): <see cref="QuantizeLinear.Row"/> straight into the row for stride 1,
    /// <see cref="QuantizeLinear.RowSplit2"/> into the two column phases for stride 2, and for other strides pieces quantized
    /// into a stack buffer, then copied into their phases. The padding is the convolution's x zero point, as in <see cref="Run"/>.
    /// </summary>
    internal static partial class QConvNchw
    {
        /// <summary>Input columns quantized per piece (a stack buffer of this many bytes).</summary>
        private const int FloatPiece = 512;

        /// <summary>
        /// y = QLinearConv(QuantizeLinear(x, <paramref name="quantScale"/>, <paramref name="quantZeroPoint"/>)) for a
        /// convolution that pads its image (not pointwise); the other operands as in <see cref="Gemm"/>.
        /// </summary>
        public static void GemmFloatInput(ReadOnlySpan<float> x, float quantScale, int quantZeroPoint, ReadOnlySpan<sbyte> packedW,
            ReadOnlySpan<int> foldedBias, ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool weightsHaveMinus128, bool unsignedActivations = false)
            => RunFloatInput(PathFor(weightsHaveMinus128 && !unsignedActivations), x, quantScale, quantZeroPoint, packedW, foldedBias, scale, y, scratch, n, c, h, wd, m,
                oh, ow, kh, kw, strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax, unsignedActivations);

        /// <summary>One given path of <see cref="GemmFloatInput"/> (tests call each directly).</summary>
        public static void RunFloatInput(Path path, ReadOnlySpan<float> x, float quantScale, int quantZeroPoint, ReadOnlySpan<sbyte> packedW,
            ReadOnlySpan<int> foldedBias, ReadOnlySpan<float> scale, Span<byte> y, Span<byte> scratch,
            int n, int c, int h, int wd, int m, int oh, int ow, int kh, int kw, int strideH, int strideW, int dilH, int dilW,
            int padTop, int padLeft, int padBottom, int padRight, int xZeroPoint, int yZeroPoint, int clampMin, int clampMax,
            bool unsignedActivations = false)
        {
            if (x.IsEmpty) throw new ArgumentException("QConvNchw float input is empty");
            Core(path, default, x, quantScale, quantZeroPoint, packedW, foldedBias, scale, y, default, false, scratch, n, c, h, wd, m, oh, ow, kh, kw,
                strideH, strideW, dilH, dilW, padTop, padLeft, padBottom, padRight, xZeroPoint, yZeroPoint, clampMin, clampMax, unsignedActivations);
        }

        /// <summary>
        /// <see cref="PadImage"/> from float rows: each padded row is set to <paramref name="zero"/> (the padding) and its
        /// interior written with the quantized input, one piece of at most <see cref="FloatPiece"/> columns at a time.
        /// </summary>
        private static void PadImageFloat(ReadOnlySpan<float> x, float quantScale, int quantZeroPoint, Span<byte> padded,
            int c, int h, int wd, int ph, int pws, int strideW, int padTop, int padLeft, byte zero)
        {
            int rowBytes = strideW * pws, planeBytes = ph * rowBytes;
            Span<byte> piece = stackalloc byte[FloatPiece];
            for (int ic = 0; ic < c; ic++)
            {
                Span<byte> p = padded.Slice(ic * planeBytes, planeBytes);
                p.Slice(0, padTop * rowBytes).Fill(zero);
                p.Slice((padTop + h) * rowBytes).Fill(zero);
                for (int iy = 0; iy < h; iy++)
                {
                    Span<byte> row = p.Slice((padTop + iy) * rowBytes, rowBytes);
                    row.Fill(zero);
                    ReadOnlySpan<float> xr = x.Slice((ic * h + iy) * wd, wd);
                    if (strideW == 1)
                    {
                        QuantizeLinear.Row(xr, quantScale, quantZeroPoint, row.Slice(padLeft, wd), 0, 255);
                        continue;
                    }
                    if (strideW == 2)
                    {
                        // Input column ix is padded column padLeft + ix: phase (padLeft + ix) % 2, slot (padLeft + ix) / 2.
                        int pe = padLeft % 2;
                        QuantizeLinear.RowSplit2(xr, quantScale, quantZeroPoint, row.Slice(pe * pws + padLeft / 2), row.Slice((1 - pe) * pws + (padLeft + 1) / 2));
                        continue;
                    }
                    for (int ix = 0; ix < wd; ix += FloatPiece)
                    {
                        int count = Math.Min(FloatPiece, wd - ix);
                        Span<byte> q = piece.Slice(0, count);
                        QuantizeLinear.Row(xr.Slice(ix, count), quantScale, quantZeroPoint, q, 0, 255);
                        // The piece starts at padded column padLeft + ix: a one-row plane whose left padding is that column.
                        PaddedPlane.CopyInterior(q, row, new PaddedPlane.Geometry(1, count, 0, padLeft + ix, strideW, pws));
                    }
                }
            }
        }
    }
}
