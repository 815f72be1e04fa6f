using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using Tensor = Q.Compiler.Ir.Tensor;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The kws-m QOperator twins (int8 activations, real scales): each com.microsoft node's Evaluate on the inputs ONNX
/// Runtime computed for it, against ONNX Runtime's output of that node; and the whole models through the interpreter.
/// </summary>
public class KwsQOperatorTests
{
    private readonly ITestOutputHelper _out;
    public KwsQOperatorTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> Twins() => new[]
    {
        new object[] { "qoperator_add_shape" }, new object[] { "qoperator_avg_pool" }, new object[] { "qoperator_softmax" }, new object[] { "static_qoperator" },
    };

    private static Tensor FromProto(TensorProto p)
    {
        var type = (DataType)p.DataType;
        var shape = new Shape(p.Dims.Select(d => (int)d).ToArray());
        if (!p.RawData.IsEmpty) return Tensor.FromBytes(type, shape, p.RawData.Span);
        if (type == DataType.Float) return Tensor.FromFloats(shape, p.FloatData.ToArray());
        return Tensor.FromLongs(type, shape, p.Int32Data.Select(v => (long)v).ToArray());
    }

    private static Tensor FromOrt(DisposableNamedOnnxValue v, DataType type)
    {
        switch (type)
        {
            case DataType.Int8: { var t = v.AsTensor<sbyte>(); return new Tensor(type, new Shape(t.Dimensions.ToArray()), t.ToArray()); }
            case DataType.UInt8: { var t = v.AsTensor<byte>(); return new Tensor(type, new Shape(t.Dimensions.ToArray()), t.ToArray()); }
            default: { var t = v.AsTensor<float>(); return Tensor.FromFloats(new Shape(t.Dimensions.ToArray()), t.ToArray()); }
        }
    }

    [SharedTheory]
    [MemberData(nameof(Twins))]
    public void Each_com_microsoft_node_is_within_one_step_of_OnnxRuntime_on_its_real_inputs(string twin)
    {
        var model = OnnxBuilder.Load(SharedData.Model($"kws-m/{twin}.onnx"));
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(t => t.Name, FromProto);
        var ms = g.Node.Where(n => n.Domain == "com.microsoft").ToList();
        Assert.NotEmpty(ms);
        // Activation element types: the type of the node's zero points (x and y alike for these ops).
        var types = new Dictionary<string, DataType>();
        foreach (var n in ms)
        {
            var zp = n.Input.FirstOrDefault(i => inits.ContainsKey(i) && inits[i].ElementType is DataType.Int8 or DataType.UInt8);
            var t = zp is null ? DataType.Int8 : inits[zp].ElementType;
            foreach (var v in n.Input.Concat(n.Output).Where(v => v.Length > 0 && !inits.ContainsKey(v))) types[v] = t;
        }
        foreach (var v in types.Keys.Where(v => g.Output.All(o => o.Name != v)))
            g.Output.Add(OnnxBuilder.Value(v, null, (TensorProto.Types.DataType)(int)types[v]));
        string path;
        using var dir = new TempDir();
        path = OnnxBuilder.Save(model, dir.Path);
        using var session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL });
        foreach (var set in TestData.Sets(SharedData.Model("kws-m/" + twin)))
        {
            var x = TestData.Inputs(set)[0];
            using var res = session.Run(new[] { NamedOnnxValue.CreateFromTensor(g.Input[0].Name, new DenseTensor<float>((float[])x.Data, x.Shape.ToArray())) });
            var values = res.ToDictionary(r => r.Name, r => FromOrt(r, types.TryGetValue(r.Name, out var t) ? t : DataType.Float));
            foreach (var n in ms)
            {
                var ins = n.Input.Select(i => i.Length == 0 ? null : inits.TryGetValue(i, out var c) ? c : values[i]).ToArray();
                var attrs = n.Attribute.ToDictionary(a => a.Name, a => a.Type switch
                {
                    AttributeProto.Types.AttributeType.Int => AttributeValue.Int(a.I),
                    AttributeProto.Types.AttributeType.Float => AttributeValue.Float(a.F),
                    _ => AttributeValue.IntList(a.Ints),
                });
                var node = new Node(n.Name, n.OpType, n.Domain, n.Input, n.Output, attrs);
                var ctx = new OpContext(node, ins.Select(t => t?.Type).ToArray(), ins, 1);
                var ours = OpRegistry.Find(n.Domain, n.OpType)!.Evaluate(ctx, ins)[0].ToLongs();
                var ort = values[n.Output[0]].ToLongs();
                Assert.Equal(ort.Length, ours.Length);
                long maxDiff = ours.Zip(ort, (p, q) => Math.Abs(p - q)).Max();
                int exact = ours.Zip(ort, (p, q) => p == q ? 1 : 0).Sum();
                _out.WriteLine($"{twin} {Path.GetFileName(set)} {n.OpType} {n.Name}: {exact}/{ort.Length} equal, max diff {maxDiff}");
                Assert.True(maxDiff <= 1, $"{twin} {n.OpType} {n.Name}: max diff {maxDiff}");
            }
        }
    }

    [SharedTheory]
    [MemberData(nameof(Twins))]
    public void Whole_twin_through_the_interpreter_is_within_one_output_step_of_OnnxRuntime(string twin)
    {
        var r = Pipeline.ModelCompiler.Compile(new Pipeline.CompileOptions { ModelPath = SharedData.Model($"kws-m/{twin}.onnx"), ClassName = "Kws", Namespace = "Test" });
        Assert.True(r.Graph is not null, string.Join("\n", r.Diagnostics));
        foreach (var set in TestData.Sets(SharedData.Model("kws-m/" + twin)))
        {
            var outs = Interpreter.FloatInterpreter.Run(r.Graph!, TestData.Inputs(set));
            var want = TestData.Outputs(set)[0].ToFloats();
            var got = outs[0].ToFloats();
            double maxDiff = want.Zip(got, (p, q) => Math.Abs((double)p - q)).Max();
            _out.WriteLine($"{twin} {Path.GetFileName(set)}: max diff {maxDiff}");
            Assert.True(maxDiff <= 1 / 256.0 + 1e-6, $"{twin}: max diff {maxDiff} (one output step is 1/256)");
        }
    }
}
