using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// What a quantized build shipped: per layer the scheme, scales, zero points and SQNR on the calibration set; weight bytes
    /// before and after; scratch bytes; layers kept in float and why. The MSBuild task writes it as
    /// <c>&lt;ClassName&gt;.qreport.md</c> and <c>.json</c> next to the plan and prints <see cref="SummaryLine"/>.
    /// </summary>
    public sealed class QuantizationReport
    {
        /// <summary>Model display path.</summary>
        public string Model { get; set; } = "";
        /// <summary>"Int8" (calibrated), "Dynamic", "QDQ" or "QOperator" (the model's own parameters).</summary>
        public string Mode { get; set; } = "";
        /// <summary>Calibration method and sample count, when calibrated ("Entropy, 1000 samples").</summary>
        public string? Calibration { get; set; }
        /// <summary>Weight bytes of the float32 build of the same model.</summary>
        public long FloatWeightBytes { get; set; }
        /// <summary>Weight bytes of this build (packed int8 weights, int32 biases, scales, float layers' weights).</summary>
        public long WeightBytes { get; set; }
        /// <summary>Scratch (activation arena) bytes of this build.</summary>
        public long ScratchBytes { get; set; }
        /// <summary>SQNR in dB of each model output, quantized against float, over the calibration set (null when not measured).</summary>
        public IDictionary<string, double> OutputSqnrDb { get; } = new SortedDictionary<string, double>(System.StringComparer.Ordinal);
        /// <summary>Whether the convolutions on the QConvNchw kernel got pair-safe weights (PairSafeWeights "true", or "auto" adopted them).</summary>
        public bool PairSafeWeights { get; set; }
        /// <summary>Whether those weights are also quad-safe (PairSafeWeights "quad", or "auto" adopted them; implies <see cref="PairSafeWeights"/>).</summary>
        public bool QuadSafeWeights { get; set; }
        /// <summary>Remarks for the reader: how figures were measured, the parameters of quantized inputs and outputs, ….</summary>
        public IList<string> Notes { get; } = new List<string>();
        /// <summary>One entry per layer in graph order.</summary>
        public IList<LayerQuantization> Layers { get; } = new List<LayerQuantization>();

        /// <summary>Layers that stayed float32 although their op has an int8 implementation.</summary>
        public IEnumerable<LayerQuantization> KeptFloat => Layers.Where(l => l.KeptFloatReason is not null);

        /// <summary>One line for the build log.</summary>
        public string SummaryLine
        {
            get
            {
                var c = CultureInfo.InvariantCulture;
                int q = Layers.Count(l => l.Quantized);
                string sqnr = OutputSqnrDb.Count == 0 ? "" : ", output SQNR " + string.Join(", ", OutputSqnrDb.Select(kv => kv.Value.ToString("0.0", c) + " dB"));
                string ratio = FloatWeightBytes > 0 ? (100.0 * WeightBytes / FloatWeightBytes).ToString("0.0", c) + "% of float" : "";
                return string.Format(c, "{0}: {1}, {2}/{3} layers int8, weights {4:N0} bytes ({5}){6}{7}, scratch {8:N0} bytes",
                    Model, Mode + (Calibration is null ? "" : " (" + Calibration + ")"), q, Layers.Count, WeightBytes, ratio,
                    QuadSafeWeights ? ", quad-safe conv weights" : PairSafeWeights ? ", pair-safe conv weights" : "", sqnr, ScratchBytes);
            }
        }

        /// <summary>The report as Markdown (deterministic).</summary>
        public string ToMarkdown()
        {
            var c = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            sb.Append("# Quantization report: ").Append(Model).Append('\n').Append('\n');
            sb.Append("- mode: ").Append(Mode).Append('\n');
            if (Calibration is not null) sb.Append("- calibration: ").Append(Calibration).Append('\n');
            sb.Append("- weights: ").Append(WeightBytes.ToString("N0", c)).Append(" bytes (float32 build: ").Append(FloatWeightBytes.ToString("N0", c)).Append(" bytes)\n");
            sb.Append("- scratch: ").Append(ScratchBytes.ToString("N0", c)).Append(" bytes\n");
            foreach (var kv in OutputSqnrDb) sb.Append("- output `").Append(kv.Key).Append("` SQNR: ").Append(kv.Value.ToString("0.00", c)).Append(" dB\n");
            foreach (var note in Notes) sb.Append("- ").Append(note).Append('\n');
            sb.Append('\n').Append("| layer | op | scheme | input scale / zp | output scale / zp | weight scales | SQNR (dB) | note |\n|---|---|---|---|---|---|---|---|\n");
            foreach (var l in Layers)
                sb.Append("| ").Append(l.Name).Append(" | ").Append(l.OpType).Append(" | ").Append(l.Scheme).Append(" | ")
                  .Append(l.InputScale is null ? "" : l.InputScale.Value.ToString("G6", c) + " / " + l.InputZeroPoint).Append(" | ")
                  .Append(l.OutputScale is null ? "" : l.OutputScale.Value.ToString("G6", c) + " / " + l.OutputZeroPoint).Append(" | ")
                  .Append(l.WeightScaleMin is null ? "" : l.WeightScaleMin.Value.ToString("G4", c) + " … " + l.WeightScaleMax!.Value.ToString("G4", c)).Append(" | ")
                  .Append(l.SqnrDb is null ? "" : l.SqnrDb.Value.ToString("0.0", c)).Append(" | ")
                  .Append(l.KeptFloatReason ?? "").Append(" |\n");
            return sb.ToString();
        }

        /// <summary>The report as JSON (deterministic, invariant culture).</summary>
        public string ToJson()
        {
            var c = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            sb.Append("{\n");
            sb.Append("  \"model\": ").Append(Str(Model)).Append(",\n");
            sb.Append("  \"mode\": ").Append(Str(Mode)).Append(",\n");
            sb.Append("  \"calibration\": ").Append(Calibration is null ? "null" : Str(Calibration)).Append(",\n");
            sb.Append("  \"floatWeightBytes\": ").Append(FloatWeightBytes.ToString(c)).Append(",\n");
            sb.Append("  \"weightBytes\": ").Append(WeightBytes.ToString(c)).Append(",\n");
            sb.Append("  \"scratchBytes\": ").Append(ScratchBytes.ToString(c)).Append(",\n");
            sb.Append("  \"outputSqnrDb\": {").Append(string.Join(", ", OutputSqnrDb.Select(kv => Str(kv.Key) + ": " + Num(kv.Value)))).Append("},\n");
            sb.Append("  \"notes\": [").Append(string.Join(", ", Notes.Select(Str))).Append("],\n");
            sb.Append("  \"layers\": [");
            for (int i = 0; i < Layers.Count; i++)
            {
                var l = Layers[i];
                sb.Append(i == 0 ? "\n" : ",\n");
                sb.Append("    {\"name\": ").Append(Str(l.Name)).Append(", \"op\": ").Append(Str(l.OpType)).Append(", \"scheme\": ").Append(Str(l.Scheme))
                  .Append(", \"quantized\": ").Append(l.Quantized ? "true" : "false")
                  .Append(", \"inputScale\": ").Append(Num(l.InputScale)).Append(", \"inputZeroPoint\": ").Append(l.InputZeroPoint?.ToString(c) ?? "null")
                  .Append(", \"outputScale\": ").Append(Num(l.OutputScale)).Append(", \"outputZeroPoint\": ").Append(l.OutputZeroPoint?.ToString(c) ?? "null")
                  .Append(", \"weightScaleMin\": ").Append(Num(l.WeightScaleMin)).Append(", \"weightScaleMax\": ").Append(Num(l.WeightScaleMax))
                  .Append(", \"sqnrDb\": ").Append(Num(l.SqnrDb)).Append(", \"keptFloat\": ").Append(l.KeptFloatReason is null ? "null" : Str(l.KeptFloatReason)).Append('}');
            }
            sb.Append(Layers.Count == 0 ? "]\n" : "\n  ]\n").Append("}\n");
            return sb.ToString();
        }

        private static string Num(double? v) => v is null || double.IsNaN(v.Value) || double.IsInfinity(v.Value) ? "null" : v.Value.ToString("R", CultureInfo.InvariantCulture);

        private static string Str(string s)
        {
            var sb = new StringBuilder("\"");
            foreach (char ch in s)
            {
                if (ch == '"' || ch == '\\') sb.Append('\\').Append(ch);
                else if (ch < 0x20) sb.Append("\\u").Append(((int)ch).ToString("x4", CultureInfo.InvariantCulture));
                else sb.Append(ch);
            }
            return sb.Append('"').ToString();
        }
    }

    /// <summary>One layer of a <see cref="QuantizationReport"/>.</summary>
    public sealed class LayerQuantization
    {
        public string Name { get; set; } = "";
        public string OpType { get; set; } = "";
        /// <summary>How the layer runs, e.g. "u8 × s8 per-channel → u8" or "float32".</summary>
        public string Scheme { get; set; } = "";
        public bool Quantized { get; set; }
        /// <summary>
        /// A weight-only layer: float32 activations and kernel, its weights the int8 weights times their scales (stored
        /// as int8 and scales); <see cref="Quantized"/> is false.
        /// </summary>
        public bool WeightOnly { get; set; }
        public double? InputScale { get; set; }
        public int? InputZeroPoint { get; set; }
        public double? OutputScale { get; set; }
        public int? OutputZeroPoint { get; set; }
        public double? WeightScaleMin { get; set; }
        public double? WeightScaleMax { get; set; }
        /// <summary>Output SQNR of this layer on the calibration set (quantized vs float, same float inputs).</summary>
        public double? SqnrDb { get; set; }
        /// <summary>Why the layer stayed float32 (KeepFloat, SQNR below the threshold, unsupported scheme), or null.</summary>
        public string? KeptFloatReason { get; set; }
    }
}
