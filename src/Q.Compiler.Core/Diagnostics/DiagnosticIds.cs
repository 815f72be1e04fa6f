namespace Q.Compiler.Diagnostics
{
    /// <summary>
    /// Stable diagnostic ids. Ranges by stage: 0xxx configuration, 1xxx reading the model, 2xxx graph and ops,
    /// 3xxx quantization, 4xxx emission and limits, 5xxx C# integration, 9xxx internal errors.
    /// Every id has a page in docs/diagnostics/QC####.md.
    /// </summary>
    public static class DiagnosticIds
    {
        /// <summary>The model file does not exist or cannot be read.</summary>
        public const string ModelNotFound = "QC0001";
        /// <summary>A QModel metadata value is malformed (InputShapes, ClassName, Namespace, ...).</summary>
        public const string BadMetadata = "QC0002";

        /// <summary>The file is not a valid ONNX protobuf (truncated, corrupt, or another format).</summary>
        public const string MalformedModel = "QC1001";
        /// <summary>The model has no graph, or its IR version or structure is unusable.</summary>
        public const string InvalidModel = "QC1002";
        /// <summary>A tensor's data does not match its declared shape and type.</summary>
        public const string TensorDataMismatch = "QC1003";
        /// <summary>An external data path points outside the model's folder.</summary>
        public const string ExternalDataOutsideModel = "QC1004";
        /// <summary>An external data file is missing or shorter than the tensor needs.</summary>
        public const string ExternalDataMissing = "QC1005";
        /// <summary>A tensor has an element type the compiler does not support.</summary>
        public const string UnsupportedDataType = "QC1006";

        /// <summary>An operator (op type, domain, opset) is not supported.</summary>
        public const string UnsupportedOp = "QC2001";
        /// <summary>A graph input has a dynamic dimension that is not pinned by InputShapes.</summary>
        public const string DynamicDimension = "QC2002";
        /// <summary>A batch-like dynamic dimension was pinned to 1 by default.</summary>
        public const string BatchDefaulted = "QC2003";
        /// <summary>Shapes in the graph are inconsistent (declared vs. inferred, or incompatible operands).</summary>
        public const string ShapeMismatch = "QC2004";
        /// <summary>A tensor is too large to compile (element count or byte size beyond the limits).</summary>
        public const string TensorTooLarge = "QC2005";
        /// <summary>An attribute value or combination of an otherwise supported op is not supported.</summary>
        public const string UnsupportedAttribute = "QC2006";
        /// <summary>An InputShapes entry names no graph input, or pins a static dimension to another size.</summary>
        public const string UnknownInput = "QC2007";
        /// <summary>A value that must be known at build time (a shape, an axis list) is computed at run time.</summary>
        public const string NotConstant = "QC2008";
        /// <summary>The graph is malformed: a value is used but never produced, or produced twice, or there is a cycle.</summary>
        public const string MalformedGraph = "QC2009";
        /// <summary>
        /// A quantized op (QLinearConv, ConvInteger, QLinearMatMul, the com.microsoft QLinear* ops, ...) reaches lowering
        /// with int8 activations; the kernels take uint8 (the int8-to-uint8 pass converts them when every zero point of an
        /// int8 activation is known at build time).
        /// </summary>
        public const string QuantInt8Activation = "QC2010";
        /// <summary>
        /// A quantized op's scale is not positive and finite, or the multiplier its kernel applies (s_x·s_w/s_y of a
        /// requantization, a scale ratio of a com.microsoft op) is outside the range the kernels support.
        /// </summary>
        public const string QuantMultiplierOutOfRange = "QC2011";
        /// <summary>A QuantizeLinear/DequantizeLinear variant (quantized type, float16 data or scales) has no generated code.</summary>
        public const string QuantizedTypeUnsupported = "QC2015";
        /// <summary>A com.microsoft quantized pooling op asks for channels_last (NHWC) layout, which is not supported.</summary>
        public const string QuantizedChannelsLast = "QC2021";

        // Retired ids (a page in docs/diagnostics says what replaced them; the numbers are never reused):
        // QC2020 (int8 activations at a com.microsoft kernel) is now QC2010; QC2022 (com.microsoft scales out of range) is
        // now QC2011; QC2025 (int8 zero point computed at run time) was never reported: such a graph keeps its int8
        // activations and a kernel that needs uint8 reports QC2010.

        /// <summary>The calibration folder is missing or holds no calibration data (.pb or .npy files).</summary>
        public const string CalibrationEmpty = "QC3001";
        /// <summary>A calibration tensor's element type or shape does not fit the model input it is for.</summary>
        public const string CalibrationMismatch = "QC3002";
        /// <summary>A calibration file cannot be read (corrupt TensorProto, malformed or unsupported .npy).</summary>
        public const string CalibrationUnreadable = "QC3003";
        /// <summary>A calibration file cannot be matched to a model input, or a sample lacks an input.</summary>
        public const string CalibrationInputMapping = "QC3004";
        /// <summary>A value is NaN or infinite on the calibration set, so no range can be chosen for it.</summary>
        public const string CalibrationNonFinite = "QC3005";
        /// <summary>A layer stays float32 because its quantization error (SQNR on the calibration set) is below MinLayerSqnrDb.</summary>
        public const string LayerKeptFloatSqnr = "QC3006";
        /// <summary>A layer stays float32 because the KeepFloat metadata names it.</summary>
        public const string LayerKeptFloatByUser = "QC3007";
        /// <summary>A KeepFloat entry names no node of the model.</summary>
        public const string KeepFloatUnknownNode = "QC3008";
        /// <summary>
        /// Quantize=Dynamic found no Conv, Gemm or MatMul layer worth quantizing, so the model is built as float32 (info).
        /// Until dynamic quantization was implemented this id was the error "Dynamic is not implemented yet".
        /// </summary>
        public const string DynamicNothingToQuantize = "QC3009";

        /// <summary>A quantization metadata value of a QModel item is malformed (Quantize, CalibrationMethod, CalibrationPercentile, ...).</summary>
        public const string BadQuantizationMetadata = "QC3015";
        /// <summary>A quantization metadata value has no effect with the item's Quantize mode (and is ignored).</summary>
        public const string UnusedQuantizationMetadata = "QC3016";
        /// <summary>Summary of a quantized build (layers in int8, weight bytes against float, output SQNR), with the report files.</summary>
        public const string QuantizationSummary = "QC3017";
        /// <summary>
        /// The int8 model's output SQNR on the calibration set was below MinOutputSqnrDb, so a prefix of its layers runs
        /// weight-only (float activations, int8 weights) and reaches it (info).
        /// </summary>
        public const string WeightOnlyLayers = "QC3020";
        /// <summary>As QC3020, but even the best weight-only prefix stays below MinOutputSqnrDb (warning).</summary>
        public const string WeightOnlyTargetMissed = "QC3021";

        /// <summary>Summary of a compiled model (layers, scratch and weight bytes).</summary>
        public const string CompileSummary = "QC4001";
        /// <summary>Weights are too large for a string literal and use the array representation.</summary>
        public const string LargeWeights = "QC4002";
        /// <summary>The compiled graph cannot be written as ONNX (ExportOnnx / OnnxWriter): internal ops or forms with no ONNX equivalent.</summary>
        public const string OnnxExportUnsupported = "QC4004";

        /// <summary>NativeAOT publish without IlcInstructionSet: kernels fall back to 128-bit SIMD (reported by build/Q.Compiler.targets).</summary>
        public const string NativeAotInstructionSet = "QC5002";

        /// <summary>An unexpected internal error; please report it with the model.</summary>
        public const string InternalError = "QC9001";
    }
}
