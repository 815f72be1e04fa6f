using Google.Protobuf;
using Onnx;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// Builds and edits ONNX models with the generated protobuf classes, for tests that need a precise (often broken) model.
/// </summary>
internal static class OnnxBuilder
{
    /// <summary>A model around one graph, with the default domain at <paramref name="opset"/>.</summary>
    public static ModelProto Model(GraphProto graph, long opset = 13, long irVersion = 8) => new()
    {
        IrVersion = irVersion,
        ProducerName = "Q.Compiler.Tests",
        Graph = graph,
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = opset } },
    };

    /// <summary>x f32[1,4] → Relu → y f32[1,4]: the smallest model that compiles.</summary>
    public static ModelProto Relu(params object?[] inputDims)
    {
        var dims = inputDims.Length == 0 ? new object?[] { 1L, 4L } : inputDims;
        var g = new GraphProto { Name = "relu" };
        g.Input.Add(Value("x", dims));
        g.Output.Add(Value("y", dims));
        g.Node.Add(Node("Relu", "relu0", new[] { "x" }, new[] { "y" }));
        return Model(g);
    }

    /// <summary>
    /// A graph input or output of type f32 (or <paramref name="elemType"/>). A dim is a long (fixed), a string
    /// (symbolic dim_param) or null (unknown). <paramref name="dims"/> null means no shape at all.
    /// </summary>
    public static ValueInfoProto Value(string name, object?[]? dims, TensorProto.Types.DataType elemType = TensorProto.Types.DataType.Float)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = (int)elemType };
        if (dims is not null)
        {
            tt.Shape = new TensorShapeProto();
            foreach (var d in dims)
            {
                var dim = new TensorShapeProto.Types.Dimension();
                switch (d)
                {
                    case null: break;
                    case string s: dim.DimParam = s; break;
                    default: dim.DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture); break;
                }
                tt.Shape.Dim.Add(dim);
            }
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }

    public static NodeProto Node(string op, string name, string[] inputs, string[] outputs, string domain = "") =>
        new() { OpType = op, Name = name, Domain = domain, Input = { inputs }, Output = { outputs } };

    /// <summary>A float initializer stored as raw_data.</summary>
    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, Dims = { dims }, RawData = ByteString.CopyFrom(bytes) };
    }

    public static ModelProto Load(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

    public static string Save(ModelProto model, string directory, string fileName = "model.onnx")
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    /// <summary>
    /// Moves every initializer's data into one external file beside the model (data_location = EXTERNAL, with
    /// location, offset and length), as onnx.save_model(..., save_as_external_data=True) does.
    /// </summary>
    public static void MoveInitializersToExternal(ModelProto model, string directory, string dataFile)
    {
        Directory.CreateDirectory(directory);
        using var f = File.Create(Path.Combine(directory, dataFile));
        foreach (var t in model.Graph.Initializer)
        {
            byte[] raw = RawBytes(t);
            while (f.Length % 64 != 0) f.WriteByte(0);
            long offset = f.Length;
            f.Write(raw);
            t.RawData = ByteString.Empty;
            t.FloatData.Clear(); t.Int32Data.Clear(); t.Int64Data.Clear(); t.DoubleData.Clear(); t.Uint64Data.Clear();
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataFile });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = raw.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
    }

    private static byte[] RawBytes(TensorProto t)
    {
        if (!t.RawData.IsEmpty) return t.RawData.ToByteArray();
        if (t.DataType == (int)TensorProto.Types.DataType.Float) { var b = new byte[t.FloatData.Count * 4]; Buffer.BlockCopy(t.FloatData.ToArray(), 0, b, 0, b.Length); return b; }
        if (t.DataType == (int)TensorProto.Types.DataType.Int64) { var b = new byte[t.Int64Data.Count * 8]; Buffer.BlockCopy(t.Int64Data.ToArray(), 0, b, 0, b.Length); return b; }
        throw new NotSupportedException($"initializer {t.Name}: data type {t.DataType} without raw_data");
    }
}

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qc-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
