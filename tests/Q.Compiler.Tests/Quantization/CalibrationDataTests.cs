using System.Text;
using Google.Protobuf;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>The calibration folder reader: .npy (v1/v2/v3) and TensorProto files, layouts, input mapping, and its errors.</summary>
public sealed class CalibrationDataTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qc-calib-" + Guid.NewGuid().ToString("N"));

    public CalibrationDataTests() => Directory.CreateDirectory(_dir);

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static readonly ValueInfo Image = new("Input3", new TensorType(DataType.Float, new Shape(1, 1, 2, 3)));

    /// <summary>A .npy file as numpy.save writes it: magic, version, header length, a dict padded with spaces to 64 bytes, data.</summary>
    internal static byte[] Npy(string descr, int[] shape, byte[] data, int major = 1, bool fortran = false, string? headerOverride = null)
    {
        string dims = shape.Length == 1 ? shape[0] + "," : string.Join(", ", shape);
        string dict = headerOverride ?? $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': ({dims}), }}";
        int prefix = major == 1 ? 10 : 12;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - prefix - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 });
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)header.Length));
        else ms.Write(BitConverter.GetBytes((uint)header.Length));
        ms.Write((major == 3 ? Encoding.UTF8 : Encoding.ASCII).GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    private static float[] Ramp(int n, float start) => Enumerable.Range(0, n).Select(i => start + i).ToArray();

    private void WritePb(string relative, string name, int[] dims, float[] values)
    {
        var t = new global::Onnx.TensorProto { Name = name, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(Floats(values)) };
        t.Dims.AddRange(dims.Select(d => (long)d));
        string p = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, t.ToByteArray());
    }

    private void Write(string relative, byte[] bytes)
    {
        string p = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, bytes);
    }

    private QcException Fails(IReadOnlyList<ValueInfo> inputs, string id)
    {
        var e = Assert.Throws<QcException>(() => CalibrationDataSet.Open(_dir, inputs).ToList());
        Assert.Equal(id, e.Diagnostic.Id);
        return e;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Npy_versions_1_2_3_read_the_same_array(int major)
    {
        var bytes = Npy("<f4", new[] { 1, 1, 2, 3 }, Floats(Ramp(6, 0.5f)), major);
        var t = NpyReader.Parse(bytes, "x.npy");
        Assert.Equal(new Shape(1, 1, 2, 3), t.Shape);
        Assert.Equal(Ramp(6, 0.5f), t.As<float>());
    }

    [Fact]
    public void Npy_element_types_and_shapes()
    {
        Assert.Equal(new long[] { -1, 2 }, NpyReader.Parse(Npy("<i8", new[] { 2 }, BitConverter.GetBytes(-1L).Concat(BitConverter.GetBytes(2L)).ToArray()), "a").As<long>());
        Assert.Equal(new byte[] { 7, 255 }, NpyReader.Parse(Npy("|u1", new[] { 2 }, new byte[] { 7, 255 }), "a").As<byte>());
        Assert.Equal(new sbyte[] { -7 }, NpyReader.Parse(Npy("|i1", new[] { 1 }, new byte[] { 0xF9 }), "a").As<sbyte>());
        Assert.Equal(new[] { 1.5 }, NpyReader.Parse(Npy("<f8", new[] { 1 }, BitConverter.GetBytes(1.5)), "a").As<double>());
        var scalar = NpyReader.Parse(Npy("<f4", Array.Empty<int>(), Floats(3f), headerOverride: "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"), "a");
        Assert.Equal(0, scalar.Shape.Rank);
        // Keys in another order and double quotes are still a valid dict.
        var reordered = NpyReader.Parse(Npy("", new[] { 2 }, Floats(1, 2), headerOverride: "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}"), "a");
        Assert.Equal(new[] { 1f, 2f }, reordered.As<float>());
    }

    [Theory]
    [InlineData("fortran", "Fortran")]
    [InlineData("bigendian", "big-endian")]
    [InlineData("truncated", "truncated")]
    [InlineData("magic", "magic")]
    [InlineData("complex", "not supported")]
    [InlineData("header", "malformed header")]
    [InlineData("version", "version")]
    public void Npy_problems_are_QC3003_with_a_reason(string kind, string reason)
    {
        byte[] bytes = kind switch
        {
            "fortran" => Npy("<f4", new[] { 2, 3 }, Floats(Ramp(6, 0)), fortran: true),
            "bigendian" => Npy(">f4", new[] { 2 }, Floats(1, 2)),
            "truncated" => Npy("<f4", new[] { 2, 3 }, Floats(1, 2)),
            "magic" => Encoding.ASCII.GetBytes("not a numpy file at all"),
            "complex" => Npy("<c8", new[] { 1 }, new byte[8]),
            "header" => Npy("", new[] { 1 }, Floats(1), headerOverride: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }"),
            _ => Npy("<f4", new[] { 1 }, Floats(1), major: 9),
        };
        var e = Assert.Throws<QcException>(() => NpyReader.Parse(bytes, "bad.npy"));
        Assert.Equal(DiagnosticIds.CalibrationUnreadable, e.Diagnostic.Id);
        Assert.Contains(reason, e.Diagnostic.Message);
        Assert.Contains("bad.npy", e.Diagnostic.Message);
    }

    [Fact]
    public void Test_data_set_folders_are_samples_in_numeric_order()
    {
        foreach (int i in new[] { 10, 2, 1 })
            WritePb($"test_data_set_{i}/input_0.pb", "Input3", new[] { 1, 1, 2, 3 }, Ramp(6, i * 100));
        WritePb("test_data_set_1/output_0.pb", "Plus214_Output_0", new[] { 1, 10 }, Ramp(10, 0)); // outputs are ignored
        var set = CalibrationDataSet.Open(_dir, new[] { Image });
        Assert.Equal(3, set.Count);
        Assert.Equal(new[] { 100f, 200f, 1000f }, set.Select(s => s[0].As<float>()[0]).ToArray());
        Assert.Equal(3, set.Files.Count);
    }

    [Fact]
    public void A_flat_folder_of_stacked_npy_files_for_a_single_input_model()
    {
        // [S, 1, 1, 2, 3] (an extra leading sample axis) and [S·1, 1, 2, 3] (stacked along the batch axis).
        Write("digits_a.npy", Npy("<f4", new[] { 2, 1, 1, 2, 3 }, Floats(Ramp(12, 0))));
        Write("digits_b.npy", Npy("<f4", new[] { 3, 1, 2, 3 }, Floats(Ramp(18, 100))));
        var set = CalibrationDataSet.Open(_dir, new[] { Image });
        Assert.Equal(5, set.Count);
        var firsts = set.Select(s => s[0].As<float>()[0]).ToArray();
        Assert.Equal(new[] { 0f, 6f, 100f, 106f, 112f }, firsts);
        Assert.All(set, s => Assert.Equal(Image.Type, s[0].Type));
    }

    [Fact]
    public void Multi_input_models_map_files_by_position_or_name()
    {
        var a = new ValueInfo("audio:0", new TensorType(DataType.Float, new Shape(1, 4)));
        var b = new ValueInfo("state", new TensorType(DataType.Float, new Shape(2)));
        WritePb("test_data_set_0/input_1.pb", "whatever", new[] { 2 }, Ramp(2, 7));
        WritePb("test_data_set_0/first.pb", "audio:0", new[] { 1, 4 }, Ramp(4, 1));      // by TensorProto name
        Write("test_data_set_1/audio_0.npy", Npy("<f4", new[] { 1, 4 }, Floats(Ramp(4, 9))));   // by file name (':' → '_')
        Write("test_data_set_1/state.npy", Npy("<f4", new[] { 2 }, Floats(Ramp(2, 3))));
        var samples = CalibrationDataSet.Open(_dir, new[] { a, b }).ToList();
        Assert.Equal(2, samples.Count);
        Assert.Equal(new[] { 1f, 2, 3, 4 }, samples[0][0].As<float>());
        Assert.Equal(new[] { 7f, 8 }, samples[0][1].As<float>());
        Assert.Equal(new[] { 9f, 10, 11, 12 }, samples[1][0].As<float>());
        Assert.Equal(new[] { 3f, 4 }, samples[1][1].As<float>());
    }

    [Fact]
    public void Empty_or_missing_folders_are_QC3001()
    {
        Fails(new[] { Image }, DiagnosticIds.CalibrationEmpty);
        File.WriteAllText(Path.Combine(_dir, "README.txt"), "no data here");
        Fails(new[] { Image }, DiagnosticIds.CalibrationEmpty);
        Assert.Equal(DiagnosticIds.CalibrationEmpty,
            Assert.Throws<QcException>(() => CalibrationDataSet.Open(Path.Combine(_dir, "nope"), new[] { Image })).Diagnostic.Id);
    }

    [Fact]
    public void Wrong_shape_or_type_is_QC3002_naming_file_and_input()
    {
        Write("x.npy", Npy("<f4", new[] { 1, 1, 3, 2 }, Floats(Ramp(6, 0))));
        var e = Fails(new[] { Image }, DiagnosticIds.CalibrationMismatch);
        Assert.Contains("x.npy", e.Diagnostic.Message);
        Assert.Contains("Input3", e.Diagnostic.Message);
        File.Delete(Path.Combine(_dir, "x.npy"));
        Write("y.npy", Npy("<f8", new[] { 1, 1, 2, 3 }, new byte[48]));
        e = Fails(new[] { Image }, DiagnosticIds.CalibrationMismatch);
        Assert.Contains("astype", e.Diagnostic.Message);
    }

    [Fact]
    public void Unequal_sample_counts_between_inputs_are_QC3002()
    {
        var a = new ValueInfo("a", new TensorType(DataType.Float, new Shape(1, 2)));
        var b = new ValueInfo("b", new TensorType(DataType.Float, new Shape(1, 2)));
        Write("input_0.npy", Npy("<f4", new[] { 2, 1, 2 }, Floats(Ramp(4, 0))));
        Write("input_1.npy", Npy("<f4", new[] { 3, 1, 2 }, Floats(Ramp(6, 0))));
        Fails(new[] { a, b }, DiagnosticIds.CalibrationMismatch);
    }

    [Fact]
    public void Corrupt_protobuf_is_QC3003()
    {
        Write("test_data_set_0/input_0.pb", new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2 });
        var e = Fails(new[] { Image }, DiagnosticIds.CalibrationUnreadable);
        Assert.Contains("input_0.pb", e.Diagnostic.Message);
    }

    [Fact]
    public void Unmatched_files_and_missing_inputs_are_QC3004()
    {
        var a = new ValueInfo("a", new TensorType(DataType.Float, new Shape(2)));
        var b = new ValueInfo("b", new TensorType(DataType.Float, new Shape(2)));
        Write("mystery.npy", Npy("<f4", new[] { 2 }, Floats(1, 2)));
        var e = Fails(new[] { a, b }, DiagnosticIds.CalibrationInputMapping);
        Assert.Contains("input_N", e.Diagnostic.Message);
        File.Delete(Path.Combine(_dir, "mystery.npy"));
        Write("input_0.npy", Npy("<f4", new[] { 2 }, Floats(1, 2)));
        e = Fails(new[] { a, b }, DiagnosticIds.CalibrationInputMapping);
        Assert.Contains("'b'", e.Diagnostic.Message);
        Write("input_5.npy", Npy("<f4", new[] { 2 }, Floats(1, 2)));
        Fails(new[] { a, b }, DiagnosticIds.CalibrationInputMapping);
    }
}
