using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Q.Compiler.Ir;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests;

/// <summary>
/// The compiled mnist-8 and ONNX Runtime, side by side in the same run, on all 10,000 digits of ../shared/datasets/mnist:
/// the same class for every digit, hence the same accuracy.
/// </summary>
public sealed class OrtAgreementTests
{
    private readonly ITestOutputHelper _out;
    public OrtAgreementTests(ITestOutputHelper output) => _out = output;

    [SharedFact]
    public void Mnist8AgreesWithOnnxRuntimeOnEveryDigit()
    {
        string modelPath = SharedData.Model("mnist-8/model.onnx");
        byte[] images = File.ReadAllBytes(SharedData.RequirePath("datasets/mnist/images-idx3-ubyte"));
        byte[] labels = File.ReadAllBytes(SharedData.RequirePath("datasets/mnist/labels-idx1-ubyte"));
        int count = (labels[4] << 24) | (labels[5] << 16) | (labels[6] << 8) | labels[7];
        Assert.Equal(10_000, count);

        var (asm, _) = CompiledModels.CompileModel(modelPath);
        var ours = asm.Create();
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(modelPath, options);

        int oursRight = 0, ortRight = 0, disagree = 0;
        var pixels = new float[784];
        for (int i = 0; i < count; i++)
        {
            for (int p = 0; p < 784; p++) pixels[p] = images[16 + i * 784 + p];
            var x = Q.Compiler.Ir.Tensor.FromFloats(new Shape(1, 1, 28, 28), (float[])pixels.Clone());
            int a = ArgMax(ours.Run(x)[0].As<float>());
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Input3", new DenseTensor<float>(pixels, new[] { 1, 1, 28, 28 })) });
            int b = ArgMax(results.First().AsEnumerable<float>().ToArray());
            int label = labels[8 + i];
            if (a == label) oursRight++;
            if (b == label) ortRight++;
            if (a != b) { disagree++; _out.WriteLine($"digit {i}: ours {a}, ONNX Runtime {b}, label {label}"); }
        }
        _out.WriteLine($"accuracy: ours {oursRight / 100.0:F2}%, ONNX Runtime {ortRight / 100.0:F2}% ({count} digits)");
        Assert.Equal(0, disagree);
        Assert.Equal(ortRight, oursRight);
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
