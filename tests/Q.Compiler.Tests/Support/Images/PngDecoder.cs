using System.Buffers.Binary;
using System.IO.Compression;

namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// A small PNG decoder for test data (PNG spec, 2nd edition): 8-bit grayscale, gray+alpha, RGB, RGBA and palette
/// images, any of the five row filters; zlib through <see cref="ZLibStream"/>. Alpha is dropped (not composited), as
/// PIL's convert("RGB") and OpenCV's imread do. Interlaced (Adam7) and 1/2/4/16-bit images are refused.
/// The CRCs are not checked: the files come from a trusted folder, and a corrupt stream fails in zlib or the filters.
/// </summary>
public static class PngDecoder
{
    private static readonly byte[] Signature = { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };

    public static bool IsPng(ReadOnlySpan<byte> file) => file.Length >= 8 && file[..8].SequenceEqual(Signature);

    public static RgbImage Decode(byte[] file)
    {
        if (!IsPng(file)) throw new InvalidDataException("not a PNG file");
        int width = 0, height = 0, colorType = -1;
        byte[]? palette = null;
        var idat = new MemoryStream();
        int pos = 8;
        bool end = false;
        while (!end)
        {
            if (pos + 12 > file.Length) throw new InvalidDataException("PNG ends before IEND");
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(file, pos + 4, 4);
            if (length < 0 || pos + 12L + length > file.Length) throw new InvalidDataException($"PNG chunk {type} overruns the file");
            var data = file.AsSpan(pos + 8, length);
            switch (type)
            {
                case "IHDR":
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    int bitDepth = data[8];
                    colorType = data[9];
                    if (data[10] != 0 || data[11] != 0) throw new InvalidDataException("unknown PNG compression or filter method");
                    if (data[12] != 0) throw new NotSupportedException("interlaced (Adam7) PNG is not supported");
                    if (bitDepth != 8) throw new NotSupportedException($"PNG bit depth {bitDepth} is not supported (8 only)");
                    if (colorType is not (0 or 2 or 3 or 4 or 6)) throw new InvalidDataException($"PNG colour type {colorType}");
                    if (width <= 0 || height <= 0 || (long)width * height > 1 << 26) throw new InvalidDataException($"PNG size {width}×{height}");
                    break;
                case "PLTE": palette = data.ToArray(); break;
                case "IDAT": idat.Write(data); break;
                case "IEND": end = true; break;
            }
            pos += 12 + length;
        }
        if (colorType < 0) throw new InvalidDataException("PNG has no IHDR");
        int channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        idat.Position = 0;
        using (var z = new ZLibStream(idat, CompressionMode.Decompress))
        {
            int read = 0;
            while (read < raw.Length)
            {
                int n = z.Read(raw, read, raw.Length - read);
                if (n == 0) throw new InvalidDataException($"PNG image data ends after {read} of {raw.Length} bytes");
                read += n;
            }
        }
        var pixels = Unfilter(raw, height, stride, channels);
        return new RgbImage(width, height, ToRgb(pixels, width * height, colorType, palette));
    }

    /// <summary>Undoes the per-row filters (None, Sub, Up, Average, Paeth); bpp = bytes per pixel (1 for 8-bit).</summary>
    private static byte[] Unfilter(byte[] raw, int height, int stride, int bpp)
    {
        var outp = new byte[stride * height];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            var line = raw.AsSpan(y * (stride + 1) + 1, stride);
            var cur = outp.AsSpan(y * stride, stride);
            var prev = y > 0 ? outp.AsSpan((y - 1) * stride, stride) : new byte[stride];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                int predictor = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) >> 1,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG row {y} has filter type {filter}"),
                };
                cur[i] = (byte)(line[i] + predictor);
            }
        }
        return outp;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static byte[] ToRgb(byte[] src, int count, int colorType, byte[]? palette)
    {
        var rgb = new byte[count * 3];
        for (int i = 0; i < count; i++)
        {
            switch (colorType)
            {
                case 0: rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = src[i]; break;
                case 4: rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = src[i * 2]; break;
                case 2: rgb[i * 3] = src[i * 3]; rgb[i * 3 + 1] = src[i * 3 + 1]; rgb[i * 3 + 2] = src[i * 3 + 2]; break;
                case 6: rgb[i * 3] = src[i * 4]; rgb[i * 3 + 1] = src[i * 4 + 1]; rgb[i * 3 + 2] = src[i * 4 + 2]; break;
                case 3:
                    if (palette is null) throw new InvalidDataException("palette PNG without PLTE");
                    int k = src[i] * 3;
                    if (k + 2 >= palette.Length) throw new InvalidDataException($"palette index {src[i]} beyond the {palette.Length / 3} entries");
                    rgb[i * 3] = palette[k]; rgb[i * 3 + 1] = palette[k + 1]; rgb[i * 3 + 2] = palette[k + 2];
                    break;
            }
        }
        return rgb;
    }
}
