using Q.Compiler.Ir;
using Q.Compiler.Kernels;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// The neural-network ops on shapes the ONNX node tests do not reach: reductions over non-adjacent axes and with
/// long strided rows (vector bodies and scalar tails), softmax before and after opset 13, strided ArgMax with ties,
/// unfolded BatchNormalization, ConvTranspose with every geometry attribute, resize kernels. Each compiled model is
/// compared with the compiler's float64 reference (the same graph folded at import).
/// </summary>
public sealed class NnOpUnitTests
{
    private static void AssertMatchesReference(OnnxModelBuilder b, string name, double tol, params (string Name, Tensor Value)[] inputs)
    {
        var expected = b.Reference(inputs);
        var (model, _) = b.Compile(name);
        var actual = model.Run(inputs.Select(i => i.Value).ToArray());
        for (int o = 0; o < expected.Length; o++)
        {
            Assert.Equal(expected[o].Shape, actual[o].Shape);
            double err = OnnxModelBuilder.MaxError(expected[o], actual[o]);
            Assert.True(err <= tol, $"{name} output {o}: max error {err:G3} > {tol:G3}");
        }
    }

    [Theory]
    [InlineData("ReduceSum", new[] { 2, 3, 4 }, new[] { 0, 2 }, 1)]          // two reduced blocks: the generic kernel
    [InlineData("ReduceMean", new[] { 2, 3, 4, 5 }, new[] { 1, 3 }, 0)]
    [InlineData("ReduceMean", new[] { 2, 6, 10 }, new[] { 1 }, 1)]
    [InlineData("ReduceMax", new[] { 3, 19 }, new[] { 0 }, 1)]               // rows of 19: vector body + scalar tail
    [InlineData("ReduceMin", new[] { 2, 7, 11 }, new[] { 1 }, 0)]
    [InlineData("ReduceLogSumExp", new[] { 2, 5, 11 }, new[] { 1 }, 1)]      // strided log-sum-exp with its scratch row
    [InlineData("ReduceL2", new[] { 4, 37 }, new[] { 1 }, 1)]
    [InlineData("ReduceSumSquare", new[] { 3, 4, 9 }, new[] { 0, 1 }, 0)]
    [InlineData("ReduceProd", new[] { 2, 3, 5 }, new[] { 2 }, 1)]
    [InlineData("ReduceL1", new[] { 6, 3 }, new[] { -1 }, 1)]
    [InlineData("ReduceLogSum", new[] { 2, 9, 3 }, new[] { 1 }, 1)]
    public void ReductionsMatchTheReference(string op, int[] dims, int[] axes, int keepdims)
    {
        // Axes as an attribute (opset 13 for all but ReduceSum) and as an input (ReduceSum, opset 13).
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, dims).Output("y");
        if (op == "ReduceSum")
            b.Initializer("axes", Tensor.FromLongs(new Shape(axes.Length), axes.Select(a => (long)a).ToArray()))
             .Node(op, new[] { "x", "axes" }, new[] { "y" }, ("keepdims", keepdims));
        else
            b.Node(op, new[] { "x" }, new[] { "y" }, ("axes", axes), ("keepdims", keepdims));
        float lo = op is "ReduceProd" ? 0.5f : op is "ReduceLogSum" ? 0.1f : -3f;
        AssertMatchesReference(b, op, 2e-5, ("x", OnnxModelBuilder.Random(1, lo, 1.5f, dims)));
    }

    [Theory]
    [InlineData("Softmax", 11)]
    [InlineData("Softmax", 13)]
    [InlineData("LogSoftmax", 11)]
    [InlineData("LogSoftmax", 13)]
    public void SoftmaxFollowsTheOpsetsAxisSemantics(string op, int opset)
    {
        // Before opset 13 axis=1 of [2,3,11] normalises over 33 values per batch; from 13 over the 3 values of axis 1, 11 apart.
        var b = new OnnxModelBuilder(opset).Input("x", DataType.Float, 2, 3, 11).Output("y").Node(op, new[] { "x" }, new[] { "y" }, ("axis", 1));
        var x = OnnxModelBuilder.Random(2, -20, 20, 2, 3, 11);
        AssertMatchesReference(b, op + opset, 1e-5, ("x", x));
        var y = b.Reference(("x", x))[0].ToDoubles();
        if (op == "Softmax")
        {
            double firstBatch = y.Take(33).Sum(), firstColumn = y[0] + y[11] + y[22];
            Assert.Equal(1.0, opset < 13 ? firstBatch : firstColumn, 5);
        }
    }

    [Theory]
    [InlineData("ArgMax", 0)]
    [InlineData("ArgMax", 1)]
    [InlineData("ArgMin", 0)]
    [InlineData("ArgMin", 1)]
    public void ArgExtremesBreakTiesAsAsked(string op, int last)
    {
        // Values from a small set so that ties are common; axis 1 of [2,6,5] is strided.
        var rng = new Random(3);
        var x = Tensor.FromFloats(new Shape(2, 6, 5), Enumerable.Range(0, 60).Select(_ => (float)rng.Next(3)).ToArray());
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, 2, 6, 5).Output("y", DataType.Int64)
            .Node(op, new[] { "x" }, new[] { "y" }, ("axis", 1), ("keepdims", 0), ("select_last_index", last));
        AssertMatchesReference(b, op + last, 0, ("x", x));
    }

    [Theory]
    [InlineData(new[] { 1, 3, 4, 5 })]
    [InlineData(new[] { 2, 13 })]
    public void BatchNormalizationThatCannotBeFoldedIsAPerChannelAffineMap(int[] dims)
    {
        int c = dims[1];
        var b = new OnnxModelBuilder(15).Input("x", DataType.Float, dims).Output("y")
            .Initializer("g", OnnxModelBuilder.Random(4, 0.5f, 2, c)).Initializer("b", OnnxModelBuilder.Random(5, -1, 1, c))
            .Initializer("m", OnnxModelBuilder.Random(6, -1, 1, c)).Initializer("v", OnnxModelBuilder.Random(7, 0.1f, 2, c))
            .Node("BatchNormalization", new[] { "x", "g", "b", "m", "v" }, new[] { "y" }, ("epsilon", 1e-3f));
        var (_, plan) = b.Compile("Bn" + dims.Length);
        Assert.Contains(plan.Layers, l => l.Calls.Any(k => k.Target == "ChannelAffine.Run"));
        AssertMatchesReference(b, "Bn" + dims.Length, 1e-5, ("x", OnnxModelBuilder.Random(8, -2, 2, dims)));
    }

    [Theory]
    [InlineData(2, 1, 1, 0, 1, false)]
    [InlineData(2, 2, 1, 1, 2, true)]
    [InlineData(3, 1, 2, 0, 1, false)]
    [InlineData(1, 2, 1, 0, 2, true)]
    public void ConvTransposeHandlesStridesPadsGroupsAndDilations(int stride, int group, int dilation, int outputPadding, int pad, bool relu)
    {
        // x [1,4,5,6], W [4, 6/group, 3, 3].
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, 1, 4, 5, 6).Output("y")
            .Initializer("w", OnnxModelBuilder.Random(9, -1, 1, 4, 6 / group, 3, 3)).Initializer("b", OnnxModelBuilder.Random(10, -1, 1, 6))
            .Node("ConvTranspose", new[] { "x", "w", "b" }, new[] { relu ? "t" : "y" },
                ("strides", new[] { stride, stride }), ("group", group), ("dilations", new[] { dilation, dilation }),
                ("output_padding", new[] { outputPadding, outputPadding }), ("pads", new[] { pad, 0, pad, 1 }));
        if (relu) b.Node("Relu", new[] { "t" }, new[] { "y" });
        AssertMatchesReference(b, $"ConvT{stride}{group}{dilation}{outputPadding}{pad}{relu}", 1e-4, ("x", OnnxModelBuilder.Random(11, -1, 1, 1, 4, 5, 6)));
    }

    [Theory]
    [InlineData("linear", "half_pixel", new long[] { 1, 2, 9, 13 })]
    [InlineData("linear", "align_corners", new long[] { 1, 2, 3, 4 })]
    [InlineData("cubic", "pytorch_half_pixel", new long[] { 1, 2, 10, 14 })]
    [InlineData("nearest", "asymmetric", new long[] { 2, 2, 3, 9 })]          // nearest may resize any axis
    public void ResizeMatchesTheReference(string mode, string coordinates, long[] sizes)
    {
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float, 1, 2, 5, 7).Output("y")
            .Initializer("sizes", Tensor.FromLongs(new Shape(4), sizes))
            .Node("Resize", new[] { "x", "", "", "sizes" }, new[] { "y" }, ("mode", mode), ("coordinate_transformation_mode", coordinates));
        AssertMatchesReference(b, "Resize" + mode + coordinates.Replace("_", ""), 1e-5, ("x", OnnxModelBuilder.Random(12, -1, 1, 1, 2, 5, 7)));
    }

    [Fact]
    public void NearestResizeWorksOnBytes()
    {
        var x = new Tensor(DataType.UInt8, new Shape(1, 1, 3, 4), Enumerable.Range(0, 12).Select(i => (byte)(i * 20)).ToArray());
        var b = new OnnxModelBuilder(13).Input("x", DataType.UInt8, 1, 1, 3, 4).Output("y", DataType.UInt8)
            .Initializer("scales", Tensor.FromFloats(new Shape(4), new[] { 1f, 1f, 2f, 1.5f }))
            .Node("Resize", new[] { "x", "", "scales" }, new[] { "y" }, ("mode", "nearest"));
        AssertMatchesReference(b, "ResizeBytes", 0, ("x", x));
    }

    [Fact]
    public void VectorLoopsMatchScalarSumsAtEveryLength()
    {
        var rng = new Random(13);
        for (int n = 0; n <= 40; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            double sum = x.Sum(v => (double)v), sq = x.Sum(v => (double)v * v);
            Assert.Equal(sum, VectorMath.Sum(x), 4);
            Assert.Equal(sq, VectorMath.SumSquares(x), 4);
            Assert.Equal(n == 0 ? float.NegativeInfinity : x.Max(), VectorMath.Max(x));
            Assert.Equal(n == 0 ? float.PositiveInfinity : x.Min(), VectorMath.Min(x));
            var y = new float[n];
            VectorMath.Affine(x, y, 3, -1);
            for (int i = 0; i < n; i++) Assert.Equal(3 * x[i] - 1, y[i], 5);
            var acc = x.Select(v => -v).ToArray();
            VectorMath.MaxInto(x, acc);
            for (int i = 0; i < n; i++) Assert.Equal(Math.Abs(x[i]), acc[i]);
        }
    }
}

