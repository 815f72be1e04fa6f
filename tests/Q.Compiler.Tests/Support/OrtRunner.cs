using Microsoft.ML.OnnxRuntime;
using Q.Compiler.Ir;
using Tensor = Q.Compiler.Ir.Tensor;

namespace Q.Compiler.Tests.Support;

/// <summary>An ONNX Runtime session over model bytes that takes and returns our <see cref="Tensor"/>s (one thread).</summary>
public sealed class OrtRunner : IDisposable
{
    private readonly InferenceSession _session;

    public OrtRunner(byte[] model, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = level,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(model, options);
    }

    public IReadOnlyList<string> InputNames => _session.InputNames;

    /// <summary>Runs the model on inputs given in the order of its graph inputs; outputs in the order of its graph outputs.</summary>
    public Tensor[] Run(IReadOnlyList<Tensor> inputs)
    {
        var names = _session.InputNames;
        if (names.Count != inputs.Count) throw new ArgumentException($"{names.Count} inputs expected, {inputs.Count} given");
        var values = inputs.Select(Wrap).ToArray();
        try
        {
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, names, values, _session.OutputNames);
            return results.Select(Unwrap).ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static OrtValue Wrap(Tensor t)
    {
        long[] dims = t.Shape.Dims.Select(d => (long)d).ToArray();
        return t.Data switch
        {
            float[] f => OrtValue.CreateTensorValueFromMemory((float[])f.Clone(), dims),
            byte[] b => OrtValue.CreateTensorValueFromMemory((byte[])b.Clone(), dims),
            sbyte[] s => OrtValue.CreateTensorValueFromMemory((sbyte[])s.Clone(), dims),
            long[] l => OrtValue.CreateTensorValueFromMemory((long[])l.Clone(), dims),
            int[] i => OrtValue.CreateTensorValueFromMemory((int[])i.Clone(), dims),
            double[] d => OrtValue.CreateTensorValueFromMemory((double[])d.Clone(), dims),
            ushort[] h when t.ElementType == DataType.Float16 =>
                OrtValue.CreateTensorValueFromMemory(h.Select(x => new Microsoft.ML.OnnxRuntime.Float16(x)).ToArray(), dims),
            _ => throw new NotSupportedException("no ORT input for " + t.ElementType),
        };
    }

    private static Tensor Unwrap(OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        var shape = new Shape(info.Shape.Select(d => (int)d).ToArray());
        return info.ElementDataType switch
        {
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float => new Tensor(DataType.Float, shape, v.GetTensorDataAsSpan<float>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8 => new Tensor(DataType.UInt8, shape, v.GetTensorDataAsSpan<byte>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int8 => new Tensor(DataType.Int8, shape, v.GetTensorDataAsSpan<sbyte>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 => new Tensor(DataType.Int64, shape, v.GetTensorDataAsSpan<long>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int32 => new Tensor(DataType.Int32, shape, v.GetTensorDataAsSpan<int>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Double => new Tensor(DataType.Double, shape, v.GetTensorDataAsSpan<double>().ToArray()),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16 =>
                new Tensor(DataType.Float16, shape, v.GetTensorDataAsSpan<Microsoft.ML.OnnxRuntime.Float16>().ToArray().Select(h => h.value).ToArray()),
            var t => throw new NotSupportedException("no conversion of ORT output type " + t),
        };
    }

    public void Dispose() => _session.Dispose();
}
