using Google.Protobuf;
using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Layout.OneNodeModels;

namespace Q.Compiler.Tests.Layout;

/// <summary>Shape-computing subgraphs (what exporters write for dynamic reshapes) fold away completely at build time.</summary>
public sealed class FoldingTests
{
    [Fact]
    public void ShapeGatherConcatReshapeFoldsToAView()
    {
        // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the PyTorch "x.view(x.size(0), -1)" pattern.
        var g = new GraphProto { Name = "g" };
        var tt = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = new TensorShapeProto() };
        tt.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (int d in new[] { 3, 4, 5 }) tt.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        g.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = tt } });
        g.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        g.Initializer.Add(ToProto("zero", Tensor.FromLongs(Shape.Scalar, new long[] { 0 })));
        g.Initializer.Add(ToProto("minus1", Longs(-1)));
        g.Initializer.Add(ToProto("axes0", Longs(0)));
        NodeProto N(string op, string[] ins, string @out, params AttributeProto[] attrs)
        {
            var n = new NodeProto { OpType = op, Name = op };
            n.Input.AddRange(ins); n.Output.Add(@out); n.Attribute.AddRange(attrs);
            return n;
        }
        g.Node.Add(N("Shape", new[] { "x" }, "s"));
        g.Node.Add(N("Gather", new[] { "s", "zero" }, "n", Attr("axis", 0L)));
        g.Node.Add(N("Unsqueeze", new[] { "n", "axes0" }, "n1"));
        g.Node.Add(N("Concat", new[] { "n1", "minus1" }, "shape", Attr("axis", 0L)));
        g.Node.Add(N("Reshape", new[] { "x", "shape" }, "r"));
        g.Node.Add(N("Relu", new[] { "r" }, "y"));
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        string path = Path.Combine(Path.GetTempPath(), "qc-fold-" + Guid.NewGuid().ToString("N") + ".onnx");
        File.WriteAllBytes(path, m.ToByteArray());
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", InputShapes = "x=2x3x4x5" });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            Assert.Equal(new[] { "Reshape", "Relu" }, r.Graph!.Nodes.Select(n => n.OpType));
            Assert.Equal(new Shape(2, 60), r.Graph.TypeOf("y").Shape);
            // The Reshape is a view: the only kernel call is the Relu.
            Assert.Single(r.Plan!.Layers);

            var (asm, _) = CompiledModels.CompileModel(path, "x=2x3x4x5");
            var x = Tensor.FromFloats(new Shape(2, 3, 4, 5), Enumerable.Range(0, 120).Select(i => i % 7 - 3f).ToArray());
            Assert.Equal(x.As<float>().Select(v => Math.Max(v, 0)), asm.Create().Run(x)[0].As<float>());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ShapeSizeAndConstantsFoldFromTypes()
    {
        var x = Floats(new Shape(2, 3, 4));
        var s = Reference("Shape", new NodeInput[] { x }, new[] { DataType.Int64 }, 15, Attr("start", -2L))[0];
        Assert.Equal(new long[] { 3, 4 }, s.As<long>());
        var n = Reference("Size", new NodeInput[] { x }, new[] { DataType.Int64 }, 13)[0];
        Assert.Equal(24L, n.As<long>()[0]);
        var r = Reference("Range", new NodeInput[] { Tensor.Scalar(1f), Tensor.Scalar(2f), Tensor.Scalar(0.25f) }, new[] { DataType.Float }, 11)[0];
        Assert.Equal(new[] { 1f, 1.25f, 1.5f, 1.75f }, r.As<float>());
        var value = new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = ToProto("v", Tensor.FromLongs(new Shape(1), new long[] { 7 })) };
        var c = Reference("ConstantOfShape", new NodeInput[] { Longs(2, 2) }, new[] { DataType.Int64 }, 9, value)[0];
        Assert.Equal(new long[] { 7, 7, 7, 7 }, c.As<long>());
    }
}
