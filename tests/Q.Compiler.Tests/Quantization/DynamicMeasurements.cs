using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Quantize="Dynamic" against float and against the calibrated Int8 build, through the generated code: output SQNR,
/// argmax agreement, accuracy, weight bytes (the figures of docs/quantization.md, "Dynamic"). Runs only with
/// QC_QUANT_MEASURE=1; <c>--logger "console;verbosity=detailed"</c> shows the table.
/// </summary>
public sealed class DynamicMeasurements : IDisposable
{
    private readonly ITestOutputHelper _out;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qc-dyn-measure-" + Guid.NewGuid().ToString("N"));

    public DynamicMeasurements(ITestOutputHelper output) => _out = output;

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static (ModelInstance Model, CompileResult Result) Build(string model, QuantizeMode mode, string? calibration, string className)
    {
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model(model), ClassName = className, Namespace = "Measure", Quantize = mode, Calibration = calibration,
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var plan = PlanText.Read(r.PlanText!);
        return (CompiledModels.Compile(new[] { plan }).Create(plan), r);
    }

    private void Compare(string name, List<Tensor> inputs, byte[]? labels, List<Tensor> calibration)
    {
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "input_0.npy"), calibration);
        var (f, fr) = Build(name + "/model.onnx", QuantizeMode.None, null, "Float");
        var builds = new[]
        {
            ("Int8 (" + calibration.Count + " calibration samples)", Build(name + "/model.onnx", QuantizeMode.Int8, _dir, "Int8")),
            ("Dynamic", Build(name + "/model.onnx", QuantizeMode.Dynamic, null, "Dynamic")),
        };
        var reference = inputs.Select(x => f.Run(x)[0].ToFloats()).ToList();
        int correctF = labels is null ? 0 : Enumerable.Range(0, inputs.Count).Count(i => QuantizerFixtures.ArgMax(reference[i]) == labels[i]);
        _out.WriteLine($"{name}: {inputs.Count} inputs; float build {fr.Plan!.Weights.Length:N0} weight bytes" + (labels is null ? "" : $", accuracy {100.0 * correctF / inputs.Count:0.00}%"));
        _out.WriteLine("| build | output SQNR vs float (dB, all outputs) | worst input (dB) | argmax agreement | accuracy | weights | % of float | scratch |");
        foreach (var (label, (model, r)) in builds)
        {
            var outputs = inputs.Select(x => model.Run(x)[0].ToFloats()).ToList();
            double sqnr = QuantMath.Sqnr(reference.SelectMany(v => v).ToArray(), outputs.SelectMany(v => v).ToArray());
            double worst = Enumerable.Range(0, inputs.Count).Min(i => QuantMath.Sqnr(reference[i], outputs[i]));
            int agree = Enumerable.Range(0, inputs.Count).Count(i => QuantizerFixtures.ArgMax(reference[i]) == QuantizerFixtures.ArgMax(outputs[i]));
            int correct = labels is null ? 0 : Enumerable.Range(0, inputs.Count).Count(i => QuantizerFixtures.ArgMax(outputs[i]) == labels[i]);
            var rep = r.QuantizationReport!;
            _out.WriteLine($"| {label} | {sqnr:0.0} | {worst:0.0} | {100.0 * agree / inputs.Count:0.00}% | {(labels is null ? "" : $"{100.0 * correct / inputs.Count:0.00}%")} | {rep.WeightBytes:N0} | {100.0 * rep.WeightBytes / rep.FloatWeightBytes:0.0}% | {rep.ScratchBytes:N0} |");
        }
    }

    [MeasurementFact]
    public void Dynamic_vs_int8_on_kws_m()
    {
        var shape = new Shape(1, 1960);
        var inputs = TestData.Sets(SharedData.Model("kws-m")).Select(s => TestData.Inputs(s)[0]).ToList();
        inputs.AddRange(QuantizerFixtures.NormalInputs(1000, shape, 11));
        Compare("kws-m", inputs, null, QuantizerFixtures.NormalInputs(200, shape, 7));
    }

    [MeasurementFact]
    public void Dynamic_vs_int8_on_mnist8()
    {
        Compare("mnist-8", QuantizerFixtures.MnistDigits(0, 10000), QuantizerFixtures.MnistLabelBytes(0, 10000), QuantizerFixtures.MnistDigits(0, 1000));
    }
}
