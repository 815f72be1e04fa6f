using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The acceptance checks of the calibrated int8 build, through ModelCompiler, the generator and the int8 kernels
/// (mnist-8 on 9,000 held-out digits, kws-m on its test sets, determinism, no calibration data in the plan).
/// </summary>
public sealed class QuantizedEndToEndTests : IDisposable
{

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "qc-int8-e2e-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static (ModelInstance Model, CompileResult Result) Build(string model, QuantizeMode mode, string? calibration, string className)
    {
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model(model), ClassName = className, Namespace = "Test", Quantize = mode, Calibration = calibration,
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var plan = PlanText.Read(r.PlanText!);
        return (CompiledModels.Compile(new[] { plan }).Create(plan), r);
    }

    private static void AssertSmallAndClean(CompileResult r, IEnumerable<Tensor> calibrationSamples)
    {
        var report = r.QuantizationReport!;
        Assert.NotNull(report);
        Assert.Equal("int8", r.Plan!.Precision);
        Assert.True(report.WeightBytes <= 0.27 * report.FloatWeightBytes, report.SummaryLine);
        Assert.True(report.ScratchBytes > 0);
        // Nothing of the calibration data reaches the plan (and so the generated code): no sample, as float32 or as uint8.
        var weights = r.Plan.Weights;
        foreach (var x in calibrationSamples.Take(3))
        {
            var f = x.ToBytes();
            Assert.Equal(-1, weights.AsSpan().IndexOf(f.AsSpan(0, Math.Min(f.Length, 1024))));
            var u8 = x.ToFloats().Select(v => (byte)Math.Max(0, Math.Min(255, Math.Round(v)))).ToArray();
            Assert.Equal(-1, weights.AsSpan().IndexOf(u8.AsSpan(0, Math.Min(u8.Length, 256))));
        }
    }

