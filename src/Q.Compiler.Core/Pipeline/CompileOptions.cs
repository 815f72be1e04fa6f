using System.Collections.Generic;

namespace Q.Compiler.Pipeline
{
    /// <summary>What the QModel item says about one model.</summary>
    public sealed class CompileOptions
    {
        /// <summary>Path to the .onnx file on disk.</summary>
        public string ModelPath { get; set; } = "";
        /// <summary>How the path appears in the generated header and messages (relative to the project); defaults to the file name.</summary>
        public string? DisplayPath { get; set; }
        public string ClassName { get; set; } = "";
        public string Namespace { get; set; } = "";
        /// <summary>InputShapes metadata, e.g. "x=1x3x48x192;y=1x10".</summary>
        public string? InputShapes { get; set; }

        /// <summary>Quantize metadata: None (float), Int8 (static, calibrated) or Dynamic (int8 weights, activation ranges per run).</summary>
        public QuantizeMode Quantize { get; set; } = QuantizeMode.None;
        /// <summary>Calibration metadata: a folder of .pb/.npy inputs (see Quantization.CalibrationDataSet); required for Int8 on a float model.</summary>
        public string? Calibration { get; set; }
        /// <summary>CalibrationMethod metadata.</summary>
        public Quantization.CalibrationMethod CalibrationMethod { get; set; } = Quantization.CalibrationMethod.Mse;
        /// <summary>CalibrationPercentile metadata (Percentile method only).</summary>
        public double CalibrationPercentile { get; set; } = Quantization.CalibrationMethods.DefaultPercentile;
        /// <summary>KeepFloat metadata: node names (as in the ONNX file) that stay float32.</summary>
        public IReadOnlyList<string> KeepFloat { get; set; } = new string[0];
        /// <summary>
        /// Layers whose output SQNR on the calibration set (quantized layer vs float layer, same float inputs) is below this many
        /// dB stay float32 with an info diagnostic. 0 disables the check.
        /// </summary>
        public double MinLayerSqnrDb { get; set; } = 20;
        /// <summary>
        /// Quantize=Int8: when the int8 model's worst output SQNR on the calibration set is below this many dB, the smallest
        /// prefix of its layers that reaches it runs weight-only (float activations, int8 weights); 0 disables
        /// (<see cref="Quantization.QuantizerOptions.MinOutputSqnrDb"/>).
        /// </summary>
        public double MinOutputSqnrDb { get; set; } = Quantization.QuantizerOptions.DefaultMinOutputSqnrDb;
        /// <summary>
        /// CompressWeights metadata (default true): store weights coded where that is smaller (palette, offset, bit-packed,
        /// Huffman; lossless) and expand them once, on the class's first use. False keeps every weight plain, read in place
        /// from the assembly: a bigger binary, no heap copy of the weights.
        /// </summary>
        public bool CompressWeights { get; set; } = true;

        /// <summary>QuantizedIO metadata: expose the quantized (uint8/int8) tensors at the model boundary instead of float32.</summary>
        public bool QuantizedIO { get; set; }
        /// <summary>
        /// PairSafeWeights metadata (Int8; auto, true, false or quad; default auto): quantize the weights of the convolutions that
        /// run on the NCHW int8 GEMM so that every pair of neighbouring weights is pair-safe
        /// (Q.Compiler.Ops.QConv.QConvWeights.IsPairSafe, usually by a slightly larger scale for the channels that need it).
        /// Those layers then skip the sign trick on AVX2 (about 1.2× faster per layer) at a cost of about 1–2 dB of weight
        /// SQNR. Auto quantizes the model both ways and keeps pair-safe weights only when the calibration set shows no loss
        /// of output accuracy (Quantization.PairSafeChoice); once it adopts them it tries quad-safe weights the same way
        /// (Quantization.WeightQuantizer.QuadSafePerChannel; "quad" forces them); measured in docs/quantization.md.
        /// </summary>
        public Quantization.PairSafeWeightsMode PairSafeWeights { get; set; } = Quantization.PairSafeWeightsMode.Auto;
        /// <summary>
        /// Int8: round the weights with error compensation on the calibration set's layer inputs
        /// (Q.Compiler.Quantization.QuantizerOptions.CompensatedRounding). Off by default: measured in docs/quantization.md,
        /// "Compensated weight rounding".
        /// </summary>
        public bool CompensatedRounding { get; set; }

        /// <summary>
        /// Int8 with MinOutputSqnrDb: round the weight-only layers' weights with compensated rounding (default true; the
        /// int8 layers keep round-to-nearest). Q.Compiler.Quantization.QuantizerOptions.CompensatedWeightOnly; measured in
        /// docs/quantization.md ("Compensated rounding for weight-only layers").
        /// </summary>
        public bool CompensatedWeightOnly { get; set; } = true;
        /// <summary>
        /// Receives a line of progress during long work (each pass of an Int8 build over the calibration set); the MSBuild
        /// task logs it as a low-importance message. Null: no progress.
        /// </summary>
        public System.Action<string>? Progress { get; set; }
    }

    /// <summary>The Quantize metadata of a QModel item.</summary>
    public enum QuantizeMode
    {
        /// <summary>Float32 model compiled as float32 (a model that is already quantized keeps its own quantization).</summary>
        None,
        /// <summary>Static int8: weights per channel, activations per tensor from calibration data.</summary>
        Int8,
        /// <summary>Dynamic int8: weights quantized at build time, activation ranges computed on every run.</summary>
        Dynamic,
    }

    /// <summary>The result of compiling one model: the plan (null when an error stopped the pipeline) and every diagnostic.</summary>
    public sealed class CompileResult
    {
        public CompileResult(Plan.ModelPlan? plan, string? planText, IReadOnlyList<Diagnostics.Diagnostic> diagnostics, Ir.Graph? graph)
        {
            Plan = plan; PlanText = planText; Diagnostics = diagnostics; Graph = graph;
        }

        public Plan.ModelPlan? Plan { get; }
        public string? PlanText { get; }
        public IReadOnlyList<Diagnostics.Diagnostic> Diagnostics { get; }
        /// <summary>The optimized graph the plan was lowered from.</summary>
        public Ir.Graph? Graph { get; }
        public bool Success => Plan is not null;
        /// <summary>For a quantized build (Quantize=Int8/Dynamic, or a model that is already quantized), what was shipped; else null.</summary>
        public Quantization.QuantizationReport? QuantizationReport { get; set; }
    }
}
