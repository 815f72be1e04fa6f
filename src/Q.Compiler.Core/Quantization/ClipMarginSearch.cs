using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Q.Compiler.Quantization
{
    /// <summary>How close one candidate's simulated int8 model is to float on the calibration set.</summary>
    public sealed class ClipMarginScore
    {
        public ClipMarginScore(IReadOnlyList<double> outputs, IReadOnlyList<double> samples) { Outputs = outputs.ToArray(); Samples = samples; }

        /// <summary>Per graph output, SQNR (dB) over the whole calibration set; NaN for an output that is not float.</summary>
        public double[] Outputs { get; }
        /// <summary>Per calibration sample, the SQNR (dB) of its worst float output.</summary>
        public IReadOnlyList<double> Samples { get; }
        /// <summary>The worst output's SQNR over the set (−∞ when no output is float).</summary>
        public double Worst => Outputs.Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NegativeInfinity).Min();
    }

    /// <summary>
    /// Output-guided choice of the clip margin (<see cref="QuantizerOptions.ClipMargins"/>): the model is quantized with
    /// each candidate margin (<see cref="RangeMargin"/>), in order, and a candidate replaces the best so far only if its
    /// simulated int8 model is closer to float on the calibration set in both senses: its worst output's SQNR over the
    /// whole set is higher, <i>and</i> it is better on a strict majority of the samples (per sample, the SQNR of its worst
    /// output). Ties and split decisions keep the earlier, smaller margin.
    /// </summary>
    /// <remarks>
    /// The single-image output SQNR of a classifier moves by several dB either way when the ranges change a little (the
    /// rounding noise is re-drawn): a candidate that gains a lot on two images and loses on most would win on the whole
    /// set's SQNR alone. The majority condition asks that the change help the typical image. Measured on the calibration
    /// sets (docs/quantization.md, "Clip margin search"): squeezenet-1.0-fp16 takes 0.25 (whole set 25.6 → 28.6 dB, 8 of
    /// 12 images better); mobilenet-v2-128-0.5 keeps 0 (0.25: 31.3 dB, 6 of 12 better); ppocr-cls-mobile keeps 0 (0.25:
    /// higher over the set, 15 of 36 strips better). Only calibration data is looked at; the test sets never are.
    /// </remarks>
    public static class ClipMarginSearch
    {
        /// <summary>
        /// Runs <paramref name="prepare"/> for every margin of <paramref name="margins"/> in order, scores each with
        /// <paramref name="score"/> and returns the best as the class remarks define it; <paramref name="note"/> receives
        /// the winner and one line for the report.
        /// </summary>
        public static T Choose<T>(IReadOnlyList<double> margins, Func<double, T> prepare, Func<T, ClipMarginScore> score, Action<T, string> note)
        {
            if (margins.Count == 0) throw new ArgumentException("no clip margin to try", nameof(margins));
            var inv = CultureInfo.InvariantCulture;
            T best = default!;
            ClipMarginScore? bestScore = null;
            double bestMargin = double.NaN;
            var tried = new List<string>();
            for (int i = 0; i < margins.Count; i++)
            {
                var candidate = prepare(margins[i]);
                var s = score(candidate);
                int better = bestScore is null ? 0 : s.Samples.Zip(bestScore.Samples, (a, b) => a > b ? 1 : 0).Sum();
                tried.Add(bestScore is null ? string.Format(inv, "{0:0.##}: {1:F1} dB", margins[i], s.Worst)
                    : string.Format(inv, "{0:0.##}: {1:F1} dB, {2} of {3} samples better", margins[i], s.Worst, better, s.Samples.Count));
                if (bestScore is null || (s.Worst > bestScore.Worst && 2 * better > s.Samples.Count))
                {
                    best = candidate; bestScore = s; bestMargin = margins[i];
                }
            }
            note(best, string.Format(inv, "clip margin {0:0.##} chosen by output SQNR on the calibration set (simulated int8 model; each candidate against the best before it: {1})",
                bestMargin, string.Join("; ", tried)));
            return best;
        }
    }
}
