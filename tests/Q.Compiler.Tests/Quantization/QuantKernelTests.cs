using System.Numerics;
using System.Runtime.InteropServices;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QContrib;
using Q.Compiler.Quantization;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>Requantize, QuantizeLinear and DequantizeLinear kernels on every path against the Core reference.</summary>
public class QuantKernelTests
{
    [Fact]
    public void Requantize_paths_match_the_reference_per_channel()
    {
        var rng = new Random(7);
        foreach (var (channels, inner) in new[] { (1, 1), (3, 1), (16, 1), (5, 15), (4, 16), (2, 17), (3, 40) })
        {
            int len = channels * inner * 2;
            var acc = Enumerable.Range(0, len).Select(i => (i % 11) switch
            {
                0 => int.MinValue, 1 => int.MaxValue, 2 => 0, _ => rng.Next(int.MinValue, int.MaxValue) >> rng.Next(0, 24),
            }).ToArray();
            var scale = Enumerable.Range(0, channels).Select(c => RequantScale.FromReal(c switch
            {
                0 => 1.0, 1 => 0.5, 2 => 65535.9, 3 => 1.0 + rng.NextDouble() * 40,   // M ≥ 1 saturates (pre-quantized models)
                _ => Math.Pow(2, -rng.NextDouble() * 30),
            })).ToArray();
            // Exact ties for the 0.5 channel: odd accumulators near zero.
            for (int i = 0; i < len; i++)
                if (i / inner % channels == 1 && i % 3 == 0) acc[i] = rng.Next(-600, 600) | 1;
            foreach (var (zy, lo, hi, signed) in new[] { (0, 0, 255, false), (128, 0, 255, false), (255, 255, 255, false), (37, 37, 200, false), (0, -128, 127, true), (-5, -5, 127, true), (127, -128, 127, true) })
            {
                var want = IntegerReference.Requantize(acc, scale, inner, zy, lo, hi);
                foreach (var path in Enum.GetValues<Requantize.Path>().Where(Requantize.IsSupported))
                {
                    if (signed)
                    {
                        var y = new sbyte[len];
                        Requantize.Run(path, acc, scale, default, y, channels, inner, zy, lo, hi);
                        Assert.Equal(want, y.Select(v => (int)v).ToArray());
                    }
                    else
                    {
                        var y = new byte[len];
                        Requantize.Run(path, acc, scale, y, default, channels, inner, zy, lo, hi);
                        Assert.Equal(want, y.Select(v => (int)v).ToArray());
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector128")]
    [InlineData("Vector256")]
    public void QuantizeLinear_paths_match_round_half_even_reference(string pathName)
    {
        var path = Enum.Parse<QuantizeLinear.Path>(pathName);
        if (!QuantizeLinear.IsSupported(path)) return;
        var rng = new Random(11);
        float scale = 0.05f;
        var x = new List<float> { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e30f, 0f, -0f, float.Epsilon };
        for (int t = -300; t <= 300; t++) x.Add((t + 0.5f) * scale);          // near-ties
        for (int t = 0; t < 1000; t++) x.Add((float)(rng.NextDouble() * 30 - 15));
        while (x.Count % 96 != 5) x.Add((float)rng.NextDouble());            // odd tail length
        var xs = x.ToArray();
        foreach (var (zp, qmin, qmax) in new[] { (0, 0, 255), (128, 0, 255), (255, 0, 255), (0, -128, 127), (-128, -128, 127), (127, -128, 127) })
        {
            var want = IntegerReference.Quantize(xs, scale, zp, qmin, qmax);
            var y = new byte[xs.Length];
            QuantizeLinear.Run(path, xs, new[] { scale }, new[] { zp }, y, 1, 1, qmin, qmax);
            Assert.Equal(want, y.Select(b => qmin < 0 ? (int)(sbyte)b : b).ToArray());
        }
        // Per channel: 3 channels of 37 elements, twice.
        var scales = new[] { 0.1f, 0.02f, 1.5f };
        var zps = new[] { 3, 128, 250 };
        var xc = Enumerable.Range(0, 2 * 3 * 37).Select(_ => (float)(rng.NextDouble() * 40 - 20)).ToArray();
        var yc = new byte[xc.Length];
        QuantizeLinear.Run(path, xc, scales, zps, yc, 3, 37, 0, 255);
        for (int i = 0; i < xc.Length; i++)
            Assert.Equal(QuantMath.Quantize(xc[i], scales[i / 37 % 3], zps[i / 37 % 3], 0, 255), yc[i]);
    }

    [Fact]
    public void DequantizeLinear_paths_match_the_reference()
    {
        var q = Enumerable.Range(0, 256 * 3 + 7).Select(i => (byte)(i * 7)).ToArray();
        foreach (var path in new[] { DequantizeLinear.Path.Scalar, DequantizeLinear.Path.Vector256 })
        {
            if (path == DequantizeLinear.Path.Vector256 && !System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated) continue;
            var y = new float[q.Length];
            DequantizeLinear.Run(path, q, false, new[] { 0.037f }, new[] { 131 }, y, 1, 1);
            Assert.Equal(IntegerReference.Dequantize(q.Select(b => (int)b).ToArray(), 0.037f, 131), y);
            DequantizeLinear.Run(path, q.AsSpan(0, 3 * 256), true, new[] { 0.5f, 3f, 1e-3f }, new[] { -3, 0, 100 }, y.AsSpan(0, 3 * 256), 3, 128);
            for (int i = 0; i < 3 * 256; i++)
            {
                int c = i / 128 % 3;
                Assert.Equal((float)((sbyte)q[i] - new[] { -3, 0, 100 }[c]) * new[] { 0.5f, 3f, 1e-3f }[c], y[i]);
            }
        }
    }

    [Fact]
    public void Float_scale_requantization_is_one_float32_multiply_rounded_half_to_even()
    {
        // Ties go to even: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → 0, −1.5 → −2.
        Assert.Equal(new[] { 0, 2, 2, 0, -2, -2 }, new[] { 1, 3, 5, -1, -3, -5 }.Select(a => RequantScale.Apply(a, 0.5f)).ToArray());
        Assert.Equal(1 << 22, RequantScale.Apply(int.MaxValue, 65535.9f));
        Assert.Equal(-(1 << 22), RequantScale.Apply(int.MinValue, 3f));
        Assert.Equal(0, RequantScale.Apply(int.MaxValue, 0f));
        Assert.Equal(200, RequantScale.Requantize(1000, 0.1f, 100, 0, 255));
        Assert.Equal(255, RequantScale.Requantize(100000, 0.1f, 100, 0, 255));

        // Oracle: the double product of two floats is exact (48 significant bits), so rounding it to float is the IEEE
        // float32 product; then clamp and round half to even in double. The scalar kernel must agree for every bound.
        var rng = new Random(5);
        for (int t = 0; t < 20000; t++)
        {
            float scale = (float)(Math.Pow(2, t % 4 == 3 ? rng.NextDouble() * 16 : -rng.NextDouble() * 34) * (0.5 + rng.NextDouble()));
            int acc = t % 5 == 0 ? rng.Next(-5000, 5000) : rng.Next(int.MinValue, int.MaxValue) >> rng.Next(0, 31);
            double product = (float)((double)(float)acc * scale);
            int want = (int)Math.Round(Math.Clamp(product, -4194304.0, 4194304.0), MidpointRounding.ToEven);
            Assert.Equal(want, RequantScale.Apply(acc, scale));
            int zy = rng.Next(0, 256), lo = rng.Next(0, 256), hi = rng.Next(lo, 256);
            Assert.Equal(Math.Clamp(want + zy, lo, hi), Requantize.Apply(acc, scale, lo - zy, hi - zy) + zy);
        }
    }

    /// <summary>
    /// The com.microsoft ops' fixed-point multiplier (<see cref="QFixedMultiplier"/>, also what their Evaluate uses) and
    /// the kernels' fixed-point helper: ties toward +∞, exact against big-integer arithmetic, and the same 8-bit results
    /// (the kernel helper also clamps to ±2^14 for M ≥ 1, which changes no saturated 8-bit output).
    /// </summary>
    [Fact]
    public void Fixed_point_multiplier_rounds_half_toward_positive_infinity_exactly()
    {
        var half = QFixedMultiplier.FromReal(0.5);
        Assert.Equal((1 << 30, 31), (half.Multiplier, half.Shift));
        Assert.Equal(1, half.Apply(1));    //  0.5 → 1
        Assert.Equal(0, half.Apply(-1));   // −0.5 → 0
        Assert.Equal(2, half.Apply(3));    //  1.5 → 2
        Assert.Equal(-1, half.Apply(-3));  // −1.5 → −1
        var one = QFixedMultiplier.FromReal(1.0);
        Assert.Equal((1 << 30, 30), (one.Multiplier, one.Shift));
        // M ≥ 1 clamps the accumulator to ±2^30/M first: saturating, and the product stays within int32.
        Assert.Equal(-(1 << 30), one.Apply(int.MinValue));
        Assert.Equal(1 << 30, one.Apply(int.MaxValue));
        Assert.Equal(12345, one.Apply(12345));
        var three = QFixedMultiplier.FromReal(3.0);
        Assert.Equal((3 << 29, 29), (three.Multiplier, three.Shift));
        Assert.Equal(-300, three.Apply(-100));
        Assert.InRange(three.Apply(int.MaxValue), (1 << 30) - 3, 1 << 30);
        var big = QFixedMultiplier.FromReal(Math.BitDecrement(QFixedMultiplier.Limit));   // the largest: shift 1, the smallest
        Assert.Equal((int.MaxValue, 1), (big.Multiplier, big.Shift));
        Assert.Equal(1, big.AccLimit);
        Assert.Equal(-(1 << 30) + 1, big.Apply(int.MinValue));
        // 65535.999999 rounds its mantissa up to 2^31: one less shift.
        Assert.Equal((1 << 30, 14), (QFixedMultiplier.FromReal(65535.999999).Multiplier, QFixedMultiplier.FromReal(65535.999999).Shift));
        Assert.Equal(0, QFixedMultiplier.FromReal(0).Apply(int.MaxValue));
        Assert.Equal(new QFixedMultiplier(0, 31), QFixedMultiplier.FromReal(double.Epsilon));   // subnormal: below 2^−32
        Assert.Equal(new QFixedMultiplier(1 << 30, 62), QFixedMultiplier.FromReal(Math.Pow(2, -32)));
        Assert.Equal(new QFixedMultiplier(0, 31), QFixedMultiplier.FromReal(Math.Pow(2, -33)));
        Assert.Equal(1.0000001, QFixedMultiplier.FromReal(1.0000001).Value, 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => QFixedMultiplier.FromReal(QFixedMultiplier.Limit));
        Assert.Throws<ArgumentOutOfRangeException>(() => QFixedMultiplier.FromReal(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => QFixedMultiplier.FromReal(-1e-9));

        var rng = new Random(3);
        for (int t = 0; t < 3000; t++)
        {
            // 2^−34 .. 2^16: below 1 mostly, above 1 (pre-quantized models) for a third of the draws.
            double real = Math.Pow(2, t % 3 == 2 ? rng.NextDouble() * 15.99 : -rng.NextDouble() * 34) * (t == 0 ? 1 : 0.999);
            var fm = QFixedMultiplier.FromReal(real);
            if (fm.Multiplier != 0)
            {
                Assert.InRange(fm.Multiplier, 1 << 30, int.MaxValue);
                Assert.True(Math.Abs(fm.Value - real) <= real * Math.Pow(2, -30), $"{real} → {fm}");
            }
            int acc = rng.Next(int.MinValue, int.MaxValue) >> rng.Next(0, 31);
            // Exact: floor((acc·m + 2^(s−1)) / 2^s) with big integers, acc clamped to ±AccLimit.
            long clamped = Math.Clamp(acc, -fm.AccLimit, fm.AccLimit);
            var num = (BigInteger)clamped * fm.Multiplier + (BigInteger.One << (fm.Shift - 1));
            var den = BigInteger.One << fm.Shift;
            var floor = BigInteger.Divide(num, den);
            if (num.Sign < 0 && floor * den != num) floor -= 1;
            Assert.Equal((long)floor, fm.Apply(acc));
            int zy = rng.Next(0, 256);
            int kernel = Requantize.Apply((int)clamped, fm.Multiplier, fm.Shift);
            Assert.Equal(Math.Clamp(fm.Apply(acc) + zy, 0, 255), Math.Clamp(kernel + zy, 0, 255));
        }
    }

    [Fact]
    public void Activation_parameters_cover_the_range_and_keep_zero_exact()
    {
        var p = QuantParams.AsymmetricUInt8(-1.0, 3.0);
        Assert.Equal(4.0 / 255, p.Scale, 6);
        Assert.Equal(64, p.ZeroPoint);       // round(1 / (4/255)) = round(63.75)
        Assert.Equal(0f, p.Dequantize(p.Quantize(0f)));
        Assert.Equal(0, QuantParams.AsymmetricUInt8(0.5, 6.0).ZeroPoint);      // range widened to include 0
        Assert.Equal(255, QuantParams.AsymmetricUInt8(-2.0, -0.5).ZeroPoint);
        Assert.Equal(1f, QuantParams.AsymmetricUInt8(0, 0).Scale);
        var s = QuantParams.SymmetricInt8(-0.5, 2.54);
        Assert.Equal(0.02f, s.Scale, 6);
        Assert.Equal(0, s.ZeroPoint);
        Assert.Equal(127, s.Quantize(2.54f));
        Assert.Equal(-128, s.Quantize(-1000f));
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.AsymmetricUInt8(double.NaN, 1));
        Assert.Equal("u8 scale=0.015686275 zp=64", QuantParams.AsymmetricUInt8(-1, 3).ToString());
    }

    [Fact]
    public void Per_channel_weights_bias_and_multipliers()
    {
        // Conv-like OIHW weights: 3 output channels × 4 elements.
        var w = new float[] { 0.5f, -1f, 0.25f, 0f, /**/ 0f, 0f, 0f, 0f, /**/ 2f, -2f, 1f, 0.001f };
        var q = WeightQuantizer.PerChannel(w, 3, 4);
        Assert.Equal(new[] { 1f / 127, 1f, 2f / 127 }, q.Scales);
        Assert.Equal(new sbyte[] { 64, -127, 32, 0, 0, 0, 0, 0, 127, -127, 64, 0 }, q.Values);
        // Gemm B [K=2, N=3], channel = column.
        var g = WeightQuantizer.PerChannel(new float[] { 1f, 2f, -3f, -0.5f, 1f, 3f }, 3, 1);
        Assert.Equal(new sbyte[] { 127, 127, -127, -64, 64, 127 }, g.Values);
        Assert.Equal(new[] { 1f / 127, 2f / 127, 3f / 127 }, g.Scales);
        var bias = WeightQuantizer.Bias(new[] { 0.3f, -1f, 0f }, 0.1f, new[] { 0.01f, 0.02f, 0.5f });
        Assert.Equal(new[] { 300, -500, 0 }, bias);
    }

    [Fact]
    public void Sqnr_is_the_signal_to_error_energy_ratio_in_decibels()
    {
        var x = new float[] { 1, -1, 1, -1 };
        Assert.Equal(20.0, QuantMath.Sqnr(x, x.Select(v => v * 1.1f).ToArray()), 4);
        Assert.Equal(double.PositiveInfinity, QuantMath.Sqnr(x, x));
        // Uniform 8-bit quantization of a full-scale uniform signal is about 6.02·8 dB.
        var rng = new Random(1);
        var u = Enumerable.Range(0, 100_000).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var p = QuantParams.SymmetricInt8(-1, 1);
        var uq = p.FakeQuantize(u);
        Assert.Equal(u.Select(v => p.Dequantize(p.Quantize(v))), uq);
        Assert.InRange(QuantMath.Sqnr(u, uq), 46.0, 49.0);
        // Clipping a range to half costs far more than the rounding noise.
        Assert.True(QuantMath.Sqnr(u, QuantParams.SymmetricInt8(-0.5, 0.5).FakeQuantize(u)) < 12);
    }
}
