using Q.Compiler.Ir;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Layout;

/// <summary>Cast's conversion rules and the comparison and boolean ops, kernels against the reference.</summary>
public sealed class CastAndLogicTests
{
    private static readonly float[] s_awkward =
    {
        0f, -0f, 1.5f, -1.5f, 2.5f, -2.7f, 127.9f, 128f, -129f, 255.5f, 256f, 65504f, 65520f, 1e10f, -1e10f,
        float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-8f, 3.4028235e38f, 0.1f, 6.1e-5f,
    };

    public static TheoryData<DataType> Targets => new()
    {
        DataType.Float16, DataType.Double, DataType.Int8, DataType.UInt8, DataType.Int16, DataType.UInt16,
        DataType.Int32, DataType.UInt32, DataType.Int64, DataType.UInt64, DataType.Bool,
    };

    [Theory]
    [MemberData(nameof(Targets))]
    public void CastFromFloatMatchesReference(DataType to)
    {
        var x = Tensor.FromFloats(new Shape(s_awkward.Length), s_awkward);
        var y = AssertKernelMatchesReference("Cast", new NodeInput[] { x }, new[] { to }, 13, Attr("to", (long)to))[0];
        if (to == DataType.Int32)
        {
            // Truncation toward zero, saturation, NaN → 0.
            Assert.Equal(new[] { 0, 0, 1, -1, 2, -2, 127, 128, -129, 255, 256, 65504, 65520, int.MaxValue, int.MinValue, 0, int.MaxValue, int.MinValue, 0, int.MaxValue, 0, 0 },
                y.As<int>());
        }
        if (to == DataType.Float16)
        {
            // Round to nearest even; beyond 65504 + half an ulp overflows to infinity.
            Assert.Equal((ushort)0x7BFF, y.As<ushort>()[11]);
            Assert.Equal((ushort)0x7C00, y.As<ushort>()[12]);
        }
        if (to == DataType.Bool) Assert.Equal(new[] { false, false, true, true }, y.As<bool>().Take(4));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void CastFromInt64Wraps(DataType to)
    {
        var x = Tensor.FromLongs(new Shape(8), new long[] { 0, 1, -1, 255, 256, -129, long.MaxValue, long.MinValue + 3 });
        var y = AssertKernelMatchesReference("Cast", new NodeInput[] { x }, new[] { to }, 13, Attr("to", (long)to))[0];
        if (to == DataType.UInt8) Assert.Equal(new byte[] { 0, 1, 255, 255, 0, 127, 255, 3 }, y.As<byte>());
    }

    [Fact]
    public void CastFromBoolAndHalf()
    {
        var b = new Tensor(DataType.Bool, new Shape(3), new[] { true, false, true });
        var y = AssertKernelMatchesReference("Cast", new NodeInput[] { b }, new[] { DataType.Float }, 13, Attr("to", (long)DataType.Float))[0];
        Assert.Equal(new float[] { 1, 0, 1 }, y.As<float>());
        var h = new Tensor(DataType.Float16, new Shape(4), new ushort[] { 0x3C00, 0xC000, 0x7C00, 0x7E00 }); // 1, -2, inf, NaN
        var f = AssertKernelMatchesReference("Cast", new NodeInput[] { h }, new[] { DataType.Int16 }, 13, Attr("to", (long)DataType.Int16))[0];
        Assert.Equal(new short[] { 1, -2, short.MaxValue, 0 }, f.As<short>());
    }

    [Fact]
    public void CastLikeTakesTheSecondInputsType()
    {
        var y = AssertKernelMatchesReference("CastLike", new NodeInput[] { Tensor.FromFloats(new Shape(2), new[] { 1.9f, -1.9f }), new(Longs(0), true) },
            new[] { DataType.Int64 }, 15)[0];
        Assert.Equal(new long[] { 1, -1 }, y.As<long>());
    }

    [Theory]
    [InlineData("Equal")]
    [InlineData("Less")]
    [InlineData("LessOrEqual")]
    [InlineData("Greater")]
    [InlineData("GreaterOrEqual")]
    public void ComparisonsBroadcastAndHandleNaN(string op)
    {
        var a = Tensor.FromFloats(new Shape(2, 3), new[] { 1f, float.NaN, 3f, -0f, 5f, 6f });
        var b = Tensor.FromFloats(new Shape(3), new[] { 1f, float.NaN, 0f });
        var y = AssertKernelMatchesReference(op, new NodeInput[] { a, b }, new[] { DataType.Bool }, 13)[0];
        Assert.False(y.As<bool>()[1]); // NaN compares false, even to NaN
        var i = Tensor.FromLongs(new Shape(3), new[] { long.MaxValue, long.MinValue, 5 });
        var j = Tensor.FromLongs(new Shape(3), new[] { long.MaxValue - 1, long.MinValue, 5 });
        AssertKernelMatchesReference(op, new NodeInput[] { i, j }, new[] { DataType.Bool }, 13);
    }

    [Theory]
    [InlineData("And")]
    [InlineData("Or")]
    [InlineData("Xor")]
    public void BooleanOps(string op)
    {
        var a = new Tensor(DataType.Bool, new Shape(2, 2), new[] { true, true, false, false });
        var b = new Tensor(DataType.Bool, new Shape(2), new[] { true, false });
        var y = AssertKernelMatchesReference(op, new NodeInput[] { a, b }, new[] { DataType.Bool }, 7)[0];
        bool[] expected = op switch
        {
            "And" => new[] { true, false, false, false },
            "Or" => new[] { true, true, true, false },
            _ => new[] { false, true, true, false },
        };
        Assert.Equal(expected, y.As<bool>());
        AssertKernelMatchesReference("Not", new NodeInput[] { a }, new[] { DataType.Bool }, 1);
    }

    [Fact]
    public void ModSignFollowsDivisorUnlessFmod()
    {
        var a = new Tensor(DataType.Int32, new Shape(4), new[] { 7, -7, 7, -7 });
        var b = new Tensor(DataType.Int32, new Shape(4), new[] { 3, 3, -3, -3 });
        var py = AssertKernelMatchesReference("Mod", new NodeInput[] { a, b }, new[] { DataType.Int32 }, 13)[0];
        Assert.Equal(new[] { 1, 2, -2, -1 }, py.As<int>());
        var c = AssertKernelMatchesReference("Mod", new NodeInput[] { a, b }, new[] { DataType.Int32 }, 13, Attr("fmod", 1L))[0];
        Assert.Equal(new[] { 1, -1, 1, -1 }, c.As<int>());
    }
}
