using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = Q.Compiler.Ir.Tensor;
using Q.Compiler.Export;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;

namespace Q.Compiler.Benchmarks;

/// <summary>
/// One shared model, ready to run on its test_data_set_0 through our generated code and through ONNX Runtime.
/// Both sides bind preallocated inputs and outputs once, so a run allocates nothing: ours through a delegate over the
/// generated Run, ORT through IOBinding over OrtValues that wrap our arrays.
/// </summary>
public sealed class BenchModel : IDisposable
{
    /// <summary>The models benchmarked (folder under ../shared/models, model file).</summary>
    public static readonly (string Name, string Folder, string File)[] All =
    {
        ("mnist-8", "mnist-8", "model.onnx"),
        ("mnist-mlp-bn", "mnist-mlp-bn", "model.onnx"),
        ("kws-m", "kws-m", "model.onnx"),
        ("hello_deepa", "openwakeword/hello_deepa", "model.onnx"),
        ("melspectrogram", "openwakeword/melspectrogram", "model.onnx"),
        ("embedding", "openwakeword/embedding", "model.onnx"),
        ("mobilenet-v2-128-0.5", "mobilenet-v2-128-0.5", "model.onnx"),
        ("ppocr-cls-mobile", "ppocr-cls-mobile", "model.onnx"),
        ("ultraface-rfb-320", "ultraface-rfb-320", "model.onnx"),
        ("squeezenet-1.0-fp16", "squeezenet-1.0-fp16", "model.onnx"),
        ("super-resolution-10", "super-resolution-10", "model.onnx"),
    };

    /// <summary>
    /// Quantized variants, next to their float row (<c>Base</c>). <c>Calibration</c> "images": ours is the Quantize=Int8
    /// build calibrated on ../shared/datasets/images (preprocessed as the model's test inputs), ORT runs the float model;
    /// "normal": the same, calibrated on 64 standard-normal feature vectors (kws-m); "dynamic": the Quantize=Dynamic build
    /// (no calibration; ORT runs the float model); "images" builds with the default PairSafeWeights="auto", "images-pairsafe"
    /// with PairSafeWeights="true", "images-quadsafe" with PairSafeWeights="quad" and "images-plain" with PairSafeWeights="false"; "images-wo:DB": "images" with
    /// MinOutputSqnrDb=DB (0: every layer the quantizer chose stays int8; see docs/quantization.md, "Weight-only layers"); null: the file is already quantized
    /// (QDQ), ours compiles it as it is and ORT runs the same file.
    /// </summary>
    public static readonly (string Name, string Folder, string File, string Base, string? Calibration)[] Quantized =
    {
        ("kws-m int8", "kws-m", "model.onnx", "kws-m", "normal"),
        ("kws-m dynamic", "kws-m", "model.onnx", "kws-m", "dynamic"),
        ("kws-m QDQ", "kws-m", "qdq.onnx", "kws-m", null),
        ("mobilenet-v2-128-0.5 int8", "mobilenet-v2-128-0.5", "model.onnx", "mobilenet-v2-128-0.5", "images"),
        ("ultraface-rfb-320 int8", "ultraface-rfb-320", "model.onnx", "ultraface-rfb-320", "images"),
        ("ppocr-cls-mobile int8", "ppocr-cls-mobile", "model.onnx", "ppocr-cls-mobile", "images"),
        ("mobilenet-v2-128-0.5 int8 pair-safe", "mobilenet-v2-128-0.5", "model.onnx", "mobilenet-v2-128-0.5", "images-pairsafe"),
        ("ultraface-rfb-320 int8 pair-safe", "ultraface-rfb-320", "model.onnx", "ultraface-rfb-320", "images-pairsafe"),
        ("mobilenet-v2-128-0.5 int8 quad-safe", "mobilenet-v2-128-0.5", "model.onnx", "mobilenet-v2-128-0.5", "images-quadsafe"),
        ("ultraface-rfb-320 int8 quad-safe", "ultraface-rfb-320", "model.onnx", "ultraface-rfb-320", "images-quadsafe"),
        ("ppocr-cls-mobile int8 all-int8", "ppocr-cls-mobile", "model.onnx", "ppocr-cls-mobile", "images-wo:0"),
        ("squeezenet-1.0-fp16 int8 all-int8", "squeezenet-1.0-fp16", "model.onnx", "squeezenet-1.0-fp16", "images-wo:0"),
        ("squeezenet-1.0-fp16 int8", "squeezenet-1.0-fp16", "model.onnx", "squeezenet-1.0-fp16", "images"),
        ("ppocr-cls-mobile int8 weight-only 25", "ppocr-cls-mobile", "model.onnx", "ppocr-cls-mobile", "images-wo:25"),
        ("ppocr-cls-mobile int8 weight-only 30", "ppocr-cls-mobile", "model.onnx", "ppocr-cls-mobile", "images-wo:30"),
        ("mobilenet-v2-128-0.5 int8 plain", "mobilenet-v2-128-0.5", "model.onnx", "mobilenet-v2-128-0.5", "images-plain"),
        ("ultraface-rfb-320 int8 plain", "ultraface-rfb-320", "model.onnx", "ultraface-rfb-320", "images-plain"),
    };

