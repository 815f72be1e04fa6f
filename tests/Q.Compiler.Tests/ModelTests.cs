using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests;

/// <summary>Real models from ../shared/models, compiled with the full pipeline and compared with their reference outputs.</summary>
public sealed class ModelTests
{
    private readonly ITestOutputHelper _out;
    public ModelTests(ITestOutputHelper output) => _out = output;

    /// <summary>(folder, model file, relative tolerance against the output's range, InputShapes)</summary>
    public static TheoryData<string, string, double, string?> Models => new()
    {
        { "mnist-8", "model.onnx", 1e-4, null },
        { "mnist-8/layers/0_Parameter193_reshape1", "model.onnx", 1e-4, null },
        { "mnist-8/layers/1_Convolution28_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/2_Plus30_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/3_ReLU32_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/4_Pooling66_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/5_Convolution110_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/6_Plus112_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/7_ReLU114_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/8_Pooling160_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/9_Pooling160_Output_0_reshape0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/10_Times212_Output_0", "model.onnx", 1e-4, null },
        { "mnist-8/layers/11_Plus214_Output_0", "model.onnx", 1e-4, null },
        { "mnist-mlp-bn", "model.onnx", 1e-4, null },
        { "kws-m", "model.onnx", 1e-4, null },
        { "super-resolution-10", "model.onnx", 1e-4, null },
        { "mobilenet-v2-128-0.5", "model.onnx", 1e-4, null },
        { "ppocr-cls-mobile", "model.onnx", 1e-4, "x=1x3x48x192" },
        { "ultraface-rfb-320", "model.onnx", 1e-4, null },
        { "squeezenet-1.0-fp16", "model.onnx", 1e-3, null },
        { "openwakeword/melspectrogram", "model.onnx", 1e-4, "input=1x1760" },
        { "openwakeword/embedding", "model.onnx", 1e-4, null },
        { "openwakeword/hello_deepa", "model.onnx", 1e-4, null },
    };

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void MatchesReferenceOutputs(string folder, string file, double relTol, string? inputShapes)
    {
        string dir = SharedData.Model(folder);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (asm, plan) = CompiledModels.CompileModel(Path.Combine(dir, file), inputShapes);
        var model = asm.Create();
        _out.WriteLine($"{folder}/{file}: {plan.Layers.Count} layers, {plan.Weights.Length:N0} weight bytes, {plan.ArenaBytes:N0} scratch bytes; compiled in {clock.ElapsedMilliseconds} ms");
        clock.Restart();
        string setsDir = file == "model.onnx" ? dir : Path.Combine(dir, Path.GetFileNameWithoutExtension(file));
        var sets = TestData.Sets(setsDir);
        Assert.NotEmpty(sets);
        foreach (var set in sets)
        {
            var expected = TestData.Outputs(set);
            var actual = model.Run(TestData.Inputs(set));
            for (int o = 0; o < expected.Length; o++)
            {
                var (_, range, _) = TestData.Compare(expected[o], actual[o], double.PositiveInfinity);
                // The tolerance scales with the output's range (with its magnitude for a single value, whose range is 0).
                double scale = expected[o].Length == 1 ? Math.Abs(expected[o].ToDoubles()[0]) : range;
                double tol = relTol * Math.Max(scale, 1e-6);
                var (maxAbs, _, bad) = TestData.Compare(expected[o], actual[o], tol);
                _out.WriteLine($"{folder}/{file} {Path.GetFileName(set)} output {o}: max abs error {maxAbs:G3}, range {range:G4}, tolerance {tol:G3}");
                Assert.True(bad == 0, $"{Path.GetFileName(set)} output {o}: {bad} elements differ by more than {tol:G3} (max {maxAbs:G3}, range {range:G4})");
            }
        }
        _out.WriteLine($"ran {sets.Count} sets in {clock.ElapsedMilliseconds} ms");
    }
}
