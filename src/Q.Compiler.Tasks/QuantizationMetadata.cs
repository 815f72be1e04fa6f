using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.Build.Framework;
using Q.Compiler.Diagnostics;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;

namespace Q.Compiler.Tasks
{
    /// <summary>
    /// The quantization metadata of a QModel item (Quantize, Calibration, CalibrationMethod, CalibrationPercentile,
    /// KeepFloat, MinLayerSqnrDb, QuantizedIO, PairSafeWeights, MinOutputSqnrDb), parsed and checked. <see cref="Parse"/> reports malformed values as QC3015
    /// errors and values that have no effect with the chosen mode as QC3016 warnings; <see cref="Normalized"/> gives the
    /// canonical text of each value, which QPrepareModels writes into the metadata stamp and hands to QCompile.
    /// </summary>
    internal sealed class QuantizationMetadata
    {
        public const string Quantize = "Quantize";
        public const string Calibration = "Calibration";
        public const string CalibrationMethod = "CalibrationMethod";
        public const string CalibrationPercentile = "CalibrationPercentile";
        public const string KeepFloat = "KeepFloat";
        public const string MinLayerSqnrDb = "MinLayerSqnrDb";
        public const string QuantizedIO = "QuantizedIO";
        public const string PairSafeWeights = "PairSafeWeights";
        public const string MinOutputSqnrDb = "MinOutputSqnrDb";

        /// <summary>The metadata names, in the order they appear in the stamp.</summary>
        public static readonly string[] Names = { Quantize, Calibration, CalibrationMethod, CalibrationPercentile, KeepFloat, MinLayerSqnrDb, QuantizedIO, PairSafeWeights, MinOutputSqnrDb };

        private static readonly CompileOptions Defaults = new CompileOptions();

        public QuantizeMode Mode { get; private set; } = Defaults.Quantize;
        /// <summary>The calibration folder as a full path, or null.</summary>
        public string? CalibrationFolder { get; private set; }
        public Quantization.CalibrationMethod Method { get; private set; } = Defaults.CalibrationMethod;
        public double Percentile { get; private set; } = Defaults.CalibrationPercentile;
        public IReadOnlyList<string> KeepFloatNodes { get; private set; } = Array.Empty<string>();
        public double MinSqnrDb { get; private set; } = Defaults.MinLayerSqnrDb;
        public bool QuantizedBoundary { get; private set; } = Defaults.QuantizedIO;
        public PairSafeWeightsMode PairSafe { get; private set; } = Defaults.PairSafeWeights;
        public double MinOutputDb { get; private set; } = Defaults.MinOutputSqnrDb;

        /// <summary>The PairSafeWeights values and their meaning, in the order the QC3015 message lists them.</summary>
        private static readonly (string Text, PairSafeWeightsMode Value)[] PairSafeTexts =
            { ("auto", PairSafeWeightsMode.Auto), ("true", PairSafeWeightsMode.Always), ("false", PairSafeWeightsMode.Never), ("quad", PairSafeWeightsMode.Quad) };

