namespace Q.Compiler.Tests.Support.Images;

/// <summary>The shared image models, their preprocessing, and the shared image folder.</summary>
public static class ImageModels
{
    /// <summary>Model folders under ../shared/models with images as input.</summary>
    public static readonly string[] Folders = { "mobilenet-v2-128-0.5", "ppocr-cls-mobile", "ultraface-rfb-320", "squeezenet-1.0-fp16" };

    /// <summary>../shared/datasets/images (or $QC_SHARED/datasets/images).</summary>
    public static string ImagesFolder => Path.Combine(SharedRoot, "datasets", "images");

    /// <summary>The preprocessing of a model folder (see each SOURCE.md).</summary>
    public static ImagePreprocessing Preprocessing(string folder) => folder switch
    {
        "mobilenet-v2-128-0.5" => ImagePreprocessing.MobileNetV2,
        "ppocr-cls-mobile" => ImagePreprocessing.PpocrCls,
        "ultraface-rfb-320" => ImagePreprocessing.UltraFace,
        "squeezenet-1.0-fp16" => ImagePreprocessing.SqueezeNet,
        _ => throw new ArgumentException($"{folder} is not an image model", nameof(folder)),
    };

    /// <summary>InputShapes metadata pinning the model's input to its frame (ppocr's input is dynamic).</summary>
    public static string InputShapes(string folder)
    {
        var p = Preprocessing(folder);
        return $"{p.InputName}=1x3x{p.Height}x{p.Width}";
    }

    private static string SharedRoot
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("QC_SHARED");
            if (!string.IsNullOrEmpty(env)) return env;
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Q.Compiler.sln"))) dir = dir.Parent;
            if (dir is null) throw new InvalidOperationException("cannot find Q.Compiler.sln above " + AppContext.BaseDirectory);
            return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
        }
    }
}
