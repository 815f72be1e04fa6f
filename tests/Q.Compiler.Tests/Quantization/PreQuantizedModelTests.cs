using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Pre-quantized models compiled with their own parameters, against ONNX Runtime's outputs: within one quantization
/// step of the output (the final DequantizeLinear's scale; kws-m's softmax output is quantized with 1/256).
/// </summary>
public sealed class PreQuantizedModelTests(ITestOutputHelper output)
{
    public static TheoryData<string, double> KwsTwins => new()
    {
        { "qdq", 1 / 256.0 },
        { "static_qdq", 1 / 256.0 },
        { "qoperator_add_shape", 1 / 256.0 },
        { "qoperator_avg_pool", 1 / 256.0 },
        { "qoperator_softmax", 1 / 256.0 },
        { "static_qoperator", 1 / 256.0 },
    };

    [SharedTheory]
    [MemberData(nameof(KwsTwins))]
    public void Kws_twin_matches_OnnxRuntime_within_one_output_step(string twin, double step)
    {
        var (asm, plan) = CompiledModels.CompileModel(SharedData.Model(Path.Combine("kws-m", twin + ".onnx")));
        var model = asm.Create();
        var sets = TestData.Sets(SharedData.Model(Path.Combine("kws-m", twin)));
        Assert.Equal(3, sets.Count);
        foreach (var set in sets)
        {
            var expected = TestData.Outputs(set)[0];
            var actual = model.Run(TestData.Inputs(set))[0];
            var (maxAbs, _, bad) = TestData.Compare(expected, actual, step * 1.0001);
            output.WriteLine($"{twin} {Path.GetFileName(set)}: max abs error {maxAbs:G4} (one step {step:G4}), {plan.Layers.Count} layers");
            Assert.True(bad == 0, $"{twin} {Path.GetFileName(set)}: {bad} outputs differ by more than one step (max {maxAbs:G4})");
            Assert.Equal(ArgMax(expected.ToDoubles()), ArgMax(actual.ToDoubles()));
        }
    }

    [SharedFact]
    public void Mnist_int8_ops_matches_its_references()
    {
        var (asm, _) = CompiledModels.CompileModel(SharedData.Model(Path.Combine("mnist-int8-ops", "model.onnx")));
        var model = asm.Create();
        var sets = TestData.Sets(SharedData.Model("mnist-int8-ops"));
        Assert.Equal(4, sets.Count);
        foreach (var set in sets)
        {
            var expected = TestData.Outputs(set)[0];
            var actual = model.Run(TestData.Inputs(set))[0];
            // Integer ops then float rescaling (Cast, Mul, Add): the only rounding left is float32's.
            var (maxAbs, range, bad) = TestData.Compare(expected, actual, 1e-4 * Math.Max(1, expected.ToDoubles().Max(Math.Abs)));
            output.WriteLine($"mnist-int8-ops {Path.GetFileName(set)}: max abs error {maxAbs:G4}, range {range:G4}");
            Assert.Equal(0, bad);
            Assert.Equal(ArgMax(expected.ToDoubles()), ArgMax(actual.ToDoubles()));
        }
    }

    private static int ArgMax(double[] v) => Array.IndexOf(v, v.Max());
}
