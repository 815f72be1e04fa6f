using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Layout;

/// <summary>
/// Data-movement ops: generated kernels against the reference (Evaluate), on the cases that are easy to get wrong
/// (negative steps, clamping, reflect padding wider than the input, tiled transposes, broadcasting, empty results).
/// </summary>
public sealed class LayoutOpTests
{
    private static readonly DataType[] F32 = { DataType.Float };

    [Theory]
    [InlineData(new long[] { 0, 1, 2, 3 })]
    [InlineData(new long[] { 3, 2, 1, 0 })]
    [InlineData(new long[] { 0, 2, 3, 1 })]
    [InlineData(new long[] { 0, 3, 1, 2 })]
    [InlineData(new long[] { 1, 0, 3, 2 })]
    [InlineData(new long[] { 2, 0, 1, 3 })]
    public void TransposeMatchesReference(long[] perm)
    {
        var y = AssertKernelMatchesReference("Transpose", new NodeInput[] { Floats(new Shape(2, 3, 17, 19)) }, F32, 13, Attr("perm", perm));
        Assert.Equal(new Shape(perm.Select(p => new[] { 2, 3, 17, 19 }[p])), y[0].Shape);
    }

    [Fact]
    public void TransposeTiledPathAgreesOnMatrixTransposes()
    {
        // Last two output dimensions swap a contiguous input dimension: the tiled kernel path, with tile edges.
        var y = AssertKernelMatchesReference("Transpose", new NodeInput[] { Floats(new Shape(3, 33, 47)) }, F32, 13, Attr("perm", 0L, 2L, 1L));
        var x = Floats(new Shape(3, 33, 47)).As<float>();
        Assert.Equal(x[1 * 33 * 47 + 5 * 47 + 40], y[0].As<float>()[1 * 47 * 33 + 40 * 33 + 5]);
    }

    public static TheoryData<long[], long[], long[]?, long[]?> Slices => new()
    {
        { new long[] { 0, 0, 3 }, new long[] { 20, 10, 4 }, null, null },
        { new long[] { -1 }, new long[] { long.MinValue }, new long[] { 1 }, new long[] { -1 } },        // reverse an axis
        { new long[] { 20, 10, 4 }, new long[] { 0, 0, 1 }, new long[] { 0, 1, 2 }, new long[] { -1, -3, -1 } },
        { new long[] { 1000 }, new long[] { 1000 }, new long[] { 1 }, new long[] { 1 } },               // empty result
        { new long[] { -100, 1 }, new long[] { 100, long.MaxValue }, new long[] { 0, -1 }, new long[] { 2, 3 } },
        { new long[] { 3 }, new long[] { -100 }, new long[] { 2 }, new long[] { -2 } },                 // clamped to -1
    };

    [Theory]
    [MemberData(nameof(Slices))]
    public void SliceMatchesReferenceAndNumpy(long[] starts, long[] ends, long[]? axes, long[]? steps)
    {
        var x = Floats(new Shape(5, 7, 6));
        var inputs = new List<NodeInput?> { x, new(Longs(starts), true), new(Longs(ends), true) };
        inputs.Add(axes is null ? null : new(Longs(axes), true));
        inputs.Add(steps is null ? null : new(Longs(steps), true));
        while (inputs[^1] is null) inputs.RemoveAt(inputs.Count - 1);
        var y = AssertKernelMatchesReference("Slice", inputs, F32, 13)[0];

        // Independent check: numpy slicing semantics, element by element.
        var ranges = Enumerable.Range(0, 3).Select(d => Enumerable.Range(0, x.Shape[d]).ToList()).ToArray();
        for (int i = 0; i < starts.Length; i++)
        {
            int a = (int)(axes?[i] ?? i); if (a < 0) a += 3;
            ranges[a] = NumpySlice(x.Shape[a], starts[i], ends[i], steps?[i] ?? 1);
        }
        Assert.Equal(new Shape(ranges.Select(r => r.Count)), y.Shape);
        var expected = (from i in ranges[0] from j in ranges[1] from k in ranges[2] select (float)(i * 42 + j * 6 + k)).ToArray();
        Assert.Equal(expected, y.As<float>());
    }

