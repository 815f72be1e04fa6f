using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The test set → photo mapping read from SOURCE.md (<see cref="TestSetPhotos"/>) and calibration folders that leave
/// photos out, which the held-out measurement (<see cref="HeldOutMeasurements"/>) builds on.
/// </summary>
public sealed class TestSetPhotosTests : IDisposable
{
    private static readonly HashSet<string> Photos = new(StringComparer.Ordinal) { "astronaut.png", "chelsea.png", "motorcycle_left.png" };
    private readonly ITestOutputHelper _out;
    private readonly List<string> _temp = new();

    public TestSetPhotosTests(ITestOutputHelper output) => _out = output;

    public void Dispose()
    {
        foreach (var d in _temp) try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Rows_name_one_photo_or_reuse_the_row_above()
    {
        var map = TestSetPhotos.Parse(new[]
        {
            "| Set | Image (`shared/datasets/images/`) | Output |",
            "|---|---|---|",
            "| `test_data_set_0` | `astronaut.png` (NASA) | 0.061, 0.939 |",
            "| `test_data_set_1` | `motorcycle_left.png` 396,190,58,22: the logo | 0.944 |",
            "| `test_data_set_2` | same crop rotated by 180° | 0.699 |",
            "Text that mentions `chelsea.png` outside the table.",
        }, Photos, "SOURCE.md");
        Assert.Equal(new Dictionary<string, string>
        {
            ["test_data_set_0"] = "astronaut.png", ["test_data_set_1"] = "motorcycle_left.png", ["test_data_set_2"] = "motorcycle_left.png",
        }, map);
    }

    [Theory]
    [InlineData("| `test_data_set_0` | `unknown.png` | 1 |", "names no photo")]
    [InlineData("| `test_data_set_0` | same crop rotated | 1 |", "names no photo")]
    [InlineData("| `test_data_set_0` | `astronaut.png` beside `chelsea.png` | 1 |", "several photos")]
    public void A_row_without_exactly_one_photo_fails_naming_the_set(string row, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => TestSetPhotos.Parse(new[] { row }, Photos, "SOURCE.md"));
        Assert.Contains("test_data_set_0", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_set_with_two_rows_fails()
    {
        var row = "| `test_data_set_0` | `astronaut.png` | 1 |";
        Assert.Throws<InvalidDataException>(() => TestSetPhotos.Parse(new[] { row, row }, Photos, "SOURCE.md"));
    }

    /// <summary>Every set the pixel-exact preprocessing test reproduces from a photo maps to that photo.</summary>
    [SharedTheory]
    [MemberData(nameof(ImagePreprocessingTests.Sets), MemberType = typeof(ImagePreprocessingTests))]
    public void The_mapping_names_the_photo_the_test_input_was_made_from(string folder, int set, string image, string? crop, bool rotate)
    {
        _ = (crop, rotate);
        var map = TestSetPhotos.Of(folder);
        Assert.Equal(image, map[$"test_data_set_{set}"]);
        Assert.Equal(TestData.Sets(SharedData.Model(folder)).Count, map.Count);
    }

    [SharedTheory]
    [MemberData(nameof(ImageModelQuantizationTests.ImageModelFolders), MemberType = typeof(ImageModelQuantizationTests))]
    public void A_held_out_calibration_folder_has_every_photo_but_the_test_photos(string folder)
    {
        var test = TestSetPhotos.All(folder);
        var all = CalibrationFolders.Images(folder);
        var held = CalibrationFolders.Images(folder, exclude: test);
        _temp.Add(all.Folder); _temp.Add(held.Folder);
        _out.WriteLine($"{folder}: held out {string.Join(", ", test)}; calibrated on {held.Samples} samples from {string.Join(", ", held.Used)}");
        Assert.Equal(all.Used.Except(test).ToList(), held.Used);
        Assert.Equal(all.Samples / all.Used.Count * held.Used.Count, held.Samples);
        Assert.Throws<ArgumentException>(() => CalibrationFolders.Images(folder, exclude: new[] { "no-such-photo.png" }));
    }
}
