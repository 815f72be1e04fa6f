using System.Buffers.Binary;
using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The documented workflow on real data: MNIST IDX digits → one stacked .npy → calibration of mnist-8 (imported and
/// optimized as the compiler does), with every method.
/// </summary>
public sealed class MnistCalibrationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qc-mnist-calib-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    /// <summary>The first <paramref name="count"/> digits as float32 0..255, shape [count, 1, 28, 28], written as .npy.</summary>
    internal static void WriteDigitsNpy(string idxPath, int count, string npyPath)
    {
        var idx = File.ReadAllBytes(idxPath);
        Assert.Equal(0x803, BinaryPrimitives.ReadInt32BigEndian(idx));
        int rows = BinaryPrimitives.ReadInt32BigEndian(idx.AsSpan(8)), cols = BinaryPrimitives.ReadInt32BigEndian(idx.AsSpan(12));
        var pixels = idx.AsSpan(16, count * rows * cols).ToArray().Select(b => (float)b).ToArray();
        var data = new byte[pixels.Length * 4];
        Buffer.BlockCopy(pixels, 0, data, 0, data.Length);
        Directory.CreateDirectory(Path.GetDirectoryName(npyPath)!);
        File.WriteAllBytes(npyPath, CalibrationDataTests.Npy("<f4", new[] { count, 1, rows, cols }, data));
    }

    [SharedFact]
    public void Mnist8_calibrates_from_IDX_digits_with_every_method()
    {
        WriteDigitsNpy(Path.Combine(SharedData.Root, "datasets", "mnist", "images-idx3-ubyte"), 10, Path.Combine(_dir, "digits.npy"));
        var bag = new DiagnosticBag();
        var graph = PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(SharedData.Model("mnist-8/model.onnx")),
            new Dictionary<string, int[]>(), bag), bag);
        var set = CalibrationDataSet.Open(_dir, graph.Inputs);
        Assert.Equal(10, set.Count);

        var stats = Calibrator.Collect(graph, set, new CalibrationOptions(), histograms: true);
        Assert.Equal(10, stats.Samples);
        var minmax = new CalibrationResult(stats.Histograms, Calibrator.Ranges(stats, new CalibrationOptions { Method = CalibrationMethod.MinMax }), 10);
        Assert.Equal(minmax.Ranges[graph.Outputs[0].Name].ToString(),
            Calibrator.Run(graph, set, new CalibrationOptions { Method = CalibrationMethod.MinMax }).Ranges[graph.Outputs[0].Name].ToString());
        Assert.Equal(new TensorRange(0, 255).ToString(), minmax.Ranges[graph.Inputs[0].Name].ToString());
        // Every node output is calibrated; those with a fused Relu never go below 0.
        foreach (var node in graph.Nodes)
        {
            Assert.True(minmax.Ranges.ContainsKey(node.Outputs[0]), node.Outputs[0]);
            if (node.Activation?.Op == "Relu") Assert.True(minmax.Ranges[node.Outputs[0]].Min >= 0);
        }
        foreach (var method in new[] { CalibrationMethod.Percentile, CalibrationMethod.Entropy, CalibrationMethod.Mse })
        {
            foreach (var kv in Calibrator.Ranges(stats, new CalibrationOptions { Method = method }))
            {
                var full = minmax.Ranges[kv.Key];
                Assert.InRange(kv.Value.Max, Math.Min(0, full.Max), full.Max);
                Assert.InRange(kv.Value.Min, full.Min, Math.Max(0, full.Min));
                var p = QuantParams.AsymmetricUInt8(kv.Value.Min, kv.Value.Max);
                Assert.InRange(p.ZeroPoint, 0, 255);
            }
        }
    }

    /// <summary>
    /// PairSafeWeights="true" reaches the quantizer and the lowering: mnist-8's first convolution (not pair-safe with plain
    /// weights) runs QConvNchw's unsigned mode, and the compiled model still equals its integer reference bit for bit.
    /// </summary>
    [SharedFact]
    public void PairSafeWeights_option_selects_the_unsigned_QConvNchw_mode()
    {
        WriteDigitsNpy(Path.Combine(SharedData.Root, "datasets", "mnist", "images-idx3-ubyte"), 32, Path.Combine(_dir, "digits.npy"));
        CompileResult Build(PairSafeWeightsMode pairSafe)
        {
            var r = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "M", Namespace = "T",
                Quantize = QuantizeMode.Int8, Calibration = _dir, PairSafeWeights = pairSafe,
            });
            Assert.True(r.Success, string.Join("\n", r.Diagnostics));
            return r;
        }
        const string unsignedMode = "pair-safe weights: raw uint8 activations, no sign trick";
        Assert.DoesNotContain(unsignedMode, Build(PairSafeWeightsMode.Never).PlanText);
        var on = Build(PairSafeWeightsMode.Always);
        Assert.Contains(unsignedMode, on.PlanText);
        var plan = PlanText.Read(on.PlanText!);
        var model = CompiledModels.Compile(new[] { plan }).Create(plan);
        foreach (var sample in CalibrationDataSet.Open(_dir, on.Graph!.Inputs).Take(4))
        {
            Assert.Equal(FloatInterpreter.Run(on.Graph!, sample)[0].ToFloats(), model.Run(sample[0])[0].ToFloats());
        }

        // PairSafeWeights="quad": the same unsigned mode, every block of the first convolution pairs its quads (the
        // weights are quad-safe), and the compiled model still equals its integer reference bit for bit.
        var quad = Build(PairSafeWeightsMode.Quad);
        Assert.Contains(unsignedMode, quad.PlanText);
        Assert.Contains(", quad-safe conv weights", quad.QuantizationReport!.SummaryLine);
        var quadPlan = PlanText.Read(quad.PlanText!);
        var quadModel = CompiledModels.Compile(new[] { quadPlan }).Create(quadPlan);
        foreach (var sample in CalibrationDataSet.Open(_dir, quad.Graph!.Inputs).Take(4))
            Assert.Equal(FloatInterpreter.Run(quad.Graph!, sample)[0].ToFloats(), quadModel.Run(sample[0])[0].ToFloats());
        Assert.NotEqual(on.PlanText, quad.PlanText);

        // The default, auto: on these 32 digits pair-safe weights keep the output above the floor (PairSafeChoice), so the
        // build takes them, the plan runs the unsigned mode, and the report says why.
        var auto = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model("mnist-8/model.onnx"), ClassName = "M", Namespace = "T", Quantize = QuantizeMode.Int8, Calibration = _dir,
        });
        Assert.True(auto.Success, string.Join("\n", auto.Diagnostics));
        var note = Assert.Single(auto.QuantizationReport!.Notes, n => n.StartsWith("pair-safe weights (auto)", StringComparison.Ordinal));
        Assert.StartsWith("pair-safe weights (auto): adopted for 1 convolution;", note);
        // The clip margin search's note (made on the plain build) stays in the adopted build's report, before the choice.
        Assert.StartsWith("clip margin ", auto.QuantizationReport.Notes[0]);
        Assert.Equal(1, auto.QuantizationReport.Notes.IndexOf(note));
        Assert.Contains(unsignedMode, auto.PlanText);
    }
}