    [SharedFact]
    public void Mnist8_int8_calibrated_on_1000_digits_matches_float_on_the_other_9000()
    {
        var calib = QuantizerFixtures.MnistDigits(0, 1000);
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "digits.npy"), calib);
        var (q, r) = Build("mnist-8/model.onnx", QuantizeMode.Int8, _dir, "MnistInt8");
        var (f, _) = Build("mnist-8/model.onnx", QuantizeMode.None, null, "MnistFloat");
        AssertSmallAndClean(r, calib);
        var digits = QuantizerFixtures.MnistDigits(1000, 9000);
        var labels = QuantizerFixtures.MnistLabelBytes(1000, 9000);
        int agree = 0, correctQ = 0, correctF = 0;
        for (int i = 0; i < digits.Count; i++)
        {
            int a = QuantizerFixtures.ArgMax(q.Run(digits[i])[0].ToFloats()), b = QuantizerFixtures.ArgMax(f.Run(digits[i])[0].ToFloats());
            if (a == b) agree++;
            if (a == labels[i]) correctQ++;
            if (b == labels[i]) correctF++;
        }
        double accQ = 100.0 * correctQ / digits.Count, accF = 100.0 * correctF / digits.Count;
        Assert.True(Math.Abs(accQ - accF) <= 0.15, $"int8 {accQ:0.00}% vs float {accF:0.00}%");
        Assert.True(agree >= 0.995 * digits.Count, $"top-1 agreement {agree}/{digits.Count}");
    }

    [SharedFact]
    public void KwsM_int8_agrees_with_float_on_argmax_for_every_shared_test_set()
    {
        var model = "kws-m/model.onnx";
        var shape = new Shape(1, 1960);
        var calib = QuantizerFixtures.NormalInputs(200, shape, 7);
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "input_0.npy"), calib);
        var (q, r) = Build(model, QuantizeMode.Int8, _dir, "KwsInt8");
        AssertSmallAndClean(r, calib);
        foreach (var set in TestData.Sets(SharedData.Model("kws-m")))
        {
            var expected = TestData.Outputs(set)[0].ToFloats();
            var actual = q.Run(TestData.Inputs(set))[0].ToFloats();
            Assert.Equal(QuantizerFixtures.ArgMax(expected), QuantizerFixtures.ArgMax(actual));
        }
    }

    [SharedFact]
    public void Mnist8_dynamic_matches_float_on_all_10000_digits()
    {
        var (q, r) = Build("mnist-8/model.onnx", QuantizeMode.Dynamic, null, "MnistDynamic");
        var (f, _) = Build("mnist-8/model.onnx", QuantizeMode.None, null, "MnistFloat");
        var report = r.QuantizationReport!;
        Assert.Equal("int8-dynamic", r.Plan!.Precision);
        // The first Conv (1 channel, 5×5) stays float (short patches), so the weights are a little above the static build's 27%.
        Assert.True(report.WeightBytes <= 0.35 * report.FloatWeightBytes, report.SummaryLine);
        var digits = QuantizerFixtures.MnistDigits(0, 10000);
        var labels = QuantizerFixtures.MnistLabelBytes(0, 10000);
        int agree = 0, correctQ = 0, correctF = 0;
        for (int i = 0; i < digits.Count; i++)
        {
            int a = QuantizerFixtures.ArgMax(q.Run(digits[i])[0].ToFloats()), b = QuantizerFixtures.ArgMax(f.Run(digits[i])[0].ToFloats());
            if (a == b) agree++;
            if (a == labels[i]) correctQ++;
            if (b == labels[i]) correctF++;
        }
        double accQ = 100.0 * correctQ / digits.Count, accF = 100.0 * correctF / digits.Count;
        Assert.True(Math.Abs(accQ - accF) <= 0.15, $"dynamic {accQ:0.00}% vs float {accF:0.00}%");
        Assert.True(agree >= 0.995 * digits.Count, $"top-1 agreement {agree}/{digits.Count}");
    }

    [SharedFact]
    public void KwsM_dynamic_agrees_with_float_on_argmax_for_every_shared_test_set()
    {
        var (q, r) = Build("kws-m/model.onnx", QuantizeMode.Dynamic, null, "KwsDynamic");
        var (f, _) = Build("kws-m/model.onnx", QuantizeMode.None, null, "KwsFloat");
        var report = r.QuantizationReport!;
        // The first Conv (1 channel, 8×8) and the last Gemm stay float (short patches, too small).
        Assert.True(report.WeightBytes <= 0.35 * report.FloatWeightBytes, report.SummaryLine);
        Assert.Contains(r.Graph!.Nodes, n => n.OpType == "ConvInteger");
        foreach (var set in TestData.Sets(SharedData.Model("kws-m")))
        {
            var x = TestData.Inputs(set);
            var expected = f.Run(x)[0].ToFloats();
            var actual = q.Run(x)[0].ToFloats();
            double sqnr = QuantMath.Sqnr(expected, actual);
            Assert.Equal(QuantizerFixtures.ArgMax(expected), QuantizerFixtures.ArgMax(actual));
            Assert.True(sqnr >= 25, $"{set}: output SQNR {sqnr:0.0} dB");
        }
    }

    [SharedFact]
    public void Int8_build_is_deterministic_and_matches_the_integer_reference()
    {
        var calib = QuantizerFixtures.MnistDigits(0, 50);
        QuantizerFixtures.WriteNpy(Path.Combine(_dir, "digits.npy"), calib);
        var (q, a) = Build("mnist-8/model.onnx", QuantizeMode.Int8, _dir, "MnistInt8");
        var (_, b) = Build("mnist-8/model.onnx", QuantizeMode.Int8, _dir, "MnistInt8");
        Assert.Equal(a.PlanText, b.PlanText);
        Assert.Equal(a.QuantizationReport!.ToJson(), b.QuantizationReport!.ToJson());
        // The generated code is bit-exact against the ops' integer reference (the interpreter on the rewritten graph).
        foreach (var x in QuantizerFixtures.MnistDigits(9990, 10))
            Assert.Equal(Interpreter.FloatInterpreter.Run(a.Graph!, new[] { x })[0].ToFloats(), q.Run(x)[0].ToFloats());
    }
}
