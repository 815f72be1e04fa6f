namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// The two resizers the shared models' preprocessing names, both to 8-bit pixels:
/// <list type="bullet">
/// <item><see cref="Antialias"/>: PIL's <c>Image.resize(size, BILINEAR)</c> (what <c>tf.keras.utils.load_img</c> uses): a
///   triangle filter widened by the scale factor when shrinking, so every source pixel contributes; separable,
///   computed in double as PIL's libImaging/Resample.c lays out the taps.</item>
/// <item><see cref="Bilinear"/>: OpenCV's <c>cv2.resize(..., INTER_LINEAR)</c>: the four nearest pixels with half-pixel
///   centres, clamped at the border, no widening when shrinking.</item>
/// </list>
/// </summary>
public static class ImageResize
{
    /// <summary>
    /// PIL-style BILINEAR resampling to <paramref name="width"/>×<paramref name="height"/> (stretch, no aspect preservation):
    /// PIL's filter taps and weights, both passes in double, rounded once to 8 bits (half to even). This reproduces the
    /// shared test inputs exactly; PIL itself rounds after each pass in 22-bit fixed point, one step away on ~10% of pixels.
    /// </summary>
    public static RgbImage Antialias(RgbImage src, int width, int height)
    {
        var (bx, kx) = TriangleWeights(src.Width, width);
        var (by, ky) = TriangleWeights(src.Height, height);
        var tmp = new double[width * src.Height * 3];
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    double acc = 0;
                    for (int i = 0; i < kx[x].Length; i++) acc += src.Pixels[(y * src.Width + bx[x] + i) * 3 + c] * kx[x][i];
                    tmp[(y * width + x) * 3 + c] = acc;
                }
        var p = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    double acc = 0;
                    for (int i = 0; i < ky[y].Length; i++) acc += tmp[((by[y] + i) * width + x) * 3 + c] * ky[y][i];
                    p[(y * width + x) * 3 + c] = To8Bits(acc);
                }
        return new RgbImage(width, height, p);
    }

    private static byte To8Bits(double v) => (byte)Math.Clamp(Math.Round(v, MidpointRounding.ToEven), 0, 255);

    /// <summary>
    /// PIL's precompute_coeffs for the triangle filter (support 1, widened by the scale factor when shrinking): per
    /// output index the first source index and the normalized weights.
    /// </summary>
    private static (int[] First, double[][] Weights) TriangleWeights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale;
        var first = new int[outSize];
        var weights = new double[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            var w = new double[xmax];
            double sum = 0;
            for (int x = 0; x < xmax; x++)
            {
                double t = Math.Abs((x + xmin - center + 0.5) / filterScale);
                w[x] = t < 1.0 ? 1.0 - t : 0.0;
                sum += w[x];
            }
            for (int x = 0; x < xmax; x++) w[x] /= sum;
            first[xx] = xmin; weights[xx] = w;
        }
        return (first, weights);
    }

    /// <summary>OpenCV INTER_LINEAR to <paramref name="width"/>×<paramref name="height"/>: computed in double, rounded to 8 bits once (half to even).</summary>
    public static RgbImage Bilinear(RgbImage src, int width, int height)
    {
        var (x0, x1, fx) = LinearTaps(src.Width, width);
        var (y0, y1, fy) = LinearTaps(src.Height, height);
        var p = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    double top = src[x0[x], y0[y], c] * (1 - fx[x]) + src[x1[x], y0[y], c] * fx[x];
                    double bottom = src[x0[x], y1[y], c] * (1 - fx[x]) + src[x1[x], y1[y], c] * fx[x];
                    double v = top * (1 - fy[y]) + bottom * fy[y];
                    p[(y * width + x) * 3 + c] = To8Bits(v);
                }
        return new RgbImage(width, height, p);
    }

    /// <summary>For each output index: the two source indices and the weight of the second (OpenCV's half-pixel mapping, clamped).</summary>
    private static (int[] I0, int[] I1, double[] F) LinearTaps(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        var i0 = new int[outSize]; var i1 = new int[outSize]; var f = new double[outSize];
        for (int d = 0; d < outSize; d++)
        {
            double s = (d + 0.5) * scale - 0.5;
            int si = (int)Math.Floor(s);
            double frac = s - si;
            if (si < 0) { si = 0; frac = 0; }
            if (si >= inSize - 1) { si = inSize - 1; frac = 0; }
            i0[d] = si; i1[d] = Math.Min(si + 1, inSize - 1); f[d] = frac;
        }
        return (i0, i1, f);
    }
}