    private static List<int> NumpySlice(int n, long start, long end, long step)
    {
        long s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
        var r = new List<int>();
        if (step > 0) { s = Math.Clamp(s, 0, n); e = Math.Clamp(e, 0, n); for (long i = s; i < e; i += step) r.Add((int)i); }
        else { s = Math.Clamp(s, -1, n - 1); e = Math.Clamp(e, -1, n - 1); for (long i = s; i > e; i += step) r.Add((int)i); }
        return r;
    }

    [Fact]
    public void SliceOpset1TakesAttributes()
    {
        var y = AssertKernelMatchesReference("Slice", new NodeInput[] { Floats(new Shape(4, 5)) }, F32, 1,
            Attr("starts", 1L, -3L), Attr("ends", 3L, 1000L), Attr("axes", 0L, 1L))[0];
        Assert.Equal(new Shape(2, 3), y.Shape);
        Assert.Equal(new float[] { 7, 8, 9, 12, 13, 14 }, y.As<float>());
    }

    [Theory]
    [InlineData("constant", new long[] { 1, 2, 0, 3 })]
    [InlineData("constant", new long[] { -1, 2, 1, -2 })]
    [InlineData("edge", new long[] { 2, 3, 1, 4 })]
    [InlineData("reflect", new long[] { 2, 1, 2, 2 })]
    [InlineData("reflect", new long[] { 7, 9, 5, 11 })] // wider than the input: the reflection repeats
    [InlineData("wrap", new long[] { 4, 7, 5, 9 })]
    public void PadMatchesReference(string mode, long[] pads)
    {
        var x = Floats(new Shape(3, 4));
        var y = AssertKernelMatchesReference("Pad", new NodeInput?[] { x, new(Longs(pads), true), new(Tensor.Scalar(-1.5f), true) }, F32, 19,
            Attr("mode", mode))[0];
        Assert.Equal(new Shape(3 + (int)pads[0] + (int)pads[2], 4 + (int)pads[1] + (int)pads[3]), y.Shape);
    }

    [Fact]
    public void PadReflectIsNumpyReflect()
    {
        var y = AssertKernelMatchesReference("Pad", new NodeInput?[] { Floats(new Shape(1, 3)), new(Longs(0, 5, 0, 4), true) }, F32, 13,
            Attr("mode", "reflect"))[0];
        // numpy.pad([0, 1, 2], (5, 4), 'reflect') = [1 0 1 2 1 | 0 1 2 | 1 0 1 2]: the reflection repeats with period 4.
        Assert.Equal(new float[] { 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2 }, y.As<float>());
    }

    [Fact]
    public void PadConstantValueMayBeComputedAtRunTime()
    {
        var y = RunKernels("Pad", new NodeInput?[] { Floats(new Shape(2, 2)), new(Longs(1, 0, 0, 1), true), Tensor.Scalar(9f) }, F32, 13)[0];
        Assert.Equal(new float[] { 9, 9, 9, 0, 1, 9, 2, 3, 9 }, y.As<float>());
    }

    [Fact]
    public void PadOpset2TakesAttributes()
    {
        var y = AssertKernelMatchesReference("Pad", new NodeInput[] { Floats(new Shape(2, 2)) }, F32, 2,
            Attr("pads", 0L, 1L, 0L, 0L), Attr("value", 5f))[0];
        Assert.Equal(new float[] { 5, 0, 1, 5, 2, 3 }, y.As<float>());
    }

    [Theory]
    [InlineData(0, new long[] { 2, 0, -1 })]
    [InlineData(1, new long[] { -4, 3, 3, 0 })]
    [InlineData(2, new long[] { 4 })]
    public void GatherAnyAxisNegativeIndices(int axis, long[] indices)
    {
        var x = Floats(new Shape(3, 4, 5));
        AssertKernelMatchesReference("Gather", new NodeInput[] { x, Longs(indices) }, F32, 13, Attr("axis", (long)axis));
        // Indices known at build time take the same kernel (read from the weights).
        AssertKernelMatchesReference("Gather", new NodeInput[] { x, new(Longs(indices), true) }, F32, 13, Attr("axis", (long)axis));
    }

