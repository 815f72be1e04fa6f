using Q.Compiler.Ir;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// The passes added for the shared models (hard-swish pattern fusion, Pad folding into Conv, float16 → float32,
/// Dropout with an unread mask): each rewrite must happen (fewer layers) and keep the model's results
/// (compared with the unoptimized graph folded by the reference implementations).
/// </summary>
public sealed class NnPassTests
{
    private static OnnxModelBuilder ConvModel(long opset = 13) =>
        new OnnxModelBuilder(opset).Input("x", DataType.Float, 1, 3, 8, 8).Output("y")
            .Initializer("w", OnnxModelBuilder.Random(1, -1, 1, 4, 3, 3, 3)).Initializer("b", OnnxModelBuilder.Random(2, -1, 1, 4))
            .Node("Conv", new[] { "x", "w", "b" }, new[] { "c" }, ("pads", new[] { 1, 1, 1, 1 }));

    private static void AssertSameAsReference(OnnxModelBuilder b, string name, int layers, double tol = 1e-4)
    {
        var x = OnnxModelBuilder.Random(3, -4, 4, 1, 3, 8, 8);
        var expected = b.Reference(("x", x))[0];
        var (model, plan) = b.Compile(name);
        Assert.Equal(layers, plan.Layers.Count);
        Assert.True(OnnxModelBuilder.MaxError(expected, model.Run(x)[0]) <= tol);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void SpelledOutHardSwishBecomesAnActivationOfTheConv(int form)
    {
        var b = ConvModel(11)
            .Initializer("three", Tensor.Scalar(3)).Initializer("zero", Tensor.Scalar(0)).Initializer("six", Tensor.Scalar(6));
        if (form == 2)
            b.Node("HardSigmoid", new[] { "c" }, new[] { "h" }, ("alpha", 1f / 6), ("beta", 0.5f)).Node("Mul", new[] { "c", "h" }, new[] { "y" });
        else
        {
            b.Node("Add", new[] { "c", "three" }, new[] { "a" }).Node("Clip", new[] { "a", "zero", "six" }, new[] { "r" });
            if (form == 0) b.Node("Mul", new[] { "c", "r" }, new[] { "m" }).Node("Div", new[] { "m", "six" }, new[] { "y" });
            else b.Node("Div", new[] { "r", "six" }, new[] { "d" }).Node("Mul", new[] { "d", "c" }, new[] { "y" });
        }
        AssertSameAsReference(b, "HardSwish" + form, layers: 1);
    }

    [Fact]
    public void HardSwishIsNotFusedWhenAnIntermediateValueIsReadElsewhere()
    {
        var b = ConvModel(11).Output("r")
            .Initializer("three", Tensor.Scalar(3)).Initializer("zero", Tensor.Scalar(0)).Initializer("six", Tensor.Scalar(6))
            .Node("Add", new[] { "c", "three" }, new[] { "a" }).Node("Clip", new[] { "a", "zero", "six" }, new[] { "r" })
            .Node("Mul", new[] { "c", "r" }, new[] { "m" }).Node("Div", new[] { "m", "six" }, new[] { "y" });
        var (_, plan) = b.Compile("HardSwishShared");
        Assert.DoesNotContain(plan.Layers, l => l.Op.Contains("HardSwish"));
    }

    [Theory]
    [InlineData(0f, 1)]
    [InlineData(0.5f, 2)] // a non-zero pad value is not the Conv's zero padding
    public void ZeroPadIsFoldedIntoTheConv(float value, int layers)
    {
        var b = new OnnxModelBuilder(15).Input("x", DataType.Float, 1, 3, 8, 8).Output("y")
            .Initializer("pads", Tensor.FromLongs(new Shape(8), new long[] { 0, 0, 1, 2, 0, 0, 2, 0 }))
            .Initializer("value", Tensor.Scalar(value))
            .Initializer("w", OnnxModelBuilder.Random(1, -1, 1, 4, 3, 3, 3))
            .Node("Pad", new[] { "x", "pads", "value" }, new[] { "p" })
            .Node("Conv", new[] { "p", "w" }, new[] { "y" }, ("strides", new[] { 2, 2 }), ("pads", new[] { 0, 1, 0, 1 }));
        AssertSameAsReference(b, "PadConv" + layers, layers);
    }

    [Fact]
    public void DropoutWithAnUnreadMaskIsRemoved()
    {
        var b = ConvModel(9).Node("Dropout", new[] { "c" }, new[] { "d", "mask" }).Node("Relu", new[] { "d" }, new[] { "y" });
        AssertSameAsReference(b, "DropoutMask", layers: 1);
    }

    [Fact]
    public void ChainsOfIdentitiesAreRemoved()
    {
        var b = ConvModel().Node("Identity", new[] { "c" }, new[] { "i1" }).Node("Identity", new[] { "i1" }, new[] { "i2" })
            .Node("Dropout", new[] { "i2" }, new[] { "i3" }).Node("Relu", new[] { "i3" }, new[] { "y" });
        AssertSameAsReference(b, "IdentityChain", layers: 1);
    }

    [Fact]
    public void Float16ModelsComputeInFloat32AndKeepHalfAtTheBoundary()
    {
        var w = OnnxModelBuilder.Random(1, -1, 1, 4, 3, 3, 3);
        var half = (Tensor t) => Tensor.FromDoubles(DataType.Float16, t.Shape, t.ToDoubles());
        var b = new OnnxModelBuilder(13).Input("x", DataType.Float16, 1, 3, 8, 8).Output("y", DataType.Float16).Output("z", DataType.Float)
            .Initializer("w", half(w))
            .Node("Conv", new[] { "x", "w" }, new[] { "c" }, ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Relu", new[] { "c" }, new[] { "r" })
            .Node("Cast", new[] { "r" }, new[] { "h" }, ("to", (long)DataType.Float16))  // becomes a float cast inside
            .Node("Softmax", new[] { "h" }, new[] { "y" }, ("axis", 1))
            .Node("Cast", new[] { "y" }, new[] { "z" }, ("to", (long)DataType.Float));
        var x = half(OnnxModelBuilder.Random(3, -4, 4, 1, 3, 8, 8));
        var expected = b.Reference(("x", x));
        var (model, plan) = b.Compile("Half");
        Assert.Contains("float16 model computed in float32", plan.Notes);
        Assert.Equal("f16", plan.Inputs[0].Type);
        Assert.Equal("f16", plan.Outputs[0].Type);
        Assert.Equal("f32", plan.Outputs[1].Type);
        Assert.Contains(plan.Layers, l => l.Calls.Any(c => c.Target == "HalfConvert.ToSingle"));
        Assert.Contains(plan.Layers, l => l.Calls.Any(c => c.Target == "HalfConvert.ToHalf"));
        var actual = model.Run(x);
        Assert.Equal(DataType.Float16, actual[0].ElementType);
        Assert.True(OnnxModelBuilder.MaxError(expected[0], actual[0]) <= 1e-3); // float16 rounding of values ≤ 1
        Assert.True(OnnxModelBuilder.MaxError(expected[1], actual[1]) <= 1e-6);
    }
}
