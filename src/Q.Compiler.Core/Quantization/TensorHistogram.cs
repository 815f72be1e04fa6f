using System;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Statistics of one tensor over a calibration set: exact min and max, and a histogram of values over a symmetric range
    /// [−T, T] in <see cref="BinCount"/> equal bins (as ONNX Runtime's HistogramCollector for entropy calibration).
    /// </summary>
    /// <remarks>
    /// T is either fixed up front (the calibrator's second pass knows each tensor's max |x| from the first) or set by the first
    /// non-zero batch and doubled when a later value falls outside; doubling merges bin pairs exactly (the bin count must be a
    /// multiple of 4), so the result never depends on re-binning approximations, only on the order-free counts.
    /// </remarks>
    public sealed class TensorHistogram
    {
        private long[] _counts;
        private long _zerosBeforeRange;

        public TensorHistogram(int binCount = 2048, double fixedThreshold = 0)
        {
            if (binCount < 8 || binCount % 4 != 0) throw new ArgumentOutOfRangeException(nameof(binCount), "bin count must be a multiple of 4, at least 8");
            if (double.IsNaN(fixedThreshold) || double.IsInfinity(fixedThreshold) || fixedThreshold < 0)
                throw new ArgumentOutOfRangeException(nameof(fixedThreshold));
            BinCount = binCount;
            Threshold = fixedThreshold;
            _counts = new long[binCount];
            Min = double.PositiveInfinity;
            Max = double.NegativeInfinity;
        }

        public int BinCount { get; }
        /// <summary>T: the histogram covers [−T, T]; 0 until a non-zero value arrives.</summary>
        public double Threshold { get; private set; }
        public double BinWidth => 2 * Threshold / BinCount;
        public double Min { get; private set; }
        public double Max { get; private set; }
        /// <summary>Finite values seen.</summary>
        public long Count { get; private set; }
        /// <summary>Values exactly 0 (in the bin that starts at 0). Every quantization keeps 0 exact, so the range methods leave them out.</summary>
        public long Zeros { get; private set; }
        /// <summary>NaN and infinite values seen (not in the histogram; a calibrated tensor must have none).</summary>
        public long NonFinite { get; private set; }

        /// <summary>Counts per bin; bin i covers [−T + i·w, −T + (i+1)·w), the last one also T.</summary>
        public ReadOnlySpan<long> Counts
        {
            get
            {
                if (_zerosBeforeRange > 0 && Threshold == 0)
                {
                    // Everything so far was 0: report it in the bin that starts at 0.
                    var c = new long[BinCount];
                    c[BinCount / 2] = _zerosBeforeRange;
                    return c;
                }
                return _counts;
            }
        }

        /// <summary>Lower edge of bin i (i = BinCount gives T).</summary>
        public double Edge(int i) => -Threshold + i * BinWidth;

        public void Add(ReadOnlySpan<float> values)
        {
            double amax = 0;
            foreach (float v in values)
            {
                if (float.IsNaN(v) || float.IsInfinity(v)) continue;
                amax = Math.Max(amax, Math.Abs((double)v));
            }
            if (amax > Threshold) Grow(amax);
            // bin = B/2 + floor(x·B/(2T)): a product by a scale that halves exactly when T doubles, so the bin of a value
            // after growth is exactly its old bin's merged bin (no rounding of x + T).
            double t = Threshold, scale = Threshold > 0 ? BinCount / (2 * t) : 0;
            int half = BinCount / 2;
            foreach (float v in values)
            {
                if (float.IsNaN(v) || float.IsInfinity(v)) { NonFinite++; continue; }
                double x = v;
                if (x < Min) Min = x;
                if (x > Max) Max = x;
                Count++;
                if (x == 0) Zeros++;
                if (t == 0) { _zerosBeforeRange++; continue; }
                int bin = half + (int)Math.Floor(x * scale);
                if (bin < 0) bin = 0;
                if (bin >= BinCount) bin = BinCount - 1;
                _counts[bin]++;
            }
        }

        public void Add(ReadOnlySpan<double> values)
        {
            var f = new float[values.Length];
            for (int i = 0; i < f.Length; i++) f[i] = (float)values[i];
            Add(f);
        }

        private void Grow(double amax)
        {
            if (Threshold == 0)
            {
                // A little headroom, so that the largest value is inside the top bin rather than clamped at its edge
                // (a clamped value would land one bin off after a later doubling).
                Threshold = amax * (1 + 1.0 / 1024);
                if (_zerosBeforeRange > 0) { _counts[BinCount / 2] += _zerosBeforeRange; _zerosBeforeRange = 0; }
                return;
            }
            while (Threshold < amax)
            {
                // [−T, T] → [−2T, 2T]: old bins 2j, 2j+1 become new bin B/4 + j.
                var next = new long[BinCount];
                for (int i = 0; i < BinCount; i++) next[BinCount / 4 + i / 2] += _counts[i];
                _counts = next;
                Threshold *= 2;
            }
        }
    }
}
