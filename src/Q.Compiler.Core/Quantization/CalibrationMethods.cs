using System;

namespace Q.Compiler.Quantization
{
    /// <summary>How a tensor's real range is chosen from its calibration statistics.</summary>
    public enum CalibrationMethod
    {
        /// <summary>The exact minimum and maximum seen.</summary>
        MinMax,
        /// <summary>Cut the given percentile of values (both tails for asymmetric ranges, |x| for symmetric ones).</summary>
        Percentile,
        /// <summary>The clip threshold whose 128-level quantized distribution is closest in KL divergence (TensorRT's algorithm as ONNX Runtime applies it).</summary>
        Entropy,
        /// <summary>The clip threshold that minimizes the expected squared quantization error.</summary>
        Mse,
    }

    /// <summary>A real range [Min, Max] chosen for a tensor.</summary>
    public readonly struct TensorRange
    {
        public TensorRange(double min, double max) { Min = min; Max = max; }
        public double Min { get; }
        public double Max { get; }
        public override string ToString() => "[" + Min.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + ", "
            + Max.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "]";
    }

    /// <summary>
    /// The range methods over a <see cref="TensorHistogram"/>. Pure functions of the histogram (plain loops in double, fixed
    /// order, ties broken by a stated rule), so a calibration set always gives the same ranges.
    /// </summary>
    public static class CalibrationMethods
    {
        public const double DefaultPercentile = 99.999;
        public const int DefaultQuantizedBins = 128;

        public static TensorRange Compute(TensorHistogram h, CalibrationMethod method, bool symmetric = false,
            double percentile = DefaultPercentile, int quantizedBins = DefaultQuantizedBins)
        {
            if (h.Count == 0) return new TensorRange(0, 0);
            switch (method)
            {
                case CalibrationMethod.MinMax: return new TensorRange(h.Min, h.Max);
                case CalibrationMethod.Percentile: return Percentile(h, percentile, symmetric);
                case CalibrationMethod.Entropy: return Entropy(h, quantizedBins);
                case CalibrationMethod.Mse: return Mse(h, symmetric);
                default: throw new ArgumentOutOfRangeException(nameof(method));
            }
        }

        /// <summary>
        /// Asymmetric: cut (100 − p)/2 percent from each tail: the range runs from the lower edge of the bin where the
        /// cumulative share first reaches the cut to the upper edge of the bin where it first reaches 1 − cut.
        /// Symmetric: the same on |x| with the whole 100 − p percent cut from the top. Clamped to [min, max].
        /// </summary>
        public static TensorRange Percentile(TensorHistogram h, double percentile, bool symmetric)
        {
            if (!(percentile > 0 && percentile <= 100)) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "percentile must be in (0, 100]");
            var counts = h.Counts;
            int bins = counts.Length;
            double total = h.Count;
            if (h.Threshold == 0) return new TensorRange(h.Min, h.Max);
            if (symmetric)
            {
                // |x| histogram: bins B/2 + j and B/2 − 1 − j both cover |x| in [j·w, (j+1)·w).
                double want = percentile / 100 * total, cum = 0;
                int half = bins / 2, j = half - 1;
                for (int i = 0; i < half; i++)
                {
                    cum += counts[half + i] + counts[half - 1 - i];
                    if (cum >= want) { j = i; break; }
                }
                double t = (j + 1) * h.BinWidth;
                return new TensorRange(Math.Max(h.Min, -t), Math.Min(h.Max, t));
            }
            double cut = (100 - percentile) / 200 * total;
            double c = 0;
            int lo = 0;
            for (int i = 0; i < bins; i++) { c += counts[i]; if (c > cut) { lo = i; break; } }
            c = 0;
            int hi = bins - 1;
            for (int i = bins - 1; i >= 0; i--) { c += counts[i]; if (c > cut) { hi = i; break; } }
            return new TensorRange(Math.Max(h.Min, h.Edge(lo)), Math.Min(h.Max, h.Edge(hi + 1)));
        }