    [Fact]
    public void GatherOutOfRangeConstantIndexIsABuildError()
    {
        string path = Write("Gather", new NodeInput[] { Floats(new Shape(3, 4)), new(Longs(3), true) }, F32, 13, false);
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M" });
        File.Delete(path);
        Assert.False(r.Success);
        Assert.Contains(r.Diagnostics, d => d.Id == "QC2004" && d.Message.Contains("out of range"));
    }

    [Fact]
    public void GatherOutOfRangeRunTimeIndexThrows()
    {
        Assert.Throws<IndexOutOfRangeException>(() =>
            RunKernels("Gather", new NodeInput[] { Floats(new Shape(3, 4)), Longs(0, 3) }, F32, 13));
    }

    [Fact]
    public void ConcatSplitRoundTrip()
    {
        var a = Floats(new Shape(2, 3, 4));
        var b = Tensor.FromFloats(new Shape(2, 1, 4), Enumerable.Range(100, 8).Select(i => (float)i).ToArray());
        var c = Tensor.FromFloats(new Shape(2, 0, 4), Array.Empty<float>());
        var y = AssertKernelMatchesReference("Concat", new NodeInput[] { a, c, b }, F32, 13, Attr("axis", -2L))[0];
        Assert.Equal(new Shape(2, 4, 4), y.Shape);
        var parts = AssertKernelMatchesReference("Split", new NodeInput?[] { y, new(Longs(3, 0, 1), true) },
            new[] { DataType.Float, DataType.Float, DataType.Float }, 13, Attr("axis", 1L));
        AssertSame(a, parts[0]);
        AssertSame(c, parts[1]);
        AssertSame(b, parts[2]);
    }

    [Fact]
    public void SplitOpset18UnevenNumOutputs()
    {
        var parts = AssertKernelMatchesReference("Split", new NodeInput[] { Floats(new Shape(7, 2)) },
            new[] { DataType.Float, DataType.Float, DataType.Float }, 18, Attr("num_outputs", 3L));
        Assert.Equal(new[] { 3, 3, 1 }, parts.Select(p => p.Shape[0]));
    }

    [Fact]
    public void ExpandAndTile()
    {
        var x = Floats(new Shape(3, 1));
        var e = AssertKernelMatchesReference("Expand", new NodeInput?[] { x, new(Longs(2, 1, 4), true) }, F32, 13)[0];
        Assert.Equal(new Shape(2, 3, 4), e.Shape);
        var t = AssertKernelMatchesReference("Tile", new NodeInput?[] { Floats(new Shape(2, 3)), new(Longs(2, 3), true) }, F32, 13)[0];
        Assert.Equal(new Shape(4, 9), t.Shape);
        Assert.Equal(new float[] { 0, 1, 2, 0, 1, 2, 0, 1, 2 }, t.As<float>().Take(9));
    }

    [Theory]
    [InlineData("DepthToSpace", "DCR")]
    [InlineData("DepthToSpace", "CRD")]
    [InlineData("SpaceToDepth", "")]
    public void DepthSpaceRoundTrips(string op, string mode)
    {
        var x = Floats(new Shape(2, 8, 3, 4));
        var attrs = new List<global::Onnx.AttributeProto> { Attr("blocksize", 2L) };
        if (mode.Length > 0) attrs.Add(Attr("mode", mode));
        var input = op == "SpaceToDepth" ? Floats(new Shape(2, 2, 6, 8)) : x;
        AssertKernelMatchesReference(op, new NodeInput[] { input }, F32, 13, attrs.ToArray());
    }

