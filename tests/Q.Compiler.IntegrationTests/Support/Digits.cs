using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using Onnx;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>
/// MNIST digits from the sample's own data (samples/Mnist/data, gzip IDX, so no ../shared needed), and writers for
/// the two calibration file formats: NumPy .npy and ONNX TensorProto .pb.
/// </summary>
public static class Digits
{
    public const int Rows = 28, Cols = 28, Pixels = Rows * Cols;

    private static readonly Lazy<byte[]> All = new(() => ReadIdxImages(Path.Combine(Repository.Root, "samples", "Mnist", "data", "images-idx3-ubyte.gz")));

    /// <summary>The raw 8-bit pixels of digit <paramref name="index"/> (white on black, 28 rows of 28).</summary>
    public static byte[] Raw(int index) => All.Value.AsSpan(index * Pixels, Pixels).ToArray();

    /// <summary>The digit as mnist-8 takes it: float32 grey levels 0..255.</summary>
    public static float[] AsFloats(int index) => Raw(index).Select(b => (float)b).ToArray();

    /// <summary>Writes a float32 .npy (format 1.0, little-endian, C order) of the given shape.</summary>
    public static void WriteNpy(string path, float[] values, params int[] shape)
    {
        string dims = shape.Length == 1 ? shape[0] + "," : string.Join(", ", shape);
        string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
        // The magic, version and length (10 bytes), then the header padded with spaces and ended by \n to a multiple of 64.
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 10 - 1) + "\n";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var f = File.Create(path);
        f.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        f.Write(BitConverter.GetBytes((ushort)header.Length));
        f.Write(Encoding.ASCII.GetBytes(header));
        f.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>Writes one float TensorProto (raw_data) of the given shape, as in ONNX test data sets.</summary>
    public static void WritePb(string path, string name, float[] values, params long[] shape)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(shape);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, t.ToByteArray());
    }

    private static byte[] ReadIdxImages(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        byte[] all = buffer.ToArray();
        if (BinaryPrimitives.ReadInt32BigEndian(all) != 0x803) throw new InvalidDataException(path + " is not an IDX image file");
        return all[16..];
    }
}