    /// <summary>Every row: the float models, then the quantized variants.</summary>
    public static IEnumerable<string> Names => All.Select(m => m.Name).Concat(Quantized.Select(m => m.Name));

    private readonly InferenceSession _session;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions;
    private readonly List<OrtValue> _ortValues = new();
    private readonly Array[] _ortOutputs;
    private readonly Action _ours;
    private readonly Array[] _ourOutputs;
    private readonly ModelInstance _instance;
    private readonly List<OrtInt8> _ortInt8 = new();

    /// <summary>ORT's run of our calibrated int8 graph, exported as ONNX (OnnxWriter), bound like the float session.</summary>
    private sealed record OrtInt8(string Label, InferenceSession Session, OrtIoBinding Binding, Array[] Outputs, double[] Steps);

    public string Name { get; }

    /// <summary>The ORT int8 runs of this row (empty unless it is a calibrated int8 variant): "s8 weights", "u8 weights".</summary>
    public IReadOnlyList<string> OrtInt8Labels => _ortInt8.Select(o => o.Label).ToList();

    private BenchModel(string name, string path, string setDir, string? calibration = null)
    {
        Name = name;
        var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(path, options);
        var inputs = TestData.Inputs(setDir);
        var names = _session.InputNames;
        if (names.Count != inputs.Length) throw new InvalidOperationException($"{names.Count} graph inputs but {inputs.Length} input files");

        // Pin every input to the shape of its test data (static dimensions are pinned to themselves).
        string shapes = string.Join(";", names.Select((n, i) => n + "=" + string.Join("x", inputs[i].Shape.Dims)));
        Graph? int8Graph = null;
        if (calibration is null)
        {
            var (assembly, _) = CompiledModels.CompileModel(path, shapes);
            _instance = assembly.Create();
        }
        else
        {
            (_instance, int8Graph) = CompileInt8(path, shapes, calibration);
        }
        _ours = _instance.Bind(inputs, out _ourOutputs);

        _runOptions = new RunOptions();
        _binding = _session.CreateIoBinding();
        for (int i = 0; i < names.Count; i++)
        {
            var value = Wrap(Clr(inputs[i]), inputs[i].Shape);
            _binding.BindInput(names[i], value);
        }
        var outNames = _session.OutputNames;
        _ortOutputs = new Array[outNames.Count];
        for (int i = 0; i < outNames.Count; i++)
        {
            var plan = _instance.Plan.Outputs[i];
            var shape = Shape.ParseCompact(plan.Shape);
            _ortOutputs[i] = Array.CreateInstance(ElementType(_session.OutputMetadata[outNames[i]].ElementDataType), shape.ElementCount);
            _binding.BindOutput(outNames[i], Wrap(_ortOutputs[i], shape));
        }
        if (int8Graph is not null)
        {
            var steps = OutputSteps(int8Graph);
            foreach (var (label, uint8Weights) in new[] { ("s8 weights", false), ("u8 weights", true) })
            {
                var session = new InferenceSession(OnnxWriter.Write(int8Graph, new OnnxExportOptions { UInt8Weights = uint8Weights }), options);
                var binding = session.CreateIoBinding();
                for (int i = 0; i < names.Count; i++) binding.BindInput(session.InputNames[i], Wrap(Clr(inputs[i]), inputs[i].Shape));
                var outs = new Array[session.OutputNames.Count];
                for (int i = 0; i < outs.Length; i++)
                {
                    var shape = Shape.ParseCompact(_instance.Plan.Outputs[i].Shape);
                    outs[i] = Array.CreateInstance(ElementType(session.OutputMetadata[session.OutputNames[i]].ElementDataType), shape.ElementCount);
                    binding.BindOutput(session.OutputNames[i], Wrap(outs[i], shape));
                }
                _ortInt8.Add(new OrtInt8(label, session, binding, outs, steps));
            }
        }
    }

