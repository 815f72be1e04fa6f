using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Q.Compiler.Quantization
{
    /// <summary>What <see cref="WeightOnlySearch.Choose"/> decided.</summary>
    public sealed class WeightOnlyChoice
    {
        public WeightOnlyChoice(int prefix, bool reached, double sqnrDb, string note, string message, string reason)
        {
            Prefix = prefix; Reached = reached; SqnrDb = sqnrDb; Note = note; Message = message; Reason = reason;
        }

        /// <summary>How many int8 layers, the first in graph order, run weight-only (0: none).</summary>
        public int Prefix { get; }
        /// <summary>Whether the chosen prefix reaches the target.</summary>
        public bool Reached { get; }
        /// <summary>The worst output's SQNR on the calibration set with the chosen prefix.</summary>
        public double SqnrDb { get; }
        /// <summary>One line for the report's notes: the target and every prefix tried.</summary>
        public string Note { get; }
        /// <summary>The diagnostic's message (QC3020, or QC3021 when the target is not reached).</summary>
        public string Message { get; }
        /// <summary>Why the layers are weight-only, for the report's layer rows.</summary>
        public string Reason { get; }
    }

    /// <summary>
    /// Output-guided weight-only layers (<see cref="QuantizerOptions.MinOutputSqnrDb"/>). When the simulated int8 model's
    /// worst output SQNR over the calibration set is below the target, the smallest prefix of the int8 layers (graph
    /// order) that reaches it runs weight-only: float activations, int8 weights. A prefix, because the error of an int8
    /// model comes mostly from its early layers and is amplified by the later ones (docs/quantization.md, "Mixed precision
    /// for ppocr-cls-mobile": single layers do not add up, prefixes do). The prefix length is found by bisection, about
    /// log2(layers) simulated runs of the calibration set, assuming the SQNR grows with the prefix; if even the whole model
    /// weight-only does not reach the target, the better of none and all is taken and the build says so.
    /// </summary>
    /// <remarks>Only the calibration set is looked at (the scores are the caller's simulation of it).</remarks>
    public static class WeightOnlySearch
    {
        /// <summary>
        /// Chooses the prefix length among 0..<paramref name="layers"/>; <paramref name="score"/>(k) is the worst output's
        /// SQNR (dB) with the first k int8 layers weight-only. Scores 0 first and stops there when it reaches
        /// <paramref name="targetDb"/>.
        /// </summary>
        public static WeightOnlyChoice Choose(int layers, double targetDb, Func<int, double> score)
        {
            var inv = CultureInfo.InvariantCulture;
            var tried = new SortedDictionary<int, double>();
            double Score(int k) => tried.TryGetValue(k, out var v) ? v : tried[k] = score(k);
            string Tried() => string.Join(", ", tried.Select(kv => string.Format(inv, "{0}: {1:F1} dB", kv.Key, kv.Value)));
            double none = Score(0);
            if (none >= targetDb || layers == 0)
                return new WeightOnlyChoice(0, none >= targetDb, none,
                    string.Format(inv, "no weight-only layers: output SQNR {0:F1} dB on the calibration set (MinOutputSqnrDb {1:0.#} dB)", none, targetDb),
                    "", "");
            double all = Score(layers);
            int chosen;
            bool reached = all >= targetDb;
            if (reached)
            {
                int lo = 0, hi = layers;   // score(lo) < target <= score(hi)
                while (hi - lo > 1)
                {
                    int mid = lo + (hi - lo) / 2;
                    if (Score(mid) >= targetDb) hi = mid; else lo = mid;
                }
                chosen = hi;
            }
            else chosen = all > none ? layers : 0;
            double at = tried[chosen];
            string reason = string.Format(inv, "int8 output SQNR {0:F1} dB < MinOutputSqnrDb {1:0.#} dB; first {2} of {3} int8 layers weight-only: {4:F1} dB",
                none, targetDb, chosen, layers, at);
            string note = string.Format(inv, "weight-only prefix: {0} of {1} int8 layers (float activations, int8 weights), chosen by output SQNR on the calibration set (MinOutputSqnrDb {2:0.#} dB; prefix length: SQNR {3})",
                chosen, layers, targetDb, Tried());
            string message = reached
                ? string.Format(inv, "the int8 model's output SQNR on the calibration set is {0:F1} dB, below MinOutputSqnrDb ({1:0.#} dB): its first {2} of {3} int8 layers run weight-only (float activations, int8 weights), {4:F1} dB",
                    none, targetDb, chosen, layers, at)
                : string.Format(inv, "the int8 model's output SQNR on the calibration set is {0:F1} dB, below MinOutputSqnrDb ({1:0.#} dB), and {2:F1} dB with all {3} int8 layers weight-only: {4}",
                    none, targetDb, all, layers, chosen == 0 ? "no layer is made weight-only" : "all of them run weight-only (float activations, int8 weights)");
            return new WeightOnlyChoice(chosen, reached, at, note, message, reason);
        }
    }
}
