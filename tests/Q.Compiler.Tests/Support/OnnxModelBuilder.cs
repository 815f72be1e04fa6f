using Google.Protobuf;
using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// Builds small ONNX models in memory for unit tests, and checks a compiled model against the compiler's own reference
/// implementations: the same graph with its inputs turned into initializers folds completely at import (every node's
/// Evaluate, in float64), which gives the expected outputs without ONNX Runtime.
/// </summary>
public sealed class OnnxModelBuilder
{
    private readonly global::Onnx.ModelProto _model;
    private global::Onnx.GraphProto G => _model.Graph;
    private int _nodes;

    public OnnxModelBuilder(long opset = 13)
    {
        _model = new global::Onnx.ModelProto { IrVersion = 8, ProducerName = "unit-test", Graph = new global::Onnx.GraphProto { Name = "g" } };
        _model.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = "", Version = opset });
    }

    public OnnxModelBuilder Input(string name, DataType type, params int[] dims)
    {
        G.Input.Add(Value(name, type, dims));
        return this;
    }

    /// <summary>An output; its shape is left to inference.</summary>
    public OnnxModelBuilder Output(string name, DataType type = DataType.Float)
    {
        G.Output.Add(new global::Onnx.ValueInfoProto { Name = name, Type = new global::Onnx.TypeProto { TensorType = new global::Onnx.TypeProto.Types.Tensor { ElemType = (int)type } } });
        return this;
    }

    public OnnxModelBuilder Initializer(string name, Tensor t)
    {
        G.Initializer.Add(ToProto(name, t));
        return this;
    }

    public OnnxModelBuilder Node(string op, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var n = new global::Onnx.NodeProto { OpType = op, Name = op + "_" + _nodes++ };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        foreach (var (name, value) in attributes) n.Attribute.Add(Attribute(name, value));
        G.Node.Add(n);
        return this;
    }

    public string Save(string path)
    {
        File.WriteAllBytes(path, _model.ToByteArray());
        return path;
    }

    private static global::Onnx.ValueInfoProto Value(string name, DataType type, int[] dims)
    {
        var t = new global::Onnx.TypeProto.Types.Tensor { ElemType = (int)type, Shape = new global::Onnx.TensorShapeProto() };
        foreach (var d in dims) t.Shape.Dim.Add(new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = d });
        return new global::Onnx.ValueInfoProto { Name = name, Type = new global::Onnx.TypeProto { TensorType = t } };
    }

    internal static global::Onnx.TensorProto ToProto(string name, Tensor t)
    {
        var p = new global::Onnx.TensorProto { Name = name, DataType = (int)t.ElementType, RawData = ByteString.CopyFrom(t.ToBytes()) };
        p.Dims.AddRange(t.Shape.Dims.Select(d => (long)d));
        return p;
    }

    private static global::Onnx.AttributeProto Attribute(string name, object v)
    {
        var a = new global::Onnx.AttributeProto { Name = name };
        switch (v)
        {
            case int i: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case long l: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Int; a.I = l; break;
            case float f: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case string s: a.Type = global::Onnx.AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
            case int[] ints: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ints.Select(x => (long)x)); break;
            case float[] fs: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(fs); break;
            case Tensor t: a.Type = global::Onnx.AttributeProto.Types.AttributeType.Tensor; a.T = ToProto("", t); break;
            default: throw new ArgumentException("unsupported attribute value " + v.GetType());
        }
        return a;
    }

    /// <summary>The outputs of the model with every input replaced by the given value, folded at import.</summary>
    public Tensor[] Reference(params (string Name, Tensor Value)[] inputs)
    {
        var copy = _model.Clone();
        foreach (var (name, value) in inputs)
        {
            var vi = copy.Graph.Input.Single(i => i.Name == name);
            copy.Graph.Input.Remove(vi);
            copy.Graph.Initializer.Add(ToProto(name, value));
        }
        var m = OnnxReader.Read(copy.ToByteArray(), Path.GetTempPath(), "reference.onnx");
        m = Float16ToFloat32Pass.Run(m, out _);
        var g = GraphImporter.Import(m, new Dictionary<string, int[]>(), new DiagnosticBag());
        return g.Outputs.Select(o => g.Constants.TryGetValue(o.Name, out var t) ? t
            : throw new InvalidOperationException($"output {o.Name} did not fold")).ToArray();
    }

    /// <summary>Compiles the model with the full pipeline (failing with its diagnostics if it does not compile).</summary>
    public (ModelInstance Model, ModelPlan Plan) Compile(string name)
    {
        string path = Path.Combine(Path.GetTempPath(), "qc-unit-" + name + "-" + Guid.NewGuid().ToString("N") + ".onnx");
        Save(path);
        try
        {
            var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = name, Namespace = "UnitTests" });
            if (!r.Success) throw new InvalidOperationException("model did not compile: " + string.Join("\n", r.Diagnostics));
            var plan = PlanText.Read(r.PlanText!);
            return (CompiledModels.Compile(new[] { plan }).Create(plan), plan);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Deterministic pseudo-random values in [lo, hi).</summary>
    public static Tensor Random(int seed, float lo, float hi, params int[] dims)
    {
        var rng = new Random(seed);
        var shape = new Shape(dims);
        return Tensor.FromFloats(shape, Enumerable.Range(0, shape.ElementCount).Select(_ => lo + (float)rng.NextDouble() * (hi - lo)).ToArray());
    }

    /// <summary>Largest |expected − actual| over the elements (as doubles).</summary>
    public static double MaxError(Tensor expected, Tensor actual)
    {
        var e = expected.ToDoubles(); var a = actual.ToDoubles();
        if (e.Length != a.Length) throw new InvalidOperationException($"lengths {e.Length} vs {a.Length}");
        double m = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i]) || e[i] == a[i]) continue;
            m = Math.Max(m, double.IsNaN(a[i] - e[i]) ? double.PositiveInfinity : Math.Abs(a[i] - e[i]));
        }
        return m;
    }
}
