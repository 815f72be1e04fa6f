using System;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Widens a calibrated (clipping) range part of the way back toward the values' observed minimum and maximum
    /// (<see cref="QuantizerOptions.ClipMargin"/>): with margin m, lo' = lo + m·(min − lo) and hi' = hi + m·(max − hi).
    /// </summary>
    /// <remarks>
    /// The Mse method picks the range that minimizes the value's own squared error, counting every element alike. The
    /// elements it clips are the largest activations, which are the ones later layers respond to most: a clipped peak
    /// is a systematic error that no later layer averages out, while the extra rounding noise of a wider step mostly is.
    /// Measured on squeezenet-1.0-fp16's calibration images (simulated int8 model against float, output SQNR over all
    /// twelve images): Mse 25.6 dB, margin 0.25 28.6 dB, 0.5 24.9, 0.75 25.6, 0.9 23.3, MinMax 23.5. See docs/quantization.md.
    /// </remarks>
    public static class RangeMargin
    {
        /// <summary>The range <paramref name="range"/> widened by <paramref name="margin"/> (0 keeps it, 1 gives [min, max]).</summary>
        public static TensorRange Widen(TensorRange range, TensorHistogram statistics, double margin)
        {
            if (!(margin >= 0 && margin <= 1)) throw new ArgumentOutOfRangeException(nameof(margin), margin, "the clip margin must be in [0, 1]");
            if (margin == 0 || statistics.Count == 0) return range;
            double lo = range.Min + margin * (Math.Min(statistics.Min, range.Min) - range.Min);
            double hi = range.Max + margin * (Math.Max(statistics.Max, range.Max) - range.Max);
            return new TensorRange(lo, hi);
        }
    }
}
