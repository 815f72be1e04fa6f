using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The quantizer's accuracy rules on small synthetic models: float-output heads (nothing after the last weight layer is
/// rounded) and empirical bias correction (no systematic error per output channel).
/// </summary>
public sealed class QuantizerHeadTests
{
    /// <summary>x [1,8,12,12] → Conv 3×3 (16) + Relu → Conv 1×1 (16) → y.</summary>
    private static Graph Model()
    {
        var b = new OnnxModelBuilder()
            .Input("x", DataType.Float, 1, 8, 12, 12)
            .Initializer("w1", OnnxModelBuilder.Random(1, -0.3f, 0.3f, 16, 8, 3, 3))
            .Initializer("b1", OnnxModelBuilder.Random(2, -0.5f, 0.5f, 16))
            .Initializer("w2", OnnxModelBuilder.Random(3, -0.3f, 0.3f, 16, 16, 1, 1))
            .Initializer("b2", OnnxModelBuilder.Random(4, -0.5f, 0.5f, 16))
            .Node("Conv", new[] { "x", "w1", "b1" }, new[] { "c1" }, ("pads", new long[] { 1, 1, 1, 1 }))
            .Node("Relu", new[] { "c1" }, new[] { "a1" })
            .Node("Conv", new[] { "a1", "w2", "b2" }, new[] { "y" })
            .Output("y");
        string path = Path.Combine(Path.GetTempPath(), "qc-heads-" + Guid.NewGuid().ToString("N") + ".onnx");
        b.Save(path);
        try
        {
            var bag = new DiagnosticBag();
            return GraphQuantizer.Unfuse(PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(path), new Dictionary<string, int[]>(), bag), bag));
        }
        finally { File.Delete(path); }
    }

    private static List<IReadOnlyList<Tensor>> Samples(int first, int count) =>
        QuantizerFixtures.AsSamples(Enumerable.Range(first, count).Select(i => OnnxModelBuilder.Random(100 + i, -2, 2, 1, 8, 12, 12))).ToList();

    private static QuantizedGraph Quantize(Graph g, QuantizerOptions options) =>
        GraphQuantizer.Quantize(g, Calibrator.Run(g, Samples(0, 8), new CalibrationOptions { Method = CalibrationMethod.Mse }), Samples(0, 8), options, new DiagnosticBag());

    private static string Ops(Graph g) => string.Join(" ", g.Nodes.Select(n => n.OpType + (n.Activation is null ? "" : "+" + n.Activation.Op)));

    /// <summary>Distinct values of the integer reference's output over a few held-out inputs.</summary>
    private static int DistinctOutputs(Graph g) =>
        Samples(50, 3).SelectMany(s => FloatInterpreter.Run(g, s)[0].ToFloats()).Distinct().Count();

    [Fact]
    public void The_last_layer_accumulates_in_int32_and_its_output_is_never_rounded_to_uint8()
    {
        var g = Model();
        var heads = Quantize(g, new QuantizerOptions());
        Assert.Equal("QuantizeLinear QLinearConv+Relu ConvInteger DynamicDequantize", Ops(heads.Graph));
        var epilogue = heads.Graph.Nodes[^1];
        Assert.Equal(heads.Graph.Outputs[0].Name, epilogue.Outputs[0]);
        Assert.DoesNotContain(heads.Graph.Nodes, n => n.OpType == "DequantizeLinear");
        // The epilogue's x_scale is the head input's quantization scale, its bias the float bias (corrected).
        var conv = heads.Graph.Nodes[1];
        Assert.Equal(heads.Graph.Constants[conv.Inputs[6]].ToFloats()[0], heads.Graph.Constants[epilogue.Inputs[1]].ToFloats()[0]);
        Assert.Equal(DataType.Float, heads.Graph.Constants[epilogue.Inputs[3]].ElementType);
        var head = heads.Report.Layers.Single(l => l.Name == g.Nodes[^1].Name);
        Assert.Null(head.OutputScale);
        Assert.Contains("float head", head.Scheme);

        // 3 × 2,304 outputs: a uint8 output has at most 256 distinct values, the float head thousands.
        Assert.True(DistinctOutputs(heads.Graph) > 2000, $"{DistinctOutputs(heads.Graph)} distinct output values");
        var rounded = Quantize(g, new QuantizerOptions { FloatHeads = false });
        Assert.Equal("QuantizeLinear QLinearConv+Relu QLinearConv DequantizeLinear", Ops(rounded.Graph));
        Assert.True(DistinctOutputs(rounded.Graph) <= 256);
    }

    /// <summary>
    /// Quad-safe weights (PairSafeWeights "quad") also go to a float-output head on QConvNchw (ConvInteger, which lowers to
    /// QConvNchw.GemmInt32 and its unsigned mode); pair-safe weights ("true") leave the head's weights plain.
    /// </summary>
    [Fact]
    public void Quad_safe_weights_reach_the_float_output_head_and_pair_safe_ones_do_not()
    {
        var g = Model();
        long[] HeadWeights(QuantizedGraph q)
        {
            var conv = q.Graph.Nodes.Single(n => n.OpType == "ConvInteger");
            Assert.True(PairSafeLayers.TakesNchw(q.Graph.TypeOf(conv.Inputs[0]).Shape, q.Graph.Constants[conv.Inputs[1]].Shape, q.Graph.TypeOf(conv.Outputs[0]).Shape));
            return q.Graph.Constants[conv.Inputs[1]].ToLongs();
        }
        var plain = HeadWeights(Quantize(g, new QuantizerOptions()));
        var pair = HeadWeights(Quantize(g, new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Always }));
        var quad = HeadWeights(Quantize(g, new QuantizerOptions { PairSafeWeights = PairSafeWeightsMode.Quad }));
        Assert.Equal(plain, pair);
        var ints = quad.Select(v => (int)v).ToArray();
        Assert.False(Q.Compiler.Ops.QConv.QConvWeights.AllQuadSafe(plain.Select(v => (int)v).ToArray(), 16, 16));
        Assert.True(Q.Compiler.Ops.QConv.QConvWeights.AllQuadSafe(ints, 16, 16));
    }

    [Fact]
    public void Bias_correction_leaves_no_mean_error_per_output_channel_on_the_calibration_set()
    {
        var g = Model();
        double MaxMeanError(QuantizedGraph q, out double rms)
        {
            var sum = new double[16];
            double sq = 0;
            long n = 0;
            foreach (var s in Samples(0, 8))
            {
                var f = FloatInterpreter.Run(g, s)[0].ToFloats();
                var y = q.Simulate(s)[0].ToFloats();
                for (int i = 0; i < f.Length; i++) { sum[i / 144] += y[i] - f[i]; sq += (y[i] - f[i]) * (double)(y[i] - f[i]); }
                n += f.Length;
            }
            rms = Math.Sqrt(sq / n);
            return sum.Max(v => Math.Abs(v / (n / 16)));
        }
        double corrected = MaxMeanError(Quantize(g, new QuantizerOptions()), out double rms);
        double plain = MaxMeanError(Quantize(g, new QuantizerOptions { BiasCorrection = false }), out double rmsPlain);
        // Corrected: the per-channel mean error is float rounding; uncorrected it is a visible part of the error.
        Assert.True(corrected < 1e-3 * rms, $"corrected mean error {corrected:G3} (rms error {rms:G3})");
        Assert.True(plain > 1e-2 * rmsPlain, $"uncorrected mean error {plain:G3} (rms error {rmsPlain:G3})");
    }
}
