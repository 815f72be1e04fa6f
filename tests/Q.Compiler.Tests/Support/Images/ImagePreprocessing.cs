using Q.Compiler.Ir;

namespace Q.Compiler.Tests.Support.Images;

/// <summary>How an image is fitted into the model's input frame.</summary>
public enum ImageFit
{
    /// <summary>Resized to the frame, aspect ratio not kept.</summary>
    Stretch,
    /// <summary>Resized to the frame's height keeping the aspect ratio (width at most the frame's, rounded up), placed at the left; the rest of the frame is 0 after normalization (PaddleOCR).</summary>
    PadRight,
}

/// <summary>Which resampler (see <see cref="ImageResize"/>).</summary>
public enum ImageResampler
{
    /// <summary>PIL BILINEAR (triangle filter widened when shrinking).</summary>
    Antialias,
    /// <summary>OpenCV INTER_LINEAR.</summary>
    Bilinear,
}

/// <summary>
/// One image model's input preprocessing, as its SOURCE.md states it: frame size, fit, resampler, channel order, and
/// <c>value = (pixel · Scale − Mean) / Std</c> in planar NCHW with batch 1. Pixels are 8-bit after resizing.
/// </summary>
public sealed record ImagePreprocessing(
    string InputName, int Height, int Width, ImageFit Fit, ImageResampler Resampler, bool Bgr,
    double Scale, double Mean, double Std, DataType ElementType)
{
    /// <summary>mobilenet-v2-128-0.5: keras load_img 128×128 bilinear (PIL) stretch, RGB, x/127.5 − 1.</summary>
    public static ImagePreprocessing MobileNetV2 { get; } =
        new("input_1:0", 128, 128, ImageFit.Stretch, ImageResampler.Antialias, Bgr: false, 1 / 127.5, 1, 1, DataType.Float);

    /// <summary>ppocr-cls-mobile: height 48, width ≤ 192 keeping the aspect ratio, OpenCV bilinear, BGR, (x/255 − 0.5)/0.5, zero padding at the right.</summary>
    public static ImagePreprocessing PpocrCls { get; } =
        new("x", 48, 192, ImageFit.PadRight, ImageResampler.Bilinear, Bgr: true, 1 / 255.0, 0.5, 0.5, DataType.Float);

    /// <summary>ultraface-rfb-320: 320×240 stretch, RGB, (x − 127)/128.</summary>
    public static ImagePreprocessing UltraFace { get; } =
        new("input", 240, 320, ImageFit.Stretch, ImageResampler.Antialias, Bgr: false, 1, 127, 128, DataType.Float);

    /// <summary>squeezenet-1.0-fp16: 224×224, BGR, raw 0..255, float16.</summary>
    public static ImagePreprocessing SqueezeNet { get; } =
        new("data_0", 224, 224, ImageFit.Stretch, ImageResampler.Antialias, Bgr: true, 1, 0, 1, DataType.Float16);

    /// <summary>The model's input shape [1, 3, H, W].</summary>
    public Shape InputShape => new(1, 3, Height, Width);

    /// <summary>Resizes the image into the frame (8-bit pixels) and returns the columns it fills (the full width unless <see cref="ImageFit.PadRight"/>).</summary>
    public (RgbImage Image, int Columns) Fitted(RgbImage image)
    {
        int w = Width;
        if (Fit == ImageFit.PadRight)
            w = Math.Min(Width, (int)Math.Ceiling(Height * (double)image.Width / image.Height));
        if (image.Width == w && image.Height == Height) return (image, w);
        var resized = Resampler == ImageResampler.Antialias ? ImageResize.Antialias(image, w, Height) : ImageResize.Bilinear(image, w, Height);
        return (resized, w);
    }

    /// <summary>The normalized planar values of one image, [3 · H · W] (channel order as the model wants it).</summary>
    public float[] ToPlanar(RgbImage image)
    {
        var (fitted, columns) = Fitted(image);
        int plane = Height * Width;
        var v = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            int source = Bgr ? 2 - c : c;
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < columns; x++)
                    v[c * plane + y * Width + x] = (float)((fitted[x, y, source] * Scale - Mean) / Std);
        }
        return v;
    }

    /// <summary>The model input tensor [1, 3, H, W] for one image.</summary>
    public Tensor ToTensor(RgbImage image)
    {
        var v = ToPlanar(image);
        return ElementType == DataType.Float16
            ? new Tensor(DataType.Float16, InputShape, v.Select(HalfBits.FromSingle).ToArray())
            : Tensor.FromFloats(InputShape, v);
    }
}
