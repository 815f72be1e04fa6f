using Q.Compiler.Tests.Support.Images;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Scaffolding of the image-model measurements (<see cref="MeasurementFactAttribute"/>, QC_QUANT_MEASURE=1): the test
/// output they write their figures to, the models QC_ACC_MODEL names, and calibration folders written for the run and
/// deleted on Dispose. Kept out of Support/Images, which the benchmark app links without xunit.
/// </summary>
public abstract class ImageModelMeasurement : IDisposable
{
    private readonly List<string> _temp = new();

    protected ImageModelMeasurement(ITestOutputHelper output) => Out = output;

    /// <summary>Where the measurement writes its figures (shown with <c>--logger "console;verbosity=detailed"</c>).</summary>
    protected ITestOutputHelper Out { get; }

    public void Dispose()
    {
        foreach (var d in _temp) try { Directory.Delete(d, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// The calibration folder of <paramref name="model"/> from ../shared/datasets/images, less the photos named in
    /// <paramref name="exclude"/> (<see cref="CalibrationFolders.Images"/>); deleted when the test ends.
    /// </summary>
    protected CalibrationFolders.Result CalibrationFolder(string model, IEnumerable<string>? exclude = null)
    {
        var result = CalibrationFolders.Images(model, exclude: exclude);
        _temp.Add(result.Folder);
        return result;
    }

    /// <summary>The models QC_ACC_MODEL names (a comma list), else <paramref name="defaults"/>.</summary>
    protected static IReadOnlyList<string> ModelsFromEnvironment(params string[] defaults) =>
        Environment.GetEnvironmentVariable("QC_ACC_MODEL") is { Length: > 0 } m ? m.Split(',') : defaults;

    /// <summary>The model QC_ACC_MODEL names, else <paramref name="fallback"/>.</summary>
    protected static string ModelFromEnvironment(string fallback) =>
        Environment.GetEnvironmentVariable("QC_ACC_MODEL") is { Length: > 0 } m ? m : fallback;
}
