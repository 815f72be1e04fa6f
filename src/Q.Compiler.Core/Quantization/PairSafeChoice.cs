using System;
using System.Globalization;
using System.Linq;

namespace Q.Compiler.Quantization
{
    /// <summary>The PairSafeWeights metadata: whether QConvNchw convolutions get pair-safe weights.</summary>
    public enum PairSafeWeightsMode
    {
        /// <summary>"false": plain int8 weights (the AVX2 kernel uses the sign trick where a pair could saturate).</summary>
        Never,
        /// <summary>"true": every QConvNchw convolution gets pair-safe weights (<see cref="WeightQuantizer.PairSafePerChannel"/>).</summary>
        Always,
        /// <summary>"auto": both are tried on the calibration set and <see cref="PairSafeChoice"/> decides.</summary>
        Auto,
    }

    /// <summary>
    /// Output-guided choice between plain and pair-safe convolution weights (<see cref="PairSafeWeightsMode.Auto"/>): the
    /// model quantized with plain weights (at the clip margin <see cref="ClipMarginSearch"/> chose) is quantized once more
    /// with pair-safe weights at the same margin, both simulated int8 models are scored against float on the calibration
    /// set (<see cref="ClipMarginScore"/>), and <see cref="Adopt"/> decides. Only calibration data is looked at.
    /// </summary>
    public static class PairSafeChoice
    {
        /// <summary>How far below the plain build's worst output SQNR the pair-safe build may fall and still be adopted.</summary>
        public const double ToleranceDb = 1.0;

        /// <summary>
        /// Whether the pair-safe build is adopted: its worst output SQNR over the calibration set is at most
        /// <see cref="ToleranceDb"/> below the plain build's.
        /// </summary>
        public static bool Adopt(ClipMarginScore plain, ClipMarginScore pairSafe) =>
            pairSafe.Worst >= plain.Worst - ToleranceDb;

        /// <summary>
        /// With <paramref name="candidates"/> convolutions that pair-safe weights would change, prepares the pair-safe build,
        /// scores both and returns the one <see cref="Adopt"/> picks; with none, returns <paramref name="plain"/> without the
        /// extra run. <paramref name="note"/> receives the returned build and one line for the report.
        /// </summary>
        public static T Choose<T>(T plain, int candidates, Func<T> preparePairSafe, Func<T, ClipMarginScore> score, Action<T, string> note)
        {
            var inv = CultureInfo.InvariantCulture;
            if (candidates == 0)
            {
                note(plain, "pair-safe weights (auto): not tried, no int8 convolution on the QConvNchw kernel would change");
                return plain;
            }
            var p = score(plain);
            var safe = preparePairSafe();
            var s = score(safe);
            bool adopt = Adopt(p, s);
            int better = s.Samples.Zip(p.Samples, (a, b) => a > b ? 1 : 0).Sum();
            var chosen = adopt ? safe : plain;
            note(chosen, string.Format(inv,
                "pair-safe weights (auto): {0} for {1} convolution{2}; output SQNR on the calibration set (simulated int8 model, worst output) {3:F1} dB plain, {4:F1} dB pair-safe ({5} of {6} samples better); adopted when at most {7:0.#} dB lower",
                adopt ? "adopted" : "not adopted", candidates, candidates == 1 ? "" : "s", p.Worst, s.Worst, better, s.Samples.Count, ToleranceDb));
            return chosen;
        }
    }
}
