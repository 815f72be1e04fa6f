using Q.Compiler.Ir;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The test-support image pipeline (PNG decoding, resizing, per-model normalization) against the shared models' test
/// inputs, which SOURCE.md says were made from named images of ../shared/datasets/images: the pipeline must
/// reproduce them exactly (every value within 1% of one 8-bit pixel step, i.e. float rounding only).
/// </summary>
public sealed class ImagePreprocessingTests
{
    private readonly ITestOutputHelper _out;
    public ImagePreprocessingTests(ITestOutputHelper output) => _out = output;

    /// <summary>(model folder, set, image, crop "x,y,w,h" or null, rotate 180°)</summary>
    public static TheoryData<string, int, string, string?, bool> Sets => new()
    {
        { "mobilenet-v2-128-0.5", 0, "astronaut.png", null, false },
        { "mobilenet-v2-128-0.5", 1, "chelsea.png", null, false },
        { "mobilenet-v2-128-0.5", 2, "coffee.png", null, false },
        { "ultraface-rfb-320", 0, "astronaut.png", null, false },
        { "ultraface-rfb-320", 1, "chelsea.png", null, false },
        { "ultraface-rfb-320", 2, "coffee.png", null, false },
        { "squeezenet-1.0-fp16", 0, "kitten_224.png", null, false },
        { "squeezenet-1.0-fp16", 1, "fish.png", null, false },
        { "ppocr-cls-mobile", 0, "motorcycle_left.png", "396,190,58,22", false },
        { "ppocr-cls-mobile", 1, "motorcycle_left.png", "396,190,58,22", true },
        { "ppocr-cls-mobile", 2, "astronaut.png", "284,362,50,12", false },
        { "ppocr-cls-mobile", 3, "astronaut.png", "284,362,50,12", true },
    };

    [SharedTheory]
    [MemberData(nameof(Sets))]
    public void Pipeline_reproduces_the_shared_test_input(string folder, int set, string image, string? crop, bool rotate)
    {
        var pre = ImageModels.Preprocessing(folder);
        var img = RgbImage.Load(Path.Combine(ImageModels.ImagesFolder, image));
        if (crop is not null)
        {
            var c = crop.Split(',').Select(int.Parse).ToArray();
            img = img.Crop(c[0], c[1], c[2], c[3]);
        }
        if (rotate) img = img.Rotate180();
        var ours = pre.ToTensor(img);
        var expected = TestData.Inputs(Path.Combine(SharedData.Model(folder), $"test_data_set_{set}"))[0];
        Assert.Equal(expected.ElementType, ours.ElementType);
        Assert.Equal(expected.Shape, ours.Shape);

        // Differences in 8-bit pixel steps: |Δvalue| · Std / Scale.
        var e = expected.ToDoubles(); var a = ours.ToDoubles();
        double step = pre.Scale / pre.Std;
        int exact = 0, offByOne = 0;
        double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs(e[i] - a[i]) / step;
            worst = Math.Max(worst, d);
            if (d < 0.01) exact++; else if (d < 1.01) offByOne++;
        }
        _out.WriteLine($"{folder} set {set} ({image}): {exact:N0} of {e.Length:N0} values exact, {offByOne:N0} one 8-bit step off, worst {worst:F3} steps");
        Assert.True(exact == e.Length, $"{e.Length - exact} of {e.Length} values differ, worst by {worst:F3} pixel steps");
    }
}