        /// <summary>
        /// KL-divergence calibration as ONNX Runtime's calibrate.py applies TensorRT's algorithm to a signed histogram: for each
        /// symmetric candidate [−i·w, i·w] (2i bins, i from <paramref name="quantizedBins"/>/2 to B/2), the reference P is the
        /// sliced histogram with the mass outside added to its end bins; the candidate Q merges the sliced bins (outliers
        /// not included) into <paramref name="quantizedBins"/> groups and spreads each group evenly over its bins where P is
        /// non-zero. Both are smoothed (zeros get 0.0001, taken proportionally from the non-zeros: smooth_distribution)
        /// and normalized; the smallest KL(P‖Q) wins, the smaller threshold on ties. The range is [−t, t] clamped to [min, max].
        /// </summary>
        /// <remarks>
        /// Where we differ from calibrate.py, deliberately: slices are exactly symmetric (calibrate.py takes 2i+1 bins, one more
        /// on the positive side); group boundaries are floor(g·2i/Q), so no bin is left out of Q (calibrate.py leaves the
        /// remainder bins at 0 in Q); Q is kept in double (calibrate.py truncates it to int64); and values exactly 0 are left
        /// out, because every candidate represents them exactly while the spike they form after Relu (half of all values)
        /// would otherwise decide the search: with it, a Relu'd N(0, 2) is clipped at 1.7σ, without it at about 4σ.
        /// TensorRT's own variant (|x| histogram, 128 levels per side) was tried too: with a finer Q it kept rare far outliers
        /// and, with the zero spike, clipped Relu outputs harder still.
        /// </remarks>
        public static TensorRange Entropy(TensorHistogram h, int quantizedBins = DefaultQuantizedBins)
        {
            if (quantizedBins < 2 || quantizedBins % 2 != 0) throw new ArgumentOutOfRangeException(nameof(quantizedBins));
            var source = h.Counts;
            int bins = source.Length, half = bins / 2;
            if (h.Threshold == 0 || quantizedBins / 2 > half) return new TensorRange(h.Min, h.Max);
            var counts = new double[bins];
            for (int i = 0; i < bins; i++) counts[i] = source[i];
            counts[half] -= h.Zeros;

            var prefix = new double[bins + 1];
            for (int i = 0; i < bins; i++) prefix[i + 1] = prefix[i] + counts[i];

            double bestKl = double.PositiveInfinity;
            int bestI = half;
            var p = new double[bins];
            var q = new double[bins];
            for (int i = quantizedBins / 2; i <= half; i++)
            {
                int start = half - i, len = 2 * i;
                for (int j = 0; j < len; j++) p[j] = counts[start + j];
                p[0] += prefix[start];
                p[len - 1] += prefix[bins] - prefix[start + len];
                for (int g = 0; g < quantizedBins; g++)
                {
                    int gs = (int)((long)g * len / quantizedBins), ge = (int)((long)(g + 1) * len / quantizedBins);
                    double sum = 0;
                    int nonZero = 0;
                    for (int j = gs; j < ge; j++) { sum += counts[start + j]; if (p[j] != 0) nonZero++; }
                    for (int j = gs; j < ge; j++) q[j] = p[j] != 0 && nonZero > 0 ? sum / nonZero : 0;
                }
                double kl = KlDivergence(p, q, len);
                if (kl < bestKl) { bestKl = kl; bestI = i; }
            }
            double t = bestI * h.BinWidth;
            return new TensorRange(Math.Max(h.Min, -t), Math.Min(h.Max, t));
        }

        /// <summary>KL(P‖Q) over the first n entries after smoothing both; +∞ when either has no mass.</summary>
        private static double KlDivergence(double[] p, double[] q, int n)
        {
            if (!Smooth(p, n, out double ps) || !Smooth(q, n, out double qs)) return double.PositiveInfinity;
            double kl = 0;
            for (int j = 0; j < n; j++)
            {
                double pj = p[j] / ps, qj = q[j] / qs;
                if (pj > 0) kl += pj * Math.Log(pj / qj);
            }
            return kl;
        }

        /// <summary>Zeros become eps; non-zeros give up eps·zeros/nonzeros each (ONNX Runtime's smooth_distribution).</summary>
        private static bool Smooth(double[] d, int n, out double sum)
        {
            const double Eps = 0.0001;
            int zeros = 0;
            for (int j = 0; j < n; j++) if (d[j] == 0) zeros++;
            int nonZeros = n - zeros;
            sum = 0;
            if (nonZeros == 0) return false;
            double take = Eps * zeros / nonZeros;
            for (int j = 0; j < n; j++)
            {
                d[j] = d[j] == 0 ? Eps : d[j] - take;
                if (d[j] <= 0) d[j] = Eps * 1e-3; // a bin with less mass than it gives up stays positive
                sum += d[j];
            }
            return true;
        }

        /// <summary>
        /// Minimum expected squared error: for each symmetric threshold t = i·w (i from B/64 to B/2), the range
        /// [max(min, −t), min(max, t)] gives uint8 (or symmetric int8) parameters; a bin whose centre is representable
        /// costs count·s²/12 (uniform rounding noise of step s), one outside costs count·(centre − nearest end)². The
        /// smallest total wins; on ties the larger threshold.
        /// </summary>
        public static TensorRange Mse(TensorHistogram h, bool symmetric)
        {
            var counts = h.Counts;
            int bins = counts.Length, half = bins / 2;
            if (h.Threshold == 0) return new TensorRange(h.Min, h.Max);
            double w = h.BinWidth;
            double best = double.PositiveInfinity;
            var bestRange = new TensorRange(h.Min, h.Max);
            for (int i = half; i >= Math.Max(1, bins / 64); i--)
            {
                double t = i * w;
                double lo = Math.Max(h.Min, -t), hi = Math.Min(h.Max, t);
                if (hi < lo) continue;
                var qp = symmetric ? QuantParams.SymmetricInt8(lo, hi) : QuantParams.AsymmetricUInt8(lo, hi);
                double s = qp.Scale, rlo = qp.RealMin, rhi = qp.RealMax;
                if (symmetric) rlo = -127.0 * s;
                double noise = s * s / 12, err = 0;
                for (int b = 0; b < bins; b++)
                {
                    long c = b == half ? counts[b] - h.Zeros : counts[b];   // exact zeros cost nothing
                    if (c == 0) continue;
                    double x = h.Edge(b) + w / 2;
                    if (x < h.Min) x = h.Min;
                    if (x > h.Max) x = h.Max;
                    if (x < rlo) err += c * (rlo - x) * (rlo - x);
                    else if (x > rhi) err += c * (x - rhi) * (x - rhi);
                    else err += c * noise;
                }
                if (err < best) { best = err; bestRange = new TensorRange(lo, hi); }
            }
            return bestRange;
        }
    }
}
