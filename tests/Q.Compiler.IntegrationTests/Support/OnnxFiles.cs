using Google.Protobuf;
using Onnx;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>Reads test tensors and rewrites models, with classes generated from the product's own onnx.proto3.</summary>
public static class OnnxFiles
{
    /// <summary>The values of a float TensorProto file (raw_data or float_data).</summary>
    public static float[] ReadFloats(string path)
    {
        var t = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        if (t.DataType != (int)TensorProto.Types.DataType.Float) throw new InvalidDataException($"{path} is not a float tensor");
        if (t.FloatData.Count > 0) return t.FloatData.ToArray();
        var bytes = t.RawData.Span;
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToSingle(bytes.Slice(4 * i, 4));
        return values;
    }

    /// <summary>
    /// Copies the model at <paramref name="source"/> to <paramref name="target"/> with its largest initializer moved to
    /// the external data file <c>target + ".data"</c> (ONNX's data_location = EXTERNAL), and returns that file's path.
    /// </summary>
    public static string WriteWithExternalData(string source, string target)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        var largest = model.Graph.Initializer.OrderByDescending(t => DataBytes(t).Length).First();
        byte[] data = DataBytes(largest);
        string dataPath = target + ".data";
        largest.RawData = ByteString.Empty;
        largest.FloatData.Clear();
        largest.DataLocation = TensorProto.Types.DataLocation.External;
        largest.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(dataPath) });
        largest.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "0" });
        largest.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        File.WriteAllBytes(dataPath, data);
        File.WriteAllBytes(target, model.ToByteArray());
        return dataPath;
    }

    private static byte[] DataBytes(TensorProto t)
    {
        if (!t.RawData.IsEmpty) return t.RawData.ToByteArray();
        return t.FloatData.SelectMany(BitConverter.GetBytes).ToArray();
    }
}
