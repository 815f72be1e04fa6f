using System.Text;
using Q.Compiler.Ir;

namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// Writes calibration folders (the .npy format of docs/quantization.md, read by Quantization.CalibrationDataSet) into
/// new temp folders the caller deletes: an image model's from ../shared/datasets/images (<see cref="Images"/>), or
/// fixed-seed standard-normal features (<see cref="StandardNormal"/>, for kws-m).
/// </summary>
public static class CalibrationFolders
{
    /// <summary>What was written: the folder, the sample count, and the images used and skipped (with the reason).</summary>
    public sealed record Result(string Folder, int Samples, IReadOnlyList<string> Used, IReadOnlyList<string> Skipped);

    /// <summary>
    /// Writes the calibration set of <paramref name="modelFolder"/> (a name of <see cref="ImageModels.Folders"/>) into a
    /// new folder under <paramref name="parent"/> (the system temp folder by default): every decodable image,
    /// preprocessed exactly as the model's test inputs are (<see cref="ImagePreprocessing"/>), stacked into one
    /// <c>images.npy</c> of shape [S, 3, H, W]. The images named in <paramref name="exclude"/> (file names, e.g. a
    /// model's test photos from <see cref="TestSetPhotos"/>) are left out; naming a file that is not in the folder throws,
    /// so that a typo cannot silently keep a photo in.
    /// </summary>
    public static Result Images(string modelFolder, string? parent = null, IEnumerable<string>? exclude = null)
    {
        var pre = ImageModels.Preprocessing(modelFolder);
        var files = Directory.GetFiles(ImageModels.ImagesFolder).OrderBy(p => p, StringComparer.Ordinal).ToList();
        var excluded = new HashSet<string>(exclude ?? Array.Empty<string>(), StringComparer.Ordinal);
        var unknown = excluded.Where(e => !files.Any(f => Path.GetFileName(f) == e)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"not in {ImageModels.ImagesFolder}: {string.Join(", ", unknown)}", nameof(exclude));
        string dir = Path.Combine(parent ?? Path.GetTempPath(), $"qc-calib-{modelFolder}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var used = new List<string>(); var skipped = new List<string>();
        var samples = new List<float[]>();
        foreach (string path in files)
        {
            if (excluded.Contains(Path.GetFileName(path))) continue;
            RgbImage image;
            try { image = RgbImage.Load(path); }
            catch (NotSupportedException e) { skipped.Add($"{Path.GetFileName(path)} ({e.Message})"); continue; }
            foreach (var view in Views(pre, image)) samples.Add(pre.ToPlanar(view));
            used.Add(Path.GetFileName(path));
        }
        if (samples.Count == 0) throw new InvalidOperationException($"no decodable image left in {ImageModels.ImagesFolder}");
        var shape = new[] { samples.Count, 3, pre.Height, pre.Width };
        File.WriteAllBytes(Path.Combine(dir, "images.npy"), pre.ElementType == DataType.Float16 ? Npy("<f2", shape, Half(samples)) : Npy("<f4", shape, Floats(samples)));
        return new Result(dir, samples.Count, used, skipped);
    }

    /// <summary>
    /// Writes <paramref name="samples"/> fixed-seed N(0, 1) samples of shape <paramref name="sampleShape"/> (float32,
    /// Box–Muller over System.Random) as one stacked <c>normal.npy</c> into a new temp folder.
    /// </summary>
    public static Result StandardNormal(int[] sampleShape, int samples, int seed, string? parent = null)
    {
        string dir = Path.Combine(parent ?? Path.GetTempPath(), $"qc-calib-normal-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        int per = sampleShape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(seed);
        var v = new float[samples * per];
        for (int i = 0; i < v.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        var bytes = new byte[v.Length * 4];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        // A stack of S samples: [S, ...sampleShape] for a sample shape whose first axis is 1 becomes [S·1, ...].
        var shape = new[] { samples * sampleShape[0] }.Concat(sampleShape.Skip(1)).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "normal.npy"), Npy("<f4", shape, bytes));
        return new Result(dir, samples, Array.Empty<string>(), Array.Empty<string>());
    }

    /// <summary>
    /// The samples one image gives: the whole image, except for a text-line model (PadRight into a wide frame), which
    /// gets three horizontal strips with the frame's aspect ratio (upper, middle, lower quarter lines), closer to the
    /// text-line crops it classifies than a squashed whole photo.
    /// </summary>
    private static IEnumerable<RgbImage> Views(ImagePreprocessing pre, RgbImage image)
    {
        if (pre.Fit != ImageFit.PadRight) { yield return image; yield break; }
        int h = Math.Max(1, image.Height / 6);
        int w = Math.Min(image.Width, h * pre.Width / pre.Height);
        foreach (int centre in new[] { image.Height / 4, image.Height / 2, image.Height * 3 / 4 })
            yield return image.Crop((image.Width - w) / 2, Math.Clamp(centre - h / 2, 0, image.Height - h), w, h);
    }

    private static byte[] Floats(List<float[]> samples)
    {
        var bytes = new byte[samples.Sum(s => s.Length) * 4];
        int at = 0;
        foreach (var s in samples) { Buffer.BlockCopy(s, 0, bytes, at, s.Length * 4); at += s.Length * 4; }
        return bytes;
    }

    private static byte[] Half(List<float[]> samples)
    {
        var bits = samples.SelectMany(s => s).Select(HalfBits.FromSingle).ToArray();
        var bytes = new byte[bits.Length * 2];
        Buffer.BlockCopy(bits, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    /// <summary>A NumPy .npy file, format 1.0, little-endian C order (the machine is little-endian).</summary>
    public static byte[] Npy(string descr, int[] shape, byte[] data)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian machine");
        string dims = shape.Length == 1 ? shape[0] + "," : string.Join(", ", shape);
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 10 - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
        ms.Write(BitConverter.GetBytes((ushort)header.Length));
        ms.Write(Encoding.ASCII.GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }
}
