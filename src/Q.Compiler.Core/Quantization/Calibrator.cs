using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>Options for <see cref="Calibrator"/>.</summary>
    public sealed class CalibrationOptions
    {
        public CalibrationMethod Method { get; set; } = CalibrationMethod.MinMax;
        /// <summary>For <see cref="CalibrationMethod.Percentile"/>: the share of values kept, in percent.</summary>
        public double Percentile { get; set; } = CalibrationMethods.DefaultPercentile;
        public int HistogramBins { get; set; } = 2048;
        public int QuantizedBins { get; set; } = CalibrationMethods.DefaultQuantizedBins;
        /// <summary>Ranges for symmetric int8 activations (Percentile and Mse differ; MinMax and Entropy do not).</summary>
        public bool Symmetric { get; set; }
        /// <summary>Which float values to calibrate (default: all float values, graph inputs included).</summary>
        public Func<string, bool>? Include { get; set; }
    }

    /// <summary>Per-value statistics and chosen ranges from a calibration run.</summary>
    public sealed class CalibrationResult
    {
        public CalibrationResult(IReadOnlyDictionary<string, TensorHistogram> histograms, IReadOnlyDictionary<string, TensorRange> ranges, int samples)
        {
            Histograms = histograms; Ranges = ranges; Samples = samples;
        }

        /// <summary>Statistics per value name (ordinal order).</summary>
        public IReadOnlyDictionary<string, TensorHistogram> Histograms { get; }
        /// <summary>The chosen range per value name (ordinal order).</summary>
        public IReadOnlyDictionary<string, TensorRange> Ranges { get; }
        public int Samples { get; }
    }

    /// <summary>
    /// Runs the float reference interpreter over a calibration set and chooses a range for every float value.
    /// MinMax needs one pass. The histogram methods take two: the first finds each value's max |x|, the second fills
    /// histograms over exactly that range (full resolution, no re-binning), so results do not depend on sample order.
    /// The passes run on <see cref="FloatRuns"/>: the second reuses the float runs of the first that fit its memory budget.
    /// </summary>
    public static class Calibrator
    {
        public static CalibrationResult Run(Graph graph, IEnumerable<IReadOnlyList<Tensor>> samples, CalibrationOptions options) =>
            Run(new FloatRuns(graph, samples), options);

        /// <summary>As <see cref="Run(Graph, IEnumerable{IReadOnlyList{Tensor}}, CalibrationOptions)"/> on float runs that later passes of the build reuse.</summary>
        public static CalibrationResult Run(FloatRuns runs, CalibrationOptions options)
        {
            var stats = Collect(runs, options, histograms: options.Method != CalibrationMethod.MinMax);
            return new CalibrationResult(stats.Histograms, Ranges(stats, options), stats.Samples);
        }

        /// <summary>
        /// The statistics alone: min/max of every value (one pass), and with <paramref name="histograms"/> also its histogram
        /// over [−max|x|, max|x|] (a second pass). Every method's ranges can then be computed from one collection.
        /// </summary>
        public static CalibrationResult Collect(Graph graph, IEnumerable<IReadOnlyList<Tensor>> samples, CalibrationOptions options, bool histograms) =>
            Collect(new FloatRuns(graph, samples), options, histograms);

        /// <summary>As <see cref="Collect(Graph, IEnumerable{IReadOnlyList{Tensor}}, CalibrationOptions, bool)"/> on float runs (the second pass reuses the kept ones).</summary>
        public static CalibrationResult Collect(FloatRuns runs, CalibrationOptions options, bool histograms)
        {
            var include = options.Include ?? (_ => true);
            string first1 = histograms ? "range statistics, pass 1 of 2 (min/max)" : "range statistics (min/max)";
            var first = Pass(runs, first1, include, name => new TensorHistogram(options.HistogramBins), out int count);
            if (count == 0) throw new QcException(DiagnosticIds.CalibrationEmpty, "the calibration set has no samples");
            foreach (var kv in first)
                if (kv.Value.NonFinite > 0)
                    throw new QcException(DiagnosticIds.CalibrationNonFinite, string.Format(CultureInfo.InvariantCulture,
                        "value '{0}' is NaN or infinite for {1} of its elements on the calibration set; its range cannot be calibrated",
                        kv.Key, kv.Value.NonFinite), kv.Key);
            var hists = first;
            if (histograms)
                hists = Pass(runs, "range statistics, pass 2 of 2 (histograms)", include, name =>
                {
                    var h = first[name];
                    return new TensorHistogram(options.HistogramBins, Math.Max(Math.Abs(h.Min), Math.Abs(h.Max)));
                }, out _);
            return new CalibrationResult(hists, new SortedDictionary<string, TensorRange>(StringComparer.Ordinal), count);
        }

        /// <summary>The range of every collected value by <paramref name="options"/>' method (MinMax needs no histogram pass).</summary>
        public static IReadOnlyDictionary<string, TensorRange> Ranges(CalibrationResult statistics, CalibrationOptions options)
        {
            var ranges = new SortedDictionary<string, TensorRange>(StringComparer.Ordinal);
            foreach (var kv in statistics.Histograms)
                ranges[kv.Key] = CalibrationMethods.Compute(kv.Value, options.Method, options.Symmetric, options.Percentile, options.QuantizedBins);
            return ranges;
        }

        private static SortedDictionary<string, TensorHistogram> Pass(FloatRuns runs, string phase,
            Func<string, bool> include, Func<string, TensorHistogram> create, out int count)
        {
            var hists = new SortedDictionary<string, TensorHistogram>(StringComparer.Ordinal);
            count = 0;
            foreach (var run in runs.Pass(phase))
            {
                // The graph inputs, then every node output in computation order (a histogram's order is its samples' order).
                foreach (var kv in run.Values)
                {
                    var t = kv.Value;
                    if (!t.ElementType.IsFloat() || !include(kv.Key)) continue;
                    if (!hists.TryGetValue(kv.Key, out var h)) hists[kv.Key] = h = create(kv.Key);
                    if (t.Data is float[] f) h.Add(f);
                    else h.Add(t.ToDoubles());
                }
                count++;
            }
            return hists;
        }
    }
}