        /// <summary>
        /// Parses the item's metadata. <paramref name="baseDirectory"/> resolves a relative Calibration path (the project's
        /// folder). Problems go to <paramref name="problems"/>: errors (QC3015) make the result unusable; warnings about
        /// values without effect (QC3016) only with <paramref name="warnUnused"/> (normalized items have every value set).
        /// </summary>
        public static QuantizationMetadata Parse(ITaskItem item, string baseDirectory, List<Diagnostic> problems, bool warnUnused = true)
        {
            var m = new QuantizationMetadata();
            string Get(string name) => item.GetMetadata(name).Trim();

            string quantize = Get(Quantize);
            if (quantize.Length > 0)
            {
                if (TryEnum(quantize, out QuantizeMode mode)) m.Mode = mode;
                else problems.Add(Error($"Quantize '{quantize}' is not a quantization mode; use None (float32), Int8 (static int8, calibrated with the Calibration folder) or Dynamic (int8 weights, activation ranges computed on every run)"));
            }

            string calibration = Get(Calibration);
            if (calibration.Length > 0)
            {
                if (calibration.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                    problems.Add(Error($"Calibration '{calibration}' is not a valid path; give the folder of calibration inputs, relative to the project"));
                else
                    m.CalibrationFolder = Path.GetFullPath(Path.Combine(baseDirectory.Length > 0 ? baseDirectory : Directory.GetCurrentDirectory(), calibration))
                        .TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
            }

            string method = Get(CalibrationMethod);
            if (method.Length > 0)
            {
                if (TryEnum(method, out Quantization.CalibrationMethod parsed)) m.Method = parsed;
                else problems.Add(Error($"CalibrationMethod '{method}' is not a calibration method; use Mse (the default), MinMax, Percentile (with CalibrationPercentile) or Entropy"));
            }

            string percentile = Get(CalibrationPercentile);
            if (percentile.Length > 0)
            {
                if (!TryNumber(percentile, out double p))
                    problems.Add(Error($"CalibrationPercentile '{percentile}' is not a number; write a percentage with a '.' as decimal separator, like 99.99"));
                else if (!(p >= 50 && p <= 100))
                    problems.Add(Error(p > 0 && p < 1
                        ? $"CalibrationPercentile '{percentile}' is a percentage between 50 and 100, not a fraction; for {p.ToString("R", CultureInfo.InvariantCulture)} of the values write {(100 * p).ToString("0.#####", CultureInfo.InvariantCulture)}"
                        : $"CalibrationPercentile '{percentile}' is out of range; it is the percentage of values the range keeps, between 50 and 100 (default {CalibrationMethods.DefaultPercentile.ToString("R", CultureInfo.InvariantCulture)})"));
                else m.Percentile = p;
            }

            string keepFloat = Get(KeepFloat);
            if (keepFloat.Length > 0)
                m.KeepFloatNodes = keepFloat.Split(';').Select(s => s.Trim()).Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();

            // A signal-to-noise ratio in dB, 0 to 200: the value, or the default when unset or with a QC3015 error.
            double Decibels(string name, double fallback, string examples, string zeroOff, string zeroMeans)
            {
                string v = Get(name);
                if (v.Length == 0) return fallback;
                if (!TryNumber(v, out double db))
                    problems.Add(Error($"{name} '{v}' is not a number; write decibels with a '.' as decimal separator, like {examples} (0 turns {zeroOff} off)"));
                else if (!(db >= 0 && db <= 200))
                    problems.Add(Error($"{name} '{v}' is out of range; it is a signal-to-noise ratio in dB between 0 ({zeroMeans}) and 200 (default {fallback.ToString("R", CultureInfo.InvariantCulture)})"));
                else return db;
                return fallback;
            }
            m.MinSqnrDb = Decibels(MinLayerSqnrDb, m.MinSqnrDb, "20 or 17.5", "the check", "no layer is kept in float for its error");
            m.MinOutputDb = Decibels(MinOutputSqnrDb, m.MinOutputDb, "30 or 27.5", "weight-only layers", "no layer is made weight-only");

            // A value from a short list of words: the value, the default when unset, or the default with a QC3015 error.
            T Choice<T>(string name, T fallback, params (string Text, T Value)[] choices)
            {
                string v = Get(name);
                if (v.Length == 0) return fallback;
                foreach (var (text, value) in choices)
                    if (string.Equals(v, text, StringComparison.OrdinalIgnoreCase)) return value;
                problems.Add(Error($"{name} '{v}' is not {string.Join(", ", choices.Take(choices.Length - 1).Select(c => c.Text))} or {choices[choices.Length - 1].Text}"));
                return fallback;
            }
            m.QuantizedBoundary = Choice(QuantizedIO, m.QuantizedBoundary, ("true", true), ("false", false));
            m.PairSafe = Choice(PairSafeWeights, m.PairSafe, PairSafeTexts);

            // Values that the chosen mode does not use: most likely a mistake (a typo in Quantize, or a forgotten switch).
            if (warnUnused && !problems.Any(d => d.Severity == Severity.Error))
            {
                if (m.Mode != QuantizeMode.Int8)
                {
                    var unused = new[] { Calibration, CalibrationMethod, CalibrationPercentile, MinLayerSqnrDb, MinOutputSqnrDb }.Where(n => Get(n).Length > 0).ToList();
                    if (Get(PairSafeWeights).Length > 0 && m.PairSafe != PairSafeWeightsMode.Never) unused.Add(PairSafeWeights);
                    if (m.Mode == QuantizeMode.None && m.KeepFloatNodes.Count > 0) unused.Add(KeepFloat);
                    // A dynamic build's activation parameters exist only at run time: its boundary stays float.
                    if (m.Mode == QuantizeMode.Dynamic && m.QuantizedBoundary) unused.Add(QuantizedIO);
                    if (unused.Count > 0)
                        problems.Add(Warning($"{string.Join(", ", unused)} {(unused.Count == 1 ? "has" : "have")} no effect with Quantize=\"{m.Mode}\" and {(unused.Count == 1 ? "is" : "are")} ignored; "
                            + (m.Mode == QuantizeMode.None ? "set Quantize=\"Int8\" to quantize the model with calibration data" : "Dynamic quantization computes activation ranges on every run and needs no calibration")));
                }
                else if (percentile.Length > 0 && m.Method != Quantization.CalibrationMethod.Percentile)
                {
                    problems.Add(Warning($"CalibrationPercentile has no effect with CalibrationMethod=\"{m.Method}\" and is ignored; set CalibrationMethod=\"Percentile\" to use it"));
                }
            }
            return m;
        }

        /// <summary>Canonical text of every value (defaults included), for the stamp and the items QCompile receives.</summary>
        public IEnumerable<KeyValuePair<string, string>> Normalized()
        {
            var c = CultureInfo.InvariantCulture;
            yield return Pair(Quantize, Mode.ToString());
            yield return Pair(Calibration, CalibrationFolder ?? "");
            yield return Pair(CalibrationMethod, Method.ToString());
            yield return Pair(CalibrationPercentile, Percentile.ToString("R", c));
            yield return Pair(KeepFloat, string.Join(";", KeepFloatNodes));
            yield return Pair(MinLayerSqnrDb, MinSqnrDb.ToString("R", c));
            yield return Pair(QuantizedIO, QuantizedBoundary ? "true" : "false");
            yield return Pair(PairSafeWeights, PairSafeTexts.First(t => t.Value == PairSafe).Text);
            yield return Pair(MinOutputSqnrDb, MinOutputDb.ToString("R", c));
        }

        /// <summary>Copies the values into the compiler's options.</summary>
        public void ApplyTo(CompileOptions options)
        {
            options.Quantize = Mode;
            options.Calibration = CalibrationFolder;
            options.CalibrationMethod = Method;
            options.CalibrationPercentile = Percentile;
            options.KeepFloat = KeepFloatNodes;
            options.MinLayerSqnrDb = MinSqnrDb;
            options.QuantizedIO = QuantizedBoundary;
            options.PairSafeWeights = PairSafe;
            options.MinOutputSqnrDb = MinOutputDb;
        }

        /// <summary>The calibration files the compile reads: none unless the mode is Int8 with a Calibration folder.</summary>
        public IReadOnlyList<string> CalibrationInputs() =>
            Mode == QuantizeMode.Int8 && CalibrationFolder is not null ? CalibrationFiles.List(CalibrationFolder) : Array.Empty<string>();

        private static bool TryEnum<T>(string s, out T value) where T : struct
        {
            // Names only: Enum.TryParse would also take "1" or "Int8, None".
            foreach (var name in Enum.GetNames(typeof(T)))
                if (string.Equals(name, s, StringComparison.OrdinalIgnoreCase))
                {
                    value = (T)Enum.Parse(typeof(T), name);
                    return true;
                }
            value = default;
            return false;
        }

        private static bool TryNumber(string s, out double value) =>
            double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value)
            && !double.IsNaN(value) && !double.IsInfinity(value);

        private static KeyValuePair<string, string> Pair(string key, string value) => new KeyValuePair<string, string>(key, value);

        private static Diagnostic Error(string message) => new Diagnostic(DiagnosticIds.BadQuantizationMetadata, Severity.Error, message);

        private static Diagnostic Warning(string message) => new Diagnostic(DiagnosticIds.UnusedQuantizationMetadata, Severity.Warning, message);
    }
}
