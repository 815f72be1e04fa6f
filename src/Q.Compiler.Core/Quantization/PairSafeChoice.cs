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
        /// <summary>
        /// "quad": every QConvNchw convolution gets quad-safe weights (<see cref="WeightQuantizer.QuadSafePerChannel"/>), which
        /// are pair-safe and also let the unsigned AVX2 tile pair quads (QConvWeights.NchwPairQuads) in every block.
        /// </summary>
        Quad,
    }

    /// <summary>
    /// Output-guided choice between plain and pair-safe convolution weights (<see cref="PairSafeWeightsMode.Auto"/>): the
    /// model quantized with plain weights (at the clip margin <see cref="ClipMarginSearch"/> chose) is quantized once more
    /// with pair-safe weights at the same margin, both simulated int8 models are scored against float on the calibration
    /// set (<see cref="ClipMarginScore"/>), and <see cref="Adopt"/> decides. Only calibration data is looked at.
    /// </summary>
    /// <remarks>
    /// <para>The rule: pair-safe weights are adopted when the pair-safe build's worst output SQNR over the calibration set is
    /// at least <see cref="FloorDb"/> (30 dB, 5 dB above the 25 dB acceptance) <i>and</i> at most
    /// <see cref="ToleranceDb"/> (3 dB) below the plain build's.</para>
    /// <para>Why a floor rather than "better than plain": on a calibration set of a dozen images the difference between the
    /// two builds is of the order of the rounding noise itself. Measured (docs/quantization.md, "Pair-safe weights"), plain →
    /// pair-safe: mobilenet-v2-128-0.5 32.1 → 36.0 dB (5 of 12 images better), ultraface-rfb-320 49.4 → 47.4 (4 of 12),
    /// squeezenet-1.0-fp16 28.6 → 26.9 (3 of 12), ppocr-cls-mobile 17.2 → 19.9 (19 of 36), mnist-8 44.6 → 43.2 (301 of
    /// 1,000), kws-m 95.8 → 94.2 (30 of 64); on the held-out test sets the sign of the change flips from set to set for
    /// mobilenet and ppocr. What the calibration set does tell reliably is how much headroom a model has: a model whose
    /// int8 output stays well above the acceptance level with pair-safe weights can afford the ≈2 dB of weight SQNR they cost
    /// per layer; one near or below it (squeezenet, ppocr) keeps the plain weights, whose accuracy the acceptance tests
    /// established. The tolerance bounds the cost where the headroom is large: the pair-safe build may lose at most 3 dB
    /// (the noise power doubled) against plain; the largest loss measured above is 2.0 dB (ultraface).</para>
    /// </remarks>
    public static class PairSafeChoice
    {
        /// <summary>The worst output SQNR (dB) over the calibration set the pair-safe build must reach to be adopted.</summary>
        public const double FloorDb = 30.0;

        /// <summary>How far below the plain build's worst output SQNR the pair-safe build may fall and still be adopted.</summary>
        public const double ToleranceDb = 3.0;

        /// <summary>
        /// Whether the pair-safe build is adopted: its worst output SQNR over the calibration set is at least
        /// <see cref="FloorDb"/> and at most <see cref="ToleranceDb"/> below the plain build's (class remarks).
        /// </summary>
        public static bool Adopt(ClipMarginScore plain, ClipMarginScore pairSafe) =>
            pairSafe.Worst >= FloorDb && pairSafe.Worst >= plain.Worst - ToleranceDb;

        /// <summary>
        /// With <paramref name="candidates"/> convolutions that pair-safe weights would change, prepares the pair-safe build,
        /// scores both and returns the one <see cref="Adopt"/> picks; with none, returns <paramref name="plain"/> without the
        /// extra run. <paramref name="note"/> receives the returned build and one line for the report.
        /// </summary>
        public static T Choose<T>(T plain, int candidates, Func<T> preparePairSafe, Func<T, ClipMarginScore> score, Action<T, string> note) =>
            Step(plain, candidates, preparePairSafe, score, note, "pair-safe", Adopt, (adopt, p, s, better) => string.Format(CultureInfo.InvariantCulture,
                "pair-safe weights (auto): {0} for {1} convolution{2}; output SQNR on the calibration set (simulated int8 model, worst output) {3:F1} dB plain, {4:F1} dB pair-safe ({5} of {6} samples better); adopted when at least {7:0.#} dB and at most {8:0.#} dB below plain",
                adopt ? "adopted" : "not adopted", candidates, candidates == 1 ? "" : "s", p.Worst, s.Worst, better, s.Samples.Count, FloorDb, ToleranceDb));

        /// <summary>
        /// One step of "auto" (<see cref="Choose"/>, <see cref="ChooseQuad"/>): with no <paramref name="candidates"/>, a
        /// "not tried" note and <paramref name="current"/> without the extra run; else <paramref name="current"/> and the
        /// prepared build are scored, <paramref name="adopt"/> picks, and <paramref name="note"/> receives the picked build and
        /// <paramref name="describe"/>(adopted, current's score, the new build's score, its samples better than current's).
        /// </summary>
        private static T Step<T>(T current, int candidates, Func<T> prepare, Func<T, ClipMarginScore> score, Action<T, string> note, string weights,
            Func<ClipMarginScore, ClipMarginScore, bool> adopt, Func<bool, ClipMarginScore, ClipMarginScore, int, string> describe)
        {
            if (candidates == 0)
            {
                note(current, weights + " weights (auto): not tried, no int8 convolution on the QConvNchw kernel would change");
                return current;
            }
            var c = score(current);
            var next = prepare();
            var s = score(next);
            bool adopted = adopt(c, s);
            int better = s.Samples.Zip(c.Samples, (x, y) => x > y ? 1 : 0).Sum();
            var chosen = adopted ? next : current;
            note(chosen, describe(adopted, c, s, better));
            return chosen;
        }

        /// <summary>The worst output SQNR (dB) over the calibration set the quad-safe build must reach to be adopted.</summary>
        public const double QuadFloorDb = 40.0;

        /// <summary>
        /// Whether the quad-safe build (<see cref="PairSafeWeightsMode.Quad"/>) is adopted once the pair-safe one has been:
        /// its worst output SQNR over the calibration set is at least <see cref="QuadFloorDb"/> (40 dB) and at most
        /// <see cref="ToleranceDb"/> below the pair-safe build's. Measured (docs/quantization.md, "Quad-safe weights"; plain,
        /// pair-safe, quad-safe on the calibration set): ultraface-rfb-320 49.4, 47.4, 46.4 dB, and on its test sets the
        /// scores stayed at 38–53 dB; mobilenet-v2-128-0.5 32.1, 36.0, 33.9 dB, but its test set 1 fell from 30.2 to 25.0 dB,
        /// 8.9 dB below the calibration figure, on the acceptance line. So the floor of the quad step leaves room for that
        /// spread (15 dB above the 25 dB acceptance), and the tolerance is taken against pair-safe, the build it replaces:
        /// against plain, ultraface's 46.4 dB would sit exactly on the 3 dB edge.
        /// </summary>
        public static bool AdoptQuad(ClipMarginScore pairSafe, ClipMarginScore quadSafe) =>
            quadSafe.Worst >= QuadFloorDb && quadSafe.Worst >= pairSafe.Worst - ToleranceDb;

        /// <summary>
        /// The third level of "auto": given the adopted pair-safe build <paramref name="pairSafe"/> and the plain build's
        /// score (for the note), with <paramref name="candidates"/> convolutions that quad-safe weights would change, prepares the quad-safe
        /// build, scores it and returns it if <see cref="AdoptQuad"/> says so, else <paramref name="pairSafe"/>; with none,
        /// returns <paramref name="pairSafe"/> without the extra run. <paramref name="note"/> receives the returned build and one line.
        /// </summary>
        public static T ChooseQuad<T>(T pairSafe, ClipMarginScore plain, int candidates, Func<T> prepareQuad, Func<T, ClipMarginScore> score, Action<T, string> note) =>
            Step(pairSafe, candidates, prepareQuad, score, note, "quad-safe", AdoptQuad, (adopt, p, s, better) => string.Format(CultureInfo.InvariantCulture,
                "quad-safe weights (auto): {0} for {1} convolution{2}; output SQNR on the calibration set (simulated int8 model, worst output) {3:F1} dB plain, {4:F1} dB pair-safe, {5:F1} dB quad-safe ({6} of {7} samples better than pair-safe); adopted when at least {8:0.#} dB and at most {9:0.#} dB below pair-safe",
                adopt ? "adopted" : "not adopted", candidates, candidates == 1 ? "" : "s", plain.Worst, p.Worst, s.Worst, better, s.Samples.Count, QuadFloorDb, ToleranceDb));
    }
}
