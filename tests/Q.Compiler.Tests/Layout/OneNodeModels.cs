using Google.Protobuf;
using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Layout;

/// <summary>One input of a one-node test model: a value, and whether it is an initializer (known at build time) or a graph input.</summary>
internal sealed record NodeInput(Tensor Value, bool Constant = false)
{
    public static implicit operator NodeInput(Tensor t) => new(t);
}

/// <summary>
/// Builds one-node ONNX models in memory and checks the generated kernels against the reference implementation:
/// the same node is compiled twice, once with its data inputs at run time (kernels) and once with every input an
/// initializer, so import folds it with the op's Evaluate (the reference). Data movement must match exactly.
/// </summary>
internal static class OneNodeModels
{
    public static AttributeProto Attr(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Attr(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    public static AttributeProto Attr(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };
    public static AttributeProto Attr(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static TensorProto ToProto(string name, Tensor t)
    {
        var p = new TensorProto { Name = name, DataType = (int)t.ElementType, RawData = ByteString.CopyFrom(t.ToBytes()) };
        p.Dims.AddRange(t.Shape.Dims.Select(d => (long)d));
        return p;
    }

    private static ValueInfoProto Value(string name, DataType type, Shape? shape)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (shape is not null)
        {
            tt.Shape = new TensorShapeProto();
            foreach (int d in shape.Dims) tt.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }

    /// <summary>Writes a model with one node; inputs named in0, in1, … ("" for omitted optional ones); outputs out0, ….</summary>
    public static string Write(string op, IReadOnlyList<NodeInput?> inputs, DataType[] outputTypes, int opset, bool allConstant,
        params AttributeProto[] attributes)
    {
        var g = new GraphProto { Name = "g" };
        var node = new NodeProto { OpType = op, Name = op + "_node" };
        for (int i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (input is null) { node.Input.Add(""); continue; }
            string name = "in" + i;
            node.Input.Add(name);
            if (input.Constant || allConstant) g.Initializer.Add(ToProto(name, input.Value));
            else g.Input.Add(Value(name, input.Value.ElementType, input.Value.Shape));
        }
        for (int o = 0; o < outputTypes.Length; o++)
        {
            node.Output.Add("out" + o);
            g.Output.Add(Value("out" + o, outputTypes[o], null));
        }
        node.Attribute.AddRange(attributes);
        g.Node.Add(node);
        var m = new ModelProto { IrVersion = 8, Graph = g, ProducerName = "q-tests" };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        string path = Path.Combine(Path.GetTempPath(), "qc-layout-tests", Guid.NewGuid().ToString("N") + ".onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, m.ToByteArray());
        return path;
    }

    /// <summary>The generated code's outputs (data inputs at run time).</summary>
    public static Tensor[] RunKernels(string op, IReadOnlyList<NodeInput?> inputs, DataType[] outputTypes, int opset, params AttributeProto[] attributes)
    {
        string path = Write(op, inputs, outputTypes, opset, allConstant: false, attributes);
        try
        {
            var (asm, _) = CompiledModels.CompileModel(path);
            return asm.Create().Run(inputs.Where(i => i is not null && !i.Constant).Select(i => i!.Value).ToArray());
        }
        finally { File.Delete(path); }
    }

    /// <summary>The reference outputs: every input an initializer, so import folds the node with its Evaluate.</summary>
    public static Tensor[] Reference(string op, IReadOnlyList<NodeInput?> inputs, DataType[] outputTypes, int opset, params AttributeProto[] attributes)
    {
        string path = Write(op, inputs, outputTypes, opset, allConstant: true, attributes);
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M", Namespace = "T" });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            Assert.Empty(r.Graph!.Nodes); // folded completely
            return r.Graph.Outputs.Select(o => r.Graph.Constants[o.Name]).ToArray();
        }
        finally { File.Delete(path); }
    }

    /// <summary>Compiles with run-time data and with everything constant, and asserts both give the same tensors.</summary>
    public static Tensor[] AssertKernelMatchesReference(string op, IReadOnlyList<NodeInput?> inputs, DataType[] outputTypes, int opset,
        params AttributeProto[] attributes)
    {
        var expected = Reference(op, inputs, outputTypes, opset, attributes);
        var actual = RunKernels(op, inputs, outputTypes, opset, attributes);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) AssertSame(expected[i], actual[i]);
        return actual;
    }

    public static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.ElementType, actual.ElementType);
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(expected.Data.Cast<object>().ToArray(), actual.Data.Cast<object>().ToArray());
    }

    public static Tensor Floats(Shape s) => Tensor.FromFloats(s, Enumerable.Range(0, s.ElementCount).Select(i => (float)i).ToArray());

    public static Tensor Longs(params long[] v) => Tensor.FromLongs(new Shape(v.Length), v);
}
