namespace Q.Compiler.Tests.Support.Images;

/// <summary>An 8-bit RGB image, pixels interleaved row-major (R, G, B, R, G, B, …).</summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"{width}×{height}");
        if (pixels.Length != width * height * 3) throw new ArgumentException($"{pixels.Length} bytes for {width}×{height} RGB", nameof(pixels));
        Width = width; Height = height; Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public byte this[int x, int y, int channel] => Pixels[(y * Width + x) * 3 + channel];

    /// <summary>Decodes a PNG or baseline JPEG file (by its signature); other formats throw <see cref="NotSupportedException"/>.</summary>
    public static RgbImage Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (PngDecoder.IsPng(bytes)) return PngDecoder.Decode(bytes);
        if (JpegDecoder.IsJpeg(bytes)) return JpegDecoder.Decode(bytes);
        throw new NotSupportedException($"{Path.GetFileName(path)}: neither PNG nor JPEG");
    }

    /// <summary>The rectangle [x, x+w) × [y, y+h).</summary>
    public RgbImage Crop(int x, int y, int w, int h)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Width || y + h > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {x},{y},{w},{h} of {Width}×{Height}");
        var p = new byte[w * h * 3];
        for (int r = 0; r < h; r++) Array.Copy(Pixels, ((y + r) * Width + x) * 3, p, r * w * 3, w * 3);
        return new RgbImage(w, h, p);
    }

    /// <summary>The largest centred square (or <paramref name="w"/>×<paramref name="h"/> rectangle) of the image.</summary>
    public RgbImage CenterCrop(int w, int h) => Crop((Width - w) / 2, (Height - h) / 2, w, h);

    /// <summary>Turned by 180° (pixel order reversed).</summary>
    public RgbImage Rotate180()
    {
        var p = new byte[Pixels.Length];
        int n = Width * Height;
        for (int i = 0; i < n; i++)
        {
            int j = n - 1 - i;
            p[j * 3] = Pixels[i * 3]; p[j * 3 + 1] = Pixels[i * 3 + 1]; p[j * 3 + 2] = Pixels[i * 3 + 2];
        }
        return new RgbImage(Width, Height, p);
    }
}