    /// <summary>
    /// One output step of each graph output of an int8 graph: the scale of the DequantizeLinear behind it (through
    /// data-movement ops and a float Softmax, which moves no output by more than half its inputs' largest change);
    /// NaN where the output is computed otherwise (then only absolute differences are reported).
    /// </summary>
    private static double[] OutputSteps(Graph g)
    {
        var producers = g.Producers();
        var passThrough = new HashSet<string> { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose", "Softmax" };
        return g.Outputs.Select(o =>
        {
            if (!o.Type.ElementType.IsFloat()) return 1.0;
            string v = o.Name;
            while (producers.TryGetValue(v, out var p))
            {
                if (p.OpType == "DequantizeLinear") return g.Constants.TryGetValue(p.Inputs[1], out var s) ? s.ToDoubles().Max() : double.NaN;
                if (!passThrough.Contains(p.OpType)) return double.NaN;
                v = p.Inputs[0];
            }
            return double.NaN;
        }).ToArray();
    }

    public void RunOrtInt8(int k) => _ortInt8[k].Session.RunWithBinding(_runOptions, _ortInt8[k].Binding);

    /// <summary>
    /// Largest |ours − ORT int8| after one run of each, per output: in output steps where the output comes from a
    /// DequantizeLinear, else absolute (float layers after the last quantized one). E.g. "0 steps", "0.012 abs".
    /// </summary>
    public string CompareInt8(int k)
    {
        RunOurs(); RunOrtInt8(k);
        var o = _ortInt8[k];
        var ours = _instance.ToTensors(_ourOutputs);
        var parts = new List<string>();
        for (int i = 0; i < ours.Length; i++)
        {
            var (m, _, _) = TestData.Compare(FromClr(o.Outputs[i], ours[i].Shape), ours[i], double.PositiveInfinity);
            parts.Add(double.IsNaN(o.Steps[i])
                ? m.ToString("G3", System.Globalization.CultureInfo.InvariantCulture) + " abs"
                : (m / o.Steps[i]).ToString("G3", System.Globalization.CultureInfo.InvariantCulture) + " steps");
        }
        return string.Join(", ", parts);
    }

    /// <summary>
    /// The Quantize=Int8 build of a float model, calibrated on a temp folder that is deleted once the build has read it
    /// (or, for <paramref name="calibration"/> "dynamic", the Quantize=Dynamic build). The graph is the one ORT runs as the
    /// int8 rival; null for Dynamic (its epilogue op has no ONNX form).
    /// </summary>
    private static (ModelInstance Model, Graph? Graph) CompileInt8(string path, string shapes, string calibration)
    {
        if (calibration == "dynamic")
        {
            var d = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = path, ClassName = "DynamicModel", Namespace = "Bench", InputShapes = shapes, Quantize = QuantizeMode.Dynamic,
            });
            if (!d.Success) throw new InvalidOperationException("the dynamic build failed:\n" + string.Join("\n", d.Diagnostics));
            return (CompiledModels.Compile(new[] { PlanText.Read(d.PlanText!) }).Create(), null);
        }
        string folder = Path.GetFileName(Path.GetDirectoryName(path)!);
        var calib = calibration.StartsWith("images", StringComparison.Ordinal)
            ? CalibrationFolders.Images(folder)
            : CalibrationFolders.StandardNormal(new[] { 1, 1960 }, 64, seed: 20260301);
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = path, ClassName = "Int8Model", Namespace = "Bench", InputShapes = shapes,
                Quantize = QuantizeMode.Int8, Calibration = calib.Folder, PairSafeWeights = calibration switch
                {
                    "images-pairsafe" => PairSafeWeightsMode.Always,
                    "images-quadsafe" => PairSafeWeightsMode.Quad,
                    "images-plain" => PairSafeWeightsMode.Never,
                    _ => PairSafeWeightsMode.Auto,
                },
                MinOutputSqnrDb = calibration.StartsWith("images-wo:", StringComparison.Ordinal)
                    ? double.Parse(calibration.Substring("images-wo:".Length), System.Globalization.CultureInfo.InvariantCulture)
                    : new CompileOptions().MinOutputSqnrDb,
            });
            if (!r.Success) throw new InvalidOperationException("the int8 build failed:\n" + string.Join("\n", r.Diagnostics));
            if (r.QuantizationReport is null) throw new InvalidOperationException("the int8 build failed:\nQuantize=Int8 gave a float build (no quantization report)");
            return (CompiledModels.Compile(new[] { PlanText.Read(r.PlanText!) }).Create(), r.Graph!);
        }
        finally
        {
            try { Directory.Delete(calib.Folder, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Compiles and loads a model or quantized variant; null (with the reason) if it is missing or does not compile yet.</summary>
    public static BenchModel? TryLoad(string name, out string? skipReason)
    {
        var q = Quantized.FirstOrDefault(m => m.Name == name);
        var entry = q.Name is not null ? (q.Name, q.Folder, q.File) : All.First(m => m.Name == name);
        string dir = Path.Combine(SharedModels, entry.Folder);
        string path = Path.Combine(dir, entry.File);
        string setsDir = entry.File == "model.onnx" ? dir : Path.Combine(dir, Path.GetFileNameWithoutExtension(entry.File));
        string set = Path.Combine(setsDir, "test_data_set_0");
        skipReason = null;
        if (!File.Exists(path) || !Directory.Exists(set)) { skipReason = $"{path} or its test_data_set_0 is missing"; return null; }
        try { return new BenchModel(name, path, set, q.Name is not null ? q.Calibration : null); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or IOException)
        {
            var first = e.Message.Split('\n').Skip(1).FirstOrDefault(l => l.Trim().Length > 0) ?? e.Message;
            skipReason = "does not compile yet: " + first.Trim();
            return null;
        }
    }

    /// <summary>../shared/models beside the repository (or $QC_SHARED/models).</summary>
    public static string SharedModels
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("QC_SHARED");
            if (!string.IsNullOrEmpty(env)) return Path.Combine(env, "models");
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Q.Compiler.sln"))) dir = dir.Parent;
            if (dir is null) throw new InvalidOperationException("cannot find Q.Compiler.sln above " + AppContext.BaseDirectory);
            return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "models"));
        }
    }

    public void RunOurs() => _ours();

    public void RunOrt() => _session.RunWithBinding(_runOptions, _binding);

    /// <summary>Largest |ours − ORT| over all outputs after one run of each, and the range of ORT's outputs.</summary>
    public (double MaxAbs, double Range) Compare()
    {
        RunOurs(); RunOrt();
        double maxAbs = 0, range = 0;
        var ours = _instance.ToTensors(_ourOutputs);
        for (int i = 0; i < ours.Length; i++)
        {
            var theirs = FromClr(_ortOutputs[i], ours[i].Shape);
            var (m, r, _) = TestData.Compare(theirs, ours[i], double.PositiveInfinity);
            maxAbs = Math.Max(maxAbs, m); range = Math.Max(range, r);
        }
        return (maxAbs, range);
    }

    private static Array Clr(Tensor t) => t.ElementType == DataType.Float16
        ? t.As<ushort>().Select(b => new Float16(b)).ToArray()
        : t.Data;

    private static Tensor FromClr(Array a, Shape shape) => a switch
    {
        Float16[] h => new Tensor(DataType.Float16, shape, h.Select(v => v.value).ToArray()),
        float[] f => new Tensor(DataType.Float, shape, f),
        long[] l => new Tensor(DataType.Int64, shape, l),
        int[] i => new Tensor(DataType.Int32, shape, i),
        _ => throw new NotSupportedException(a.GetType().Name),
    };

    private OrtValue Wrap(Array data, Shape shape)
    {
        long[] dims = shape.Dims.Select(d => (long)d).ToArray();
        OrtValue v = data switch
        {
            float[] f => OrtValue.CreateTensorValueFromMemory(f, dims),
            Float16[] h => OrtValue.CreateTensorValueFromMemory(h, dims),
            long[] l => OrtValue.CreateTensorValueFromMemory(l, dims),
            int[] i => OrtValue.CreateTensorValueFromMemory(i, dims),
            byte[] b => OrtValue.CreateTensorValueFromMemory(b, dims),
            sbyte[] s => OrtValue.CreateTensorValueFromMemory(s, dims),
            bool[] b => OrtValue.CreateTensorValueFromMemory(b, dims),
            _ => throw new NotSupportedException(data.GetType().Name),
        };
        _ortValues.Add(v);
        return v;
    }

    private static Type ElementType(TensorElementType t) => t switch
    {
        TensorElementType.Float => typeof(float),
        TensorElementType.Float16 => typeof(Float16),
        TensorElementType.Int64 => typeof(long),
        TensorElementType.Int32 => typeof(int),
        _ => throw new NotSupportedException(t.ToString()),
    };

    public void Dispose()
    {
        _binding.Dispose();
        foreach (var o in _ortInt8) { o.Binding.Dispose(); o.Session.Dispose(); }
        foreach (var v in _ortValues) v.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}
