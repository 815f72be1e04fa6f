using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Q.Compiler.Tests.Support.Images;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>The test-support PNG decoder on small PNGs written here: every colour type it accepts, every row filter, and what it refuses.</summary>
public sealed class PngDecoderTests
{
    /// <summary>A PNG with the given IHDR fields whose row y uses filter (y mod 5), so one image exercises all five.</summary>
    private static byte[] Png(int width, int height, int colorType, byte[] pixels, int channels, byte[]? palette = null, int interlace = 0, int bitDepth = 8)
    {
        int stride = width * channels;
        var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            int filter = y % 5;
            raw.WriteByte((byte)filter);
            for (int i = 0; i < stride; i++)
            {
                int x = pixels[y * stride + i];
                int a = i >= channels ? pixels[y * stride + i - channels] : 0;
                int b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
                int c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0;
                int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                int predictor = filter switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2, _ => pa <= pb && pa <= pc ? a : pb <= pc ? b : c };
                raw.WriteByte((byte)(x - predictor));
            }
        }
        var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) raw.WriteTo(zs);
        var idat = z.ToArray();

        var file = new MemoryStream();
        file.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth; ihdr[9] = (byte)colorType; ihdr[12] = (byte)interlace;
        Chunk(file, "IHDR", ihdr);
        if (palette is not null) Chunk(file, "PLTE", palette);
        // Split the data over two IDAT chunks, as encoders may.
        Chunk(file, "IDAT", idat[..(idat.Length / 2)]);
        Chunk(file, "IDAT", idat[(idat.Length / 2)..]);
        Chunk(file, "IEND", Array.Empty<byte>());
        return file.ToArray();
    }

    /// <summary>Writes a chunk; the decoder does not check CRCs, so they are left 0.</summary>
    private static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len); s.Write(Encoding.ASCII.GetBytes(type)); s.Write(data); s.Write(new byte[4]);
    }

    /// <summary>Deterministic varied bytes (a simple LCG), so the filters see real differences.</summary>
    private static byte[] Noise(int n, int seed)
    {
        var b = new byte[n];
        uint s = (uint)seed;
        for (int i = 0; i < n; i++) { s = s * 1664525 + 1013904223; b[i] = (byte)(s >> 24); }
        return b;
    }

    [Theory]
    [InlineData(2, 3)]
    [InlineData(6, 4)]
    [InlineData(0, 1)]
    [InlineData(4, 2)]
    public void Decodes_every_filter_for_each_colour_type(int colorType, int channels)
    {
        const int w = 7, h = 11;
        var src = Noise(w * h * channels, colorType + 1);
        var img = PngDecoder.Decode(Png(w, h, colorType, src, channels));
        Assert.Equal(w, img.Width); Assert.Equal(h, img.Height);
        for (int i = 0; i < w * h; i++)
            for (int c = 0; c < 3; c++)
            {
                // Gray replicates into R, G, B; alpha is dropped.
                int expected = channels >= 3 ? src[i * channels + c] : src[i * channels];
                Assert.Equal(expected, img.Pixels[i * 3 + c]);
            }
    }

    [Fact]
    public void Decodes_palette_images()
    {
        const int w = 5, h = 6;
        var palette = Noise(3 * 16, 99);
        var indices = Noise(w * h, 7).Select(b => (byte)(b % 16)).ToArray();
        var img = PngDecoder.Decode(Png(w, h, 3, indices, 1, palette));
        for (int i = 0; i < w * h; i++)
            for (int c = 0; c < 3; c++) Assert.Equal(palette[indices[i] * 3 + c], img.Pixels[i * 3 + c]);
    }

    [Fact]
    public void Refuses_interlaced_and_other_bit_depths_and_truncated_data()
    {
        var px = Noise(4 * 4 * 3, 1);
        Assert.Contains("interlaced", Assert.Throws<NotSupportedException>(() => PngDecoder.Decode(Png(4, 4, 2, px, 3, interlace: 1))).Message);
        Assert.Contains("bit depth 16", Assert.Throws<NotSupportedException>(() => PngDecoder.Decode(Png(4, 4, 2, px, 3, bitDepth: 16))).Message);
        var good = Png(4, 4, 2, px, 3);
        Assert.ThrowsAny<Exception>(() => PngDecoder.Decode(good[..(good.Length - 30)]));
        Assert.Throws<InvalidDataException>(() => PngDecoder.Decode(new byte[] { 1, 2, 3 }));
    }
}
