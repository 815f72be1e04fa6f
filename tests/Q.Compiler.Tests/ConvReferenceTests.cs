using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// Conv's reference (Evaluate: constant folding, the calibration interpreter) computes each output as the textbook loop
/// nest does, bit for bit: b[oc], then + x·w in double in the order (ic, kh, kw). Its vector path (stride 1) must not
/// change a bit, or calibrated scales would depend on the machine.
/// </summary>
public sealed class ConvReferenceTests
{
    private static float[] Textbook(float[] x, float[] w, float[] b, int n, int c, int h, int wd, int m, int kh, int kw,
        int sh, int sw, int dh, int dw, int pt, int pl, int group, int oh, int ow)
    {
        int cg = c / group, mg = m / group;
        var y = new float[n * m * oh * ow];
        for (int ni = 0; ni < n; ni++)
            for (int oc = 0; oc < m; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double acc = b[oc];
                        for (int ic = 0; ic < cg; ic++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * sh + ky * dh - pt, ix = ox * sw + kx * dw - pl;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    acc += x[((ni * c + oc / mg * cg + ic) * h + iy) * wd + ix] * (double)w[((oc * cg + ic) * kh + ky) * kw + kx];
                                }
                        y[((ni * m + oc) * oh + oy) * ow + ox] = (float)acc;
                    }
        return y;
    }

    [Fact]
    public void Evaluate_matches_the_textbook_loop_bit_for_bit()
    {
        var rng = new Random(11);
        var def = OpRegistry.Find("", "Conv")!;
        // n, c, h, w, m, kh, kw, stride, dilation, pad, group
        var cases = new[]
        {
            new[] { 1, 3, 17, 29, 4, 3, 3, 1, 1, 1, 1 }, new[] { 2, 4, 9, 8, 6, 1, 1, 1, 1, 0, 2 }, new[] { 1, 8, 12, 37, 8, 3, 3, 1, 1, 1, 8 },
            new[] { 1, 2, 11, 23, 3, 5, 5, 1, 2, 2, 1 }, new[] { 1, 3, 15, 31, 2, 3, 3, 2, 1, 1, 1 }, new[] { 1, 1, 5, 3, 1, 7, 7, 1, 1, 3, 1 },
            new[] { 1, 5, 7, 64, 3, 1, 3, 1, 1, 0, 1 },
        };
        foreach (var k in cases)
        {
            int n = k[0], c = k[1], h = k[2], wd = k[3], m = k[4], kh = k[5], kw = k[6], s = k[7], d = k[8], p = k[9], group = k[10];
            int oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1, ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1;
            var x = Enumerable.Range(0, n * c * h * wd).Select(_ => (float)(rng.NextDouble() * 4 - 2) * (rng.Next(4) == 0 ? 1e-3f : 1f)).ToArray();
            var w = Enumerable.Range(0, m * c / group * kh * kw).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var b = Enumerable.Range(0, m).Select(_ => (float)rng.NextDouble()).ToArray();
            var attrs = new Dictionary<string, AttributeValue>
            {
                ["strides"] = AttributeValue.IntList(new long[] { s, s }), ["dilations"] = AttributeValue.IntList(new long[] { d, d }),
                ["pads"] = AttributeValue.IntList(new long[] { p, p, p, p }), ["group"] = AttributeValue.Int(group),
            };
            var node = new Node("conv", "Conv", "", new[] { "x", "w", "b" }, new[] { "y" }, attrs, null, new[] { "conv" });
            var ins = new Tensor?[]
            {
                Tensor.FromFloats(new Shape(n, c, h, wd), x), Tensor.FromFloats(new Shape(m, c / group, kh, kw), w), Tensor.FromFloats(new Shape(m), b),
            };
            var y = def.Evaluate(new OpContext(node, ins.Select(t => t?.Type).ToArray(), ins, 13), ins)[0].ToFloats();
            var want = Textbook(x, w, b, n, c, h, wd, m, kh, kw, s, s, d, d, p, p, group, oh, ow);
            Assert.Equal(want.Select(BitConverter.SingleToInt32Bits), y.Select(BitConverter.SingleToInt32Bits));
        }
    }
}
