using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The test-support baseline JPEG decoder on the shared JPEG photos. There is no reference decoder here, so the
/// checks are structural: the right size, a natural photo's smoothness (a wrong Huffman, zigzag or IDCT gives noise),
/// no 8×8 grid (block edges no rougher than the inside of blocks), and colour (chroma decoded, not gray). The decoded
/// china.jpg was also checked by eye against the original.
/// </summary>
public sealed class JpegDecoderTests
{
    private readonly ITestOutputHelper _out;
    public JpegDecoderTests(ITestOutputHelper output) => _out = output;

    [SharedTheory]
    [InlineData("china.jpg")]
    [InlineData("flower.jpg")]
    [InlineData("rocket.jpg")]
    public void Decodes_the_shared_baseline_JPEGs(string file)
    {
        var img = RgbImage.Load(Path.Combine(ImageModels.ImagesFolder, file));
        Assert.Equal((640, 427), (img.Width, img.Height));
        double inside = 0, edge = 0, chroma = 0;
        int nInside = 0, nEdge = 0;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x + 1 < img.Width; x++)
            {
                double d = 0;
                for (int c = 0; c < 3; c++) d += Math.Abs(img[x + 1, y, c] - img[x, y, c]);
                if (x % 8 == 7) { edge += d; nEdge++; } else { inside += d; nInside++; }
                chroma += Math.Abs(img[x, y, 0] - img[x, y, 1]) + Math.Abs(img[x, y, 2] - img[x, y, 1]);
            }
        inside /= nInside; edge /= nEdge; chroma /= img.Width * img.Height;
        _out.WriteLine($"{file}: mean |Δ| between neighbours {inside:F2} inside blocks, {edge:F2} across block edges; mean chroma {chroma:F1}");
        // Summed over R, G, B: 10–45 for these photos (china.jpg's foliage is the busiest); uniform noise gives about 255.
        Assert.InRange(inside, 0.5, 60);
        Assert.InRange(edge, 0, 1.5 * inside + 1);
        Assert.True(chroma > 5, $"mean |R−G| + |B−G| is {chroma:F1}: colour lost");
    }

    [Fact]
    public void Refuses_progressive_and_truncated_files()
    {
        // SOI, then an SOF2 (progressive) header.
        var progressive = new byte[] { 0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0 };
        Assert.Contains("baseline only", Assert.Throws<NotSupportedException>(() => JpegDecoder.Decode(progressive)).Message);
        Assert.Throws<InvalidDataException>(() => JpegDecoder.Decode(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0x00 }));
    }
}
