using System.Runtime.InteropServices;
using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// Coded weights (WeightEncoder at build time, CodedWeights in the generated code): each coding round-trips to the
/// original bits through both decoders, is chosen only when it saves bytes, survives the plan text, and a compiled
/// model gives bit-identical outputs with and without it.
/// </summary>
public sealed class WeightCodingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qc-coding-" + Guid.NewGuid().ToString("N"));
    private readonly Xunit.Abstractions.ITestOutputHelper _out;

    public WeightCodingTests(Xunit.Abstractions.ITestOutputHelper output) => _out = output;

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    /// <summary>A float tensor of <paramref name="n"/> elements drawn from <paramref name="distinct"/> values, with −0 and a NaN payload among them.</summary>
    private static Tensor FewFloats(int distinct, int n, int seed)
    {
        var values = Enumerable.Range(0, distinct).Select(i => i switch
        {
            0 => -0.0f,
            1 => BitConverter.Int32BitsToSingle(0x7fc01234),   // a NaN with a payload: bits, not values, must survive
            _ => (float)(i * 0.1 / 3),
        }).ToArray();
        var rng = new Random(seed);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = values[i < distinct ? i : rng.Next(distinct)];   // every value used
        return Tensor.FromFloats(new Shape(n), data);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(5, 4)]
    [InlineData(16, 4)]
    [InlineData(17, 8)]
    [InlineData(256, 8)]
    public void Palette_round_trips_every_index_width(int distinct, int bits)
    {
        foreach (int n in new[] { 1001, 1024, 4421 })   // lengths that do and do not fill the last index byte
        {
            var t = FewFloats(distinct, n, seed: n);
            var (stored, coding) = WeightEncoder.Encode(t);
            Assert.NotNull(coding);
            Assert.Equal(WeightCodingKind.Palette, coding!.Kind);
            Assert.Equal(distinct, coding.PaletteSize);
            Assert.Equal(bits, coding.IndexBits);
            Assert.Equal(coding.StoredLength(n, 4), stored.Length);
            Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Float, n));
            var expanded = CodedWeights.Palette<float>(stored, coding.PaletteSize, coding.IndexBits, n);
            Assert.Equal(t.ToBytes(), MemoryMarshal.AsBytes(expanded.AsSpan()).ToArray());
        }
    }

    [Fact]
    public void Palette_codes_integer_tensors_too()
    {
        var t = Tensor.FromLongs(new Shape(300), Enumerable.Range(0, 300).Select(i => i % 3 == 0 ? long.MinValue : i % 3 == 1 ? long.MaxValue : 7L).ToArray());
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.Equal(WeightCodingKind.Palette, coding!.Kind);
        var expanded = CodedWeights.Palette<long>(stored, coding.PaletteSize, coding.IndexBits, 300);
        Assert.Equal(t.As<long>(), expanded);
    }

    public static TheoryData<string, int> HuffmanCases => new()
    {
        { "laplace", 151_424 },   // trained int8 weights: most near zero
        { "laplace", 1_001 },
        { "geometric", 20_000 },  // counts halving per value: unlimited codes would be up to 200 bits long
        { "padded", 4_096 },      // a packed layout with many zero bytes
    };

    [Theory]
    [MemberData(nameof(HuffmanCases))]
    public void Huffman_round_trips_with_codes_of_at_most_12_bits(string distribution, int n)
    {
        var rng = new Random(n);
        var data = new sbyte[n];
        for (int i = 0; i < n; i++)
            data[i] = distribution switch
            {
                "laplace" => (sbyte)Math.Clamp(Math.Round(-18 * Math.Log(1 - rng.NextDouble()) * (rng.Next(2) * 2 - 1)), -128, 127),
                "geometric" => (sbyte)Math.Min(200, (int)Math.Floor(-Math.Log2(1 - rng.NextDouble()))) ,
                _ => i % 4 == 3 ? (sbyte)0 : (sbyte)rng.Next(-128, 128),
            };
        if (distribution == "geometric") data[0] = -128;   // and one rare value far out
        var t = new Tensor(DataType.Int8, new Shape(n), data);
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.NotNull(coding);
        Assert.Equal(WeightCodingKind.Huffman, coding!.Kind);
        Assert.Equal(coding.StoredLength(n, 1), stored.Length);
        for (int v = 0; v < 256; v++) Assert.InRange((stored[v / 2] >> (v % 2 * 4)) & 15, 0, WeightCoding.HuffmanMaxBits);
        Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Int8, n));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(data, CodedWeights.Huffman<sbyte>(stored, n));
        _out.WriteLine($"{distribution} {n:N0}: {stored.Length:N0} bytes coded; decoded in {clock.Elapsed.TotalMilliseconds:F2} ms");
        Assert.Equal(t.ToBytes(), CodedWeights.Huffman<byte>(stored, n));
        if (distribution == "laplace" && n > 100_000) Assert.True(stored.Length < 0.85 * n, $"{stored.Length} bytes for {n}");
    }

    [Fact]
    public void Weights_stay_plain_when_no_coding_saves_enough()
    {
        // 257 distinct floats: no palette.
        var many = FewFloats(257, 2000, 1);
        Assert.Null(WeightEncoder.Encode(many).Coding);
        // Random floats (a trained layer's weights).
        Assert.Null(WeightEncoder.Encode(OnnxModelBuilder.Random(3, -1, 1, 64, 9)).Coding);
        // Small tensors: the saving is below MinSavedBytes.
        Assert.Null(WeightEncoder.Encode(FewFloats(2, 8, 1)).Coding);
        Assert.Null(WeightEncoder.Encode(new Tensor(DataType.Int32, new Shape(8), new int[8])).Coding);
        // Int32 over the whole range.
        var wide = new Tensor(DataType.Int32, new Shape(100), Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? int.MinValue + i : int.MaxValue - i).ToArray());
        Assert.Null(WeightEncoder.Encode(wide).Coding);
        // uint8 weights with 200 distinct values: an 8-bit palette is no smaller than the bytes.
        var bytes = new Tensor(DataType.UInt8, new Shape(1000), Enumerable.Range(0, 1000).Select(i => (byte)(i % 200)).ToArray());
        Assert.Null(WeightEncoder.Encode(bytes).Coding);
        // Uniform bytes: no Huffman code is shorter.
        var rng = new Random(4);
        var uniform = new Tensor(DataType.UInt8, new Shape(10_000), Enumerable.Range(0, 10_000).Select(_ => (byte)rng.Next(256)).ToArray());
        Assert.Null(WeightEncoder.Encode(uniform).Coding);
    }

    public static TheoryData<string, long, long, string> IntegerCases => new()
    {
        // type, min, max → the coding chosen (plain: none saves enough)
        { "i32", -128, 127, "offset:1:0" },
        { "i32", -129, 100, "offset:1:-1" },          // 230 values: one byte around an offset
        { "i32", -129, 200, "packed:9:-129" },        // 330 values: 9-bit fields beat 2 bytes
        { "i32", 1_000_000, 1_000_255, "offset:1:1000128" },
        { "i32", -40_000, 20_000, "offset:2:-7232" },
        { "i32", -5_000_000, 5_000_000, "offset:3:0" },
        { "i32", 100_000_000, 110_000_000, "offset:3:108388608" },
        { "i32", 0, 5_000, "packed:13:0" },
        { "i32", -20_000_000, 20_000_000, "packed:26:-20000000" },
        { "i32", int.MinValue, int.MaxValue, "plain" },
        { "i16", -100, 100, "offset:1:0" },
        { "i16", 30_000, 30_200, "offset:1:30128" },
        { "i16", 0, 1_000, "packed:10:0" },
        { "i64", -100, 100, "offset:1:0" },
        { "i64", 1L << 40, (1L << 40) + 60_000, "offset:2:1099511660544" },
        { "i64", long.MinValue, long.MinValue + 1000, "packed:10:-9223372036854775808" },
        { "i64", -2_000_000_000, 2_000_000_000, "offset:4:0" },
    };

    [Theory]
    [MemberData(nameof(IntegerCases))]
    public void Integer_codings_round_trip(string type, long min, long max, string expected)
    {
        const int n = 500;
        var rng = new Random(5);
        var values = Enumerable.Range(0, n).Select(i => i == 0 ? min : i == 1 ? max : min + (long)(rng.NextDouble() * (max - (double)min))).ToArray();
        values = values.Select(v => Math.Clamp(v, min, max)).ToArray();
        var dt = type switch { "i16" => DataType.Int16, "i32" => DataType.Int32, _ => DataType.Int64 };
        var t = Tensor.FromLongs(dt, new Shape(n), values);
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.Equal(expected, coding?.ToString() ?? "plain");
        if (coding is null) return;
        Assert.Equal(coding.StoredLength(n, dt.SizeOf()), stored.Length);
        Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, dt, n));
        bool packed = coding.Kind == WeightCodingKind.Packed;
        int width = packed ? coding.Bits : coding.StoredBytes;
        Array expanded = dt switch
        {
            DataType.Int16 => packed ? CodedWeights.PackedInt16(stored, width, checked((int)coding.Offset), n) : CodedWeights.Int16(stored, width, checked((int)coding.Offset), n),
            DataType.Int32 => packed ? CodedWeights.PackedInt32(stored, width, checked((int)coding.Offset), n) : CodedWeights.Int32(stored, width, checked((int)coding.Offset), n),
            _ => packed ? CodedWeights.PackedInt64(stored, width, coding.Offset, n) : CodedWeights.Int64(stored, width, coding.Offset, n),
        };
        Assert.Equal(t.ToLongs(), new Tensor(dt, new Shape(n), expanded).ToLongs());
    }

    [Fact]
    public void Float_bits_round_trip_through_offset_coding()
    {
        // Per-channel requantization scales: positive, within two binades, so their bits differ in the low 24.
        var rng = new Random(11);
        var scales = Enumerable.Range(0, 600).Select(_ => (float)(0.001 + 0.0019 * rng.NextDouble())).ToArray();
        var t = Tensor.FromFloats(new Shape(scales.Length), scales);
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.Equal(WeightCodingKind.Offset, coding!.Kind);
        Assert.Equal(3, coding.StoredBytes);
        Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Float, scales.Length));
        var expanded = CodedWeights.Single(stored, coding.StoredBytes, checked((int)coding.Offset), scales.Length);
        Assert.Equal(t.ToBytes(), MemoryMarshal.AsBytes(expanded.AsSpan()).ToArray());
        // Over five binades: 26-bit fields.
        var wide = Enumerable.Range(0, 600).Select(_ => (float)(0.001 * Math.Pow(2, 5 * rng.NextDouble()))).ToArray();
        var (packedBytes, packed) = WeightEncoder.Encode(Tensor.FromFloats(new Shape(600), wide));
        Assert.Equal(WeightCodingKind.Packed, packed!.Kind);
        Assert.InRange(packed.Bits, 25, 26);
        Assert.Equal(wide, CodedWeights.PackedSingle(packedBytes, packed.Bits, checked((int)packed.Offset), 600));
        // Mixed signs span the whole int32 range: plain.
        Assert.Null(WeightEncoder.Encode(Tensor.FromFloats(new Shape(600), scales.Select((v, i) => i % 2 == 0 ? v : -v).ToArray())).Coding);
    }

    [Fact]
    public void Plan_text_keeps_the_coding_and_the_stored_bytes()
    {
        var (plan, _) = PalettePlan("PlanText");
        var coded = plan.Buffers.Where(b => b.Coding is not null).ToList();
        Assert.NotEmpty(coded);
        var back = PlanText.Read(PlanText.Write(plan));
        Assert.Equal(plan.Weights, back.Weights);
        foreach (var b in coded) Assert.Equal(b.Coding, back.Buffer(b.Id).Coding);
        Assert.Contains("CodedWeights", back.Kernels);
        Assert.Equal(PlanText.Write(plan), PlanText.Write(back));
        Assert.Equal(WeightCoding.Palette(5, 4), WeightCoding.Parse("palette:5:4"));
        Assert.Equal(WeightCoding.WithOffset(2, -7), WeightCoding.Parse("offset:2:-7"));
        Assert.Equal(WeightCoding.Huffman(4000), WeightCoding.Parse("huffman:4000"));
        Assert.Equal(WeightCoding.Packed(26, -3), WeightCoding.Parse("packed:26:-3"));
        Assert.Throws<FormatException>(() => WeightCoding.Parse("zip:1:2"));
    }

    /// <summary>
    /// Float weights as a weight-only layer holds them: per channel, int8 values from a Laplace-like distribution with
    /// ±<paramref name="levels"/> present, times a random positive scale, each element the float product. The channel of
    /// element i is <paramref name="channelOf"/>(i); channels in <paramref name="zeroChannels"/> are all +0.
    /// </summary>
    private static (float[] Weights, float[] Scales, sbyte[] Values) ScaledWeights(int n, int channels, Func<int, int> channelOf, int seed,
        int levels = 127, int[]? zeroChannels = null)
    {
        var rng = new Random(seed);
        var scales = Enumerable.Range(0, channels).Select(_ => (float)(1e-3 * Math.Pow(2, 6 * rng.NextDouble()))).ToArray();
        var values = new sbyte[n];
        var seen = new bool[channels];
        for (int i = 0; i < n; i++)
        {
            int c = channelOf(i);
            double v = -levels / 6.0 * Math.Log(1 - rng.NextDouble()) * (rng.Next(2) * 2 - 1);
            values[i] = seen[c] ? (sbyte)Math.Clamp(Math.Round(v), -levels, levels) : (sbyte)(rng.Next(2) == 0 ? levels : -levels);
            seen[c] = true;
            if (zeroChannels is not null && zeroChannels.Contains(c)) values[i] = 0;
        }
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = values[i] * scales[channelOf(i)];
        return (w, scales, values);
    }

    public static TheoryData<string> ScaledLayouts => new() { "conv", "depthwise", "matrix", "panels", "one-panel" };

    [Theory]
    [MemberData(nameof(ScaledLayouts))]
    public void Scaled_coding_round_trips_weights_that_are_int8_times_channel_scales(string layout)
    {
        // (shape, channel of element i, expected stride/blocks/width)
        var (shape, channelOf, expected) = layout switch
        {
            "conv" => (new Shape(48, 16, 3, 3), (Func<int, int>)(i => i / 144), "scaled:144:48:1:"),
            "depthwise" => (new Shape(96, 1, 3, 3), i => i / 9, "scaled:9:96:1:"),
            "matrix" => (new Shape(300, 40), i => i % 40, "scaled:1:40:1:"),           // MatMul weights [K, N]: per column
            "panels" => (new Shape(3, 200, 16), i => i / 3200 * 16 + i % 16, "scaled:3200:3:16:"),   // Gemm.RunPacked's B
            _ => (new Shape(1, 500, 16), i => i % 16, "scaled:8000:1:16:"),
        };
        int n = shape.ElementCount, channels = layout switch { "conv" => 48, "depthwise" => 96, "matrix" => 40, _ => shape[0] * 16 };
        // Panels: the columns past N (here the last 5 of the last panel) are zero padding.
        int[] zero = layout == "panels" ? Enumerable.Range(43, 5).ToArray() : layout == "conv" ? new[] { 7 } : Array.Empty<int>();
        var (w, scales, values) = ScaledWeights(n, channels, channelOf, seed: n, zeroChannels: zero);
        var t = Tensor.FromFloats(shape, w);
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.NotNull(coding);
        Assert.Equal(WeightCodingKind.Scaled, coding!.Kind);
        Assert.StartsWith(expected, coding.ToString());
        Assert.Equal(coding.StoredLength(n, 4), stored.Length);
        // About a quarter of the floats' bytes (depthwise: 9 weights per 4-byte scale, a third).
        Assert.True(stored.Length < (layout == "depthwise" ? 0.35 : 0.27) * 4 * n, $"{stored.Length} bytes for {n} floats");
        Assert.Equal(WeightCoding.Parse(coding.ToString()), coding);
        Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Float, n));
        // The kernel: its two parts expanded as the generated code expands them, then multiplied.
        var scaleBytes = stored.AsSpan(0, (int)coding.ScaleBytes);
        var s = coding.ScaleCoding is null ? CodedWeights.Plain<float>(scaleBytes, coding.Channels)
            : MemoryMarshal.Cast<byte, float>(WeightEncoder.Decode(scaleBytes, coding.ScaleCoding, DataType.Float, coding.Channels)).ToArray();
        var v = coding.ValueCoding is null ? CodedWeights.Plain<sbyte>(stored.AsSpan((int)coding.ScaleBytes), n)
            : CodedWeights.Huffman<sbyte>(stored.AsSpan((int)coding.ScaleBytes), n);
        Assert.Equal(WeightCodingKind.Huffman, coding.ValueCoding?.Kind);
        var expanded = CodedWeights.Scaled(s, v, coding.Stride, coding.Blocks, coding.BlockWidth);
        Assert.Equal(t.ToBytes(), MemoryMarshal.AsBytes(expanded.AsSpan()).ToArray());
        // The values found are the ones the weights were made from, and so are the scales of the non-zero channels.
        Assert.Equal(values, v);
        for (int c = 0; c < channels; c++) if (!zero.Contains(c)) Assert.Equal(scales[c], s[c]);
    }

    [Fact]
    public void Scaled_coding_finds_channels_with_fewer_levels()
    {
        // Pair-safe or output-guided rounding may leave a channel's largest |q| below 127.
        foreach (int levels in new[] { 126, 100, 64, 9 })
        {
            var (w, _, _) = ScaledWeights(32 * 72, 32, i => i / 72, seed: levels, levels: levels);
            var t = Tensor.FromFloats(new Shape(32, 8, 3, 3), w);
            var (stored, coding) = WeightEncoder.Encode(t);
            Assert.Equal(WeightCodingKind.Scaled, coding!.Kind);
            Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Float, w.Length));
        }
    }

    [Fact]
    public void Scaled_coding_is_chosen_only_when_exact_and_smaller()
    {
        var (w, _, _) = ScaledWeights(64 * 72, 64, i => i / 72, seed: 3);
        Assert.Equal(WeightCodingKind.Scaled, WeightEncoder.Encode(Tensor.FromFloats(new Shape(64, 8, 3, 3), w)).Coding!.Kind);
        // One element one ulp off: no exact (q, s) for its channel, so not scaled.
        foreach (int at in new[] { 0, 1000, w.Length - 1 })
        {
            var off = (float[])w.Clone();
            off[at] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(off[at]) + 1);
            Assert.NotEqual(WeightCodingKind.Scaled, WeightEncoder.Encode(Tensor.FromFloats(new Shape(64, 8, 3, 3), off)).Coding?.Kind);
        }
        // −0 is not 0 · s; NaN and infinity are no product of an int8 and a finite scale.
        foreach (float bad in new[] { -0.0f, float.NaN, float.PositiveInfinity })
        {
            var odd = (float[])w.Clone();
            odd[5] = bad;
            Assert.NotEqual(WeightCodingKind.Scaled, WeightEncoder.Encode(Tensor.FromFloats(new Shape(64, 8, 3, 3), odd)).Coding?.Kind);
        }
        // Trained float weights: not scaled (and nothing else).
        Assert.Null(WeightEncoder.Encode(OnnxModelBuilder.Random(3, -1, 1, 64, 8, 3, 3)).Coding);
        // Too small to pay for the scales: 2 channels of 4 weights (8 floats = 32 bytes; scaled: 8 + 8 bytes).
        var (tiny, _, _) = ScaledWeights(8, 2, i => i / 4, seed: 1);
        Assert.Null(WeightEncoder.Encode(Tensor.FromFloats(new Shape(2, 4), tiny)).Coding);
        // An integer tensor is never scaled.
        Assert.NotEqual(WeightCodingKind.Scaled, WeightEncoder.Encode(new Tensor(DataType.Int32, new Shape(64, 72), new int[64 * 72])).Coding?.Kind);
    }

    [Fact]
    public void Scaled_coding_survives_the_plan_text()
    {
        var c = WeightCoding.Scaled(144, 48, 1, WeightCoding.Packed(26, 981_000_000), WeightCoding.Huffman(5000));
        Assert.Equal("scaled:144:48:1:packed/26/981000000:huffman/5000", c.ToString());
        Assert.Equal(c, WeightCoding.Parse(c.ToString()));
        Assert.Equal(48 * 26 / 8 + 5000, c.StoredLength(6912, 4));
        var plain = WeightCoding.Parse("scaled:1:40:1:plain:plain");
        Assert.Null(plain.ScaleCoding);
        Assert.Null(plain.ValueCoding);
        Assert.Equal(40 * 4 + 12_000, plain.StoredLength(12_000, 4));
        Assert.Throws<ArgumentException>(() => WeightCoding.Scaled(1, 4, 1, plain, null));
    }

    [Fact]
    public void A_vector_of_int16_values_times_one_scale_is_stored_as_such()
    {
        var rng = new Random(8);
        float s = 3.7e-5f;
        var q = Enumerable.Range(0, 200).Select(i => (short)(i == 17 ? -32767 : rng.Next(-32767, 32768))).ToArray();
        var b = q.Select(v => v * s).ToArray();
        var t = Tensor.FromFloats(new Shape(200), b);
        var (stored, coding) = WeightEncoder.Encode(t);
        Assert.Equal(WeightCodingKind.Scaled, coding!.Kind);
        Assert.Equal(2, coding.ValueBytes);
        Assert.EndsWith(":i16", coding.ToString());
        Assert.Equal(coding, WeightCoding.Parse(coding.ToString()));
        Assert.Equal(coding.StoredLength(200, 4), stored.Length);
        Assert.Equal(t.ToBytes(), WeightEncoder.Decode(stored, coding, DataType.Float, 200));
        var values = coding.ValueCoding is null ? CodedWeights.Plain<short>(stored.AsSpan((int)coding.ScaleBytes), 200)
            : MemoryMarshal.Cast<byte, short>(WeightEncoder.Decode(stored.AsSpan((int)coding.ScaleBytes), coding.ValueCoding, DataType.Int16, 200)).ToArray();
        Assert.Equal(q, values);
        var expanded = CodedWeights.Scaled(CodedWeights.Plain<float>(stored, 1), values, coding.Stride, coding.Blocks, coding.BlockWidth);
        Assert.Equal(t.ToBytes(), MemoryMarshal.AsBytes(expanded.AsSpan()).ToArray());
        // Not at ±32767 (a float bias as trained): left alone.
        Assert.Null(WeightEncoder.Encode(OnnxModelBuilder.Random(2, -1, 1, 200)).Coding);
    }

    /// <summary>
    /// A float model whose Conv, Gemm and MatMul weights are int8 values times channel scales (weight-only layers): the
    /// Conv's OIHW weights and both packed GEMM panels are stored scaled, and the outputs are bit-identical to the plain build.
    /// </summary>
    [Fact]
    public void A_model_with_scaled_weights_gives_the_same_bits_as_with_plain_ones()
    {
        var (conv, _, _) = ScaledWeights(24 * 8 * 9, 24, i => i / 72, seed: 1);
        var (gemm, _, _) = ScaledWeights(40 * 384, 40, i => i / 384, seed: 2);   // [N, K], transB
        var (matmul, _, _) = ScaledWeights(40 * 20, 20, i => i % 20, seed: 3);   // [K, N]
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 8, 10, 10)
            .Initializer("w", Tensor.FromFloats(new Shape(24, 8, 3, 3), conv))
            .Initializer("wg", Tensor.FromFloats(new Shape(40, 384), gemm))
            .Initializer("wm", Tensor.FromFloats(new Shape(40, 20), matmul))
            .Initializer("shape", Tensor.FromLongs(new Shape(2), new long[] { 1, 384 }))
            .Node("Conv", new[] { "x", "w" }, new[] { "c" }, ("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 2, 2 }))
            .Node("Relu", new[] { "c" }, new[] { "r" })
            .Node("Reshape", new[] { "r", "shape" }, new[] { "f" })
            .Node("Gemm", new[] { "f", "wg" }, new[] { "g" }, ("transB", 1L))
            .Node("MatMul", new[] { "g", "wm" }, new[] { "y" })
            .Output("y");
        var (_, plan) = b.Compile("ScaledWeights");
        var scaled = plan.Buffers.Where(x => x.Coding?.Kind == WeightCodingKind.Scaled).ToList();
        Assert.Equal(3, scaled.Count);
        Assert.Contains(scaled, x => x.Coding!.BlockWidth == 16);
        Assert.True(plan.Weights.Length < (conv.Length + gemm.Length + matmul.Length) * 4 / 3, $"{plan.Weights.Length} weight bytes");
        AssertSameBits(plan, OnnxModelBuilder.Random(4, -1, 1, 1, 8, 10, 10));
    }

    /// <summary>A float model whose two constants are palette-coded (a detector's prior-box decoding in miniature).</summary>
    private static (ModelPlan Plan, OnnxModelBuilder Builder) PalettePlan(string name)
    {
        var centres = FewFloats(40, 4420 * 2, 7).Reshape(new Shape(1, 4420, 2));
        var sizes = FewFloats(6, 4420 * 2, 8).Reshape(new Shape(1, 4420, 2));
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 4420, 2)
            .Initializer("sizes", sizes).Initializer("centres", centres)
            .Node("Mul", new[] { "x", "sizes" }, new[] { "scaled" })
            .Node("Add", new[] { "scaled", "centres" }, new[] { "y" })
            .Output("y");
        var (_, plan) = b.Compile(name);
        return (plan, b);
    }

    [Fact]
    public void A_model_with_palette_coded_constants_gives_the_same_bits_as_with_plain_ones()
    {
        var (plan, builder) = PalettePlan("Coded");
        var coded = plan.Buffers.Where(b => b.Coding is not null).ToList();
        Assert.Equal(2, coded.Count);
        Assert.True(plan.Weights.Length < 2 * 4420 * 2 * 4 / 3, $"{plan.Weights.Length} weight bytes");
        var x = OnnxModelBuilder.Random(9, -2, 2, 1, 4420, 2);
        AssertSameBits(plan, x);
        // And right (the Evaluate reference: NaN payload rows aside, the values are exact).
        var expected = builder.Reference(("x", x))[0].ToFloats();
        var actual = CompiledModels.Compile(new[] { plan }).Create(plan).Run(x)[0].ToFloats();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].Equals(actual[i]) || Math.Abs(expected[i] - actual[i]) <= 1e-6f * Math.Abs(expected[i]), $"element {i}: {actual[i]} vs {expected[i]}");
    }

    [SharedFact]
    public void Mnist8_int8_with_offset_coded_biases_gives_the_same_bits_as_with_plain_ones()
    {
        Directory.CreateDirectory(_dir);
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "digits.npy"), QuantizerFixtures.MnistDigits(0, 100));
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "MnistCoded", Namespace = "Test", Quantize = QuantizeMode.Int8, Calibration = _dir,
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var plan = PlanText.Read(r.PlanText!);
        Assert.Contains(plan.Buffers, b => b.Coding?.Kind == WeightCodingKind.Offset);
        foreach (var digit in QuantizerFixtures.MnistDigits(5000, 20)) AssertSameBits(plan, digit);
    }

    /// <summary>
    /// CompressWeights=false: every weight stays plain (read in place from the assembly), the plan's weights are exactly
    /// the uncoded twin of the compressed build's, and the report counts the plain bytes in both builds.
    /// </summary>
    [SharedFact]
    public void Mnist8_int8_without_weight_compression_stores_every_weight_plain()
    {
        Directory.CreateDirectory(_dir);
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "digits.npy"), QuantizerFixtures.MnistDigits(0, 100));
        CompileResult Build(bool compress) => ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "MnistPlain", Namespace = "Test", Quantize = QuantizeMode.Int8, Calibration = _dir,
            CompressWeights = compress,
        });
        var coded = Build(true);
        var plain = Build(false);
        Assert.True(plain.Success, string.Join("\n", plain.Diagnostics));
        var plan = PlanText.Read(plain.PlanText!);
        Assert.DoesNotContain(plan.Buffers, b => b.Coding is not null);
        Assert.DoesNotContain("CodedWeights", plan.Kernels);
        Assert.Equal(plan.Weights.Length, plain.QuantizationReport!.WeightBytes);
        Assert.True(plain.QuantizationReport.WeightBytes > coded.QuantizationReport!.WeightBytes,
            $"plain {plain.QuantizationReport.WeightBytes} B, coded {coded.QuantizationReport.WeightBytes} B");
        // Each weight holds the same elements as the compressed build's, expanded.
        var expanded = Uncoded(PlanText.Read(coded.PlanText!));
        static Dictionary<string, byte[]> ById(ModelPlan p) => p.Buffers.Where(b => b.Kind == BufferKind.Weight).ToDictionary(b => b.Id,
            b => p.Weights.AsSpan((int)b.Offset, b.Elements * DataTypes.ParseShortName(b.Type).SizeOf()).ToArray());
        var want = ById(expanded);
        var got = ById(plan);
        Assert.Equal(want.Keys.OrderBy(k => k, StringComparer.Ordinal), got.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (id, bytes) in want) Assert.True(bytes.AsSpan().SequenceEqual(got[id]), id);
    }

    /// <summary>Runs the plan and its uncoded twin (same weights, stored plain) from one assembly: outputs must be bit-identical.</summary>
    private static void AssertSameBits(ModelPlan plan, params Tensor[] inputs)
    {
        var plain = Uncoded(plan);
        Assert.DoesNotContain(plain.Buffers, b => b.Coding is not null);
        Assert.True(plain.Weights.Length > plan.Weights.Length);
        var asm = CompiledModels.Compile(new[] { plan, plain });
        var a = asm.Create(plan).Run(inputs);
        var b = asm.Create(plain).Run(inputs);
        Assert.Equal(a.Length, b.Length);
        for (int o = 0; o < a.Length; o++) Assert.Equal(b[o].ToBytes(), a[o].ToBytes());
    }

    /// <summary>The same plan (class name + "Plain") with every coded weight stored as its plain elements.</summary>
    private static ModelPlan Uncoded(ModelPlan plan)
    {
        var p = PlanText.Read(PlanText.Write(plan));
        p.ClassName += "Plain";
        var blob = new List<byte>(plan.Weights);
        var moved = new Dictionary<long, long>();
        for (int i = 0; i < p.Buffers.Count; i++)
        {
            var b = p.Buffers[i];
            if (b.Coding is null) continue;
            if (!moved.TryGetValue(b.Offset, out long at))
            {
                var type = DataTypeOf(b.Type);
                long stored = b.Coding.StoredLength(b.Elements, type.SizeOf());
                while (blob.Count % PlanBuilder.WeightAlignment != 0) blob.Add(0);
                at = blob.Count;
                blob.AddRange(WeightEncoder.Decode(plan.Weights.AsSpan((int)b.Offset, (int)stored), b.Coding, type, b.Elements));
                moved[b.Offset] = at;
            }
            p.Buffers[i] = new PlanBuffer(b.Id, b.Type, b.Shape, b.Elements, b.Kind, at, b.Name);
        }
        p.Weights = blob.ToArray();
        p.Kernels.Remove("CodedWeights");
        return p;
    }

    private static DataType DataTypeOf(string shortName) =>
        Enum.GetValues<DataType>().First(t => t != DataType.Undefined && t != DataType.String && t.ShortName() == shortName);
}