    [Fact]
    public void WhereBroadcastsThreeWays()
    {
        var c = new Tensor(DataType.Bool, new Shape(2, 1, 3), new[] { true, false, true, false, false, true });
        var a = Floats(new Shape(4, 1));
        var b = Tensor.Scalar(-1f);
        var y = AssertKernelMatchesReference("Where", new NodeInput[] { c, a, b }, F32, 16)[0];
        Assert.Equal(new Shape(2, 4, 3), y.Shape);
        Assert.Equal(new float[] { 0, -1, 0, 1, -1, 1 }, y.As<float>().Take(6));
    }

    [Fact]
    public void CenterCropPadCropsAndPads()
    {
        // Height 5 → 2 (crop starts at 1), width 3 → 6 (1 zero left, 2 right).
        var y = AssertKernelMatchesReference("CenterCropPad", new NodeInput?[] { Floats(new Shape(5, 3)), new(Longs(2, 6), true) }, F32, 18)[0];
        Assert.Equal(new Shape(2, 6), y.Shape);
        Assert.Equal(new float[] { 0, 3, 4, 5, 0, 0, 0, 6, 7, 8, 0, 0 }, y.As<float>());
    }

    [Fact]
    public void CompressWithAConstantConditionIsAGather()
    {
        var cond = new Tensor(DataType.Bool, new Shape(3), new[] { false, true, true });
        var y = AssertKernelMatchesReference("Compress", new NodeInput?[] { Floats(new Shape(2, 4)), new(cond, true) }, F32, 11, Attr("axis", 1L))[0];
        Assert.Equal(new float[] { 1, 2, 5, 6 }, y.As<float>());
        var flat = AssertKernelMatchesReference("Compress", new NodeInput?[] { Floats(new Shape(2, 2)), new(cond, true) }, F32, 11)[0];
        Assert.Equal(new float[] { 1, 2 }, flat.As<float>());
    }

    [Fact]
    public void TriluWithRunTimeDiagonal()
    {
        var x = Floats(new Shape(2, 3, 4));
        var upper = AssertKernelMatchesReference("Trilu", new NodeInput?[] { x, Tensor.FromLongs(Shape.Scalar, new long[] { -1 }) }, F32, 14)[0];
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11 }, upper.As<float>().Take(12));
        var lower = AssertKernelMatchesReference("Trilu", new NodeInput?[] { x, new(Tensor.FromLongs(Shape.Scalar, new long[] { 1 }), true) }, F32, 14, Attr("upper", 0L))[0];
        Assert.Equal(new float[] { 0, 1, 0, 0, 4, 5, 6, 0, 8, 9, 10, 11 }, lower.As<float>().Take(12));
    }

    [Fact]
    public void ScatterAndGatherNd()
    {
        var data = Floats(new Shape(3, 4));
        var idx = Tensor.FromLongs(new Shape(2, 1), new long[] { 2, -3 });
        var upd = Tensor.FromFloats(new Shape(2, 4), Enumerable.Repeat(1f, 8).ToArray());
        var nd = AssertKernelMatchesReference("ScatterND", new NodeInput[] { data, idx, upd }, F32, 18, Attr("reduction", "add"))[0];
        Assert.Equal(new float[] { 1, 2, 3, 4, 4, 5, 6, 7, 9, 10, 11, 12 }, nd.As<float>());
        var el = AssertKernelMatchesReference("ScatterElements", new NodeInput[] { data, Tensor.FromLongs(new Shape(1, 2), new long[] { 3, 0 }),
            Tensor.FromFloats(new Shape(1, 2), new[] { -1f, -2f }) }, F32, 18, Attr("axis", 1L))[0];
        Assert.Equal(new float[] { -2, 1, 2, -1 }, el.As<float>().Take(4));
        var g = AssertKernelMatchesReference("GatherND", new NodeInput[] { Floats(new Shape(2, 3, 2)), Tensor.FromLongs(new Shape(2, 1, 1), new long[] { 2, -3 }) },
            F32, 13, Attr("batch_dims", 1L))[0];
        Assert.Equal(new Shape(2, 1, 2), g.Shape);
        Assert.Equal(new float[] { 4, 5, 6, 7 }, g.As<float>());
    }
}
