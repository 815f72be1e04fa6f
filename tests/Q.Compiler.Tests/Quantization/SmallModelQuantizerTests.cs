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
/// Scaffolding of the quantizer tests on small synthetic models with one input x [1, 8, 12, 12]: saving a built model
/// to a temp file (deleted on Dispose), import and optimization as ModelCompiler does, fixed-seed samples, quantization
/// with MSE calibration on 8 samples, the op sequence of a graph, output SQNR of the integer reference against float,
/// and an int8 build whose compiled model must reproduce the integer reference.
/// </summary>
public abstract class SmallModelQuantizerTests : IDisposable
{
    private readonly List<string> _temp = new();

    public void Dispose()
    {
        foreach (var p in _temp) try { if (Directory.Exists(p)) Directory.Delete(p, true); else File.Delete(p); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    /// <summary>Saves <paramref name="model"/> as a temp .onnx file named after <paramref name="prefix"/>.</summary>
    protected string Save(OnnxModelBuilder model, string prefix)
    {
        string path = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N") + ".onnx");
        model.Save(path);
        _temp.Add(path);
        return path;
    }

    protected static Graph Optimized(string path)
    {
        var bag = new DiagnosticBag();
        return PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(path), new Dictionary<string, int[]>(), bag), bag);
    }

    /// <summary>Samples <paramref name="first"/>.. of x, uniform in [−2, 2] (seed 100 + index).</summary>
    protected static List<IReadOnlyList<Tensor>> Samples(int first, int count) =>
        QuantizerFixtures.AsSamples(Enumerable.Range(first, count).Select(i => OnnxModelBuilder.Random(100 + i, -2, 2, 1, 8, 12, 12))).ToList();

    /// <summary>Unfuses, calibrates (MSE) on samples 0–7 and quantizes.</summary>
    protected static QuantizedGraph Quantize(Graph optimized, QuantizerOptions? options = null)
    {
        var g = GraphQuantizer.Unfuse(optimized);
        var samples = Samples(0, 8);
        return GraphQuantizer.Quantize(g, Calibrator.Run(g, samples, new CalibrationOptions { Method = CalibrationMethod.Mse }), samples,
            options ?? new QuantizerOptions(), new DiagnosticBag());
    }

    /// <summary>The node ops in order, a fused activation as "+Op".</summary>
    protected static string Ops(Graph g) => string.Join(" ", g.Nodes.Select(n => n.OpType + (n.Activation is null ? "" : "+" + n.Activation.Op)));

    /// <summary>Output SQNR (dB) of <paramref name="quantized"/>'s integer reference against <paramref name="optimized"/>, signal and noise pooled over the samples.</summary>
    protected static double SqnrDb(Graph optimized, Graph quantized, IEnumerable<IReadOnlyList<Tensor>> samples)
    {
        double signal = 0, noise = 0;
        foreach (var s in samples)
        {
            var f = FloatInterpreter.Run(optimized, s)[0].ToDoubles();
            var i8 = FloatInterpreter.Run(quantized, s)[0].ToDoubles();
            for (int k = 0; k < f.Length; k++) { signal += f[k] * f[k]; noise += (f[k] - i8[k]) * (f[k] - i8[k]); }
        }
        return 10 * Math.Log10(signal / noise);
    }

    /// <summary>An int8 build of <paramref name="model"/> calibrated on samples 0–7 (written as x.npy into a temp folder); asserts success.</summary>
    protected CompileResult CompileInt8(string model, string className, string calibrationPrefix)
    {
        string calib = Path.Combine(Path.GetTempPath(), calibrationPrefix + Guid.NewGuid().ToString("N"));
        _temp.Add(calib);
        QuantizerFixtures.WriteNpy(Path.Combine(calib, "x.npy"), Samples(0, 8).Select(s => s[0]).ToList());
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = model, ClassName = className, Namespace = "T", Quantize = QuantizeMode.Int8, Calibration = calib });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return r;
    }

    /// <summary>Compiles the build's plan to C# and asserts it gives the integer reference's outputs, bit for bit, on samples 60–62.</summary>
    protected static void AssertCompiledMatchesReference(CompileResult r, ModelPlan plan)
    {
        var m = CompiledModels.Compile(new[] { plan }).Create(plan);
        foreach (var s in Samples(60, 3))
            Assert.Equal(FloatInterpreter.Run(r.Graph!, s)[0].ToFloats(), m.Run(s[0])[0].ToFloats());
    }
}