/// <summary>The float16 boundary conversions on every float16 bit pattern.</summary>
public sealed class HalfConvertTests
{
    [Fact]
    public void ToSingleIsExactForEveryHalf()
    {
        // All 65,536 patterns in one span (vector body), then again offset by 3 (scalar head and tail).
        var h = Enumerable.Range(0, 65536).Select(i => BitConverter.UInt16BitsToHalf((ushort)i)).ToArray();
        foreach (int skip in new[] { 0, 3 })
        {
            var src = h.AsSpan(skip);
            var y = new float[src.Length];
            HalfConvert.ToSingle(src, y);
            for (int i = 0; i < y.Length; i++)
            {
                float want = (float)src[i];
                if (float.IsNaN(want)) Assert.True(float.IsNaN(y[i]), $"bits {i + skip:x4}");
                else Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(y[i]), $"bits {i + skip:x4}: {y[i]} instead of {want}");
            }
        }
    }

    [Fact]
    public void ToHalfRoundsToNearestEven()
    {
        var x = new[] { 1f, 1.0004883f, 1.0014648f, 65504f, 65520f, -0f, 5.96e-8f, float.NaN };
        var y = new Half[x.Length];
        HalfConvert.ToHalf(x, y);
        for (int i = 0; i < x.Length; i++) Assert.Equal(((Half)x[i]).ToString(), y[i].ToString());
    }
}
