using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The QDQ twins of kws-m after the quantized passes: which ops remain. The quantization parameters come from the model
/// (ONNX Runtime's quantizer), so every Conv/MatMul/Add/AveragePool/Softmax group must become one QOperator node and
/// every activation between them uint8.
/// </summary>
public sealed class QdqModelStructureTests
{
    internal static Graph Optimized(string relative)
    {
        var model = OnnxReader.ReadFile(SharedData.RequirePath(Path.Combine("models", relative)));
        var g = GraphImporter.Import(model, new Dictionary<string, int[]>(), new DiagnosticBag());
        return PassPipeline.Optimize(g, new DiagnosticBag());
    }

    internal static string Census(Graph g) =>
        string.Join(", ", g.Nodes.GroupBy(n => (n.Domain.Length == 0 ? "" : n.Domain + ".") + n.OpType)
            .OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase).Select(k => $"{k.Key}×{k.Count()}"));

    [SharedTheory]
    [InlineData("kws-m/qdq.onnx")]
    [InlineData("kws-m/static_qdq.onnx")]
    public void Kws_qdq_becomes_QOperator_ops_on_uint8(string model)
    {
        var g = Optimized(model);
        Assert.Equal(
            "com.microsoft.QLinearAdd×3, com.microsoft.QLinearAveragePool×2, com.microsoft.QLinearSoftmax×1, DequantizeLinear×1, "
            + "MaxPool×1, QLinearConv×3, QLinearMatMul×3, QuantizeLinear×1, Reshape×2, Transpose×1",
            Census(g));
        // Every value between the input's QuantizeLinear and the output's DequantizeLinear is uint8; weights stay int8.
        foreach (var n in g.Nodes.Where(n => n.OpType != "Reshape" || g.TypeOf(n.Outputs[0]).ElementType != DataType.Float))
            foreach (var o in n.Outputs)
                Assert.True(g.TypeOf(o).ElementType is DataType.UInt8 or DataType.Float, $"{n.Describe()} writes {g.TypeOf(o)}");
        foreach (var conv in g.Nodes.Where(n => n.OpType is "QLinearConv" or "QLinearMatMul"))
        {
            Assert.Equal(DataType.UInt8, g.TypeOf(conv.Inputs[0]).ElementType);
            Assert.Equal(DataType.Int8, g.Constants[conv.Inputs[3]].ElementType);
            Assert.Equal(DataType.UInt8, g.Constants[conv.Inputs[7]].ElementType);
        }
        // The Relus were folded into the Q's range by ONNX Runtime's quantizer (zero point −128): nothing to fuse.
        Assert.All(g.Nodes, n => Assert.Null(n.Activation));
        // Conv bias: the int32 DQ'd initializer, taken as is.
        Assert.All(g.Nodes.Where(n => n.OpType == "QLinearConv"), n => Assert.Equal(DataType.Int32, g.Constants[n.Inputs[8]].ElementType));
        Assert.Equal(DataType.Float, g.Outputs[0].Type.ElementType);
    }
}
