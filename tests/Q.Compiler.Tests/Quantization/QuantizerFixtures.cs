using System.Buffers.Binary;
using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;

namespace Q.Compiler.Tests.Quantization;

/// <summary>Shared inputs of the quantizer tests: optimized float graphs and calibration sets (MNIST digits, kws-m normal inputs).</summary>
internal static class QuantizerFixtures
{
    /// <summary>A shared model imported and optimized as ModelCompiler does before quantizing.</summary>
    public static Graph OptimizedGraph(string relativeModel)
    {
        var bag = new DiagnosticBag();
        return PassPipeline.Optimize(GraphImporter.Import(OnnxReader.ReadFile(SharedData.Model(relativeModel)),
            new Dictionary<string, int[]>(), bag), bag);
    }

    public static string MnistImages => Path.Combine(SharedData.Root, "datasets", "mnist", "images-idx3-ubyte");
    public static string MnistLabels => Path.Combine(SharedData.Root, "datasets", "mnist", "labels-idx1-ubyte");

    /// <summary>Digits <paramref name="first"/>..first+count−1 as [1, 1, 28, 28] float32 tensors with pixel values 0..255.</summary>
    public static List<Tensor> MnistDigits(int first, int count)
    {
        var idx = File.ReadAllBytes(MnistImages);
        int rows = BinaryPrimitives.ReadInt32BigEndian(idx.AsSpan(8)), cols = BinaryPrimitives.ReadInt32BigEndian(idx.AsSpan(12));
        var r = new List<Tensor>();
        for (int i = first; i < first + count; i++)
            r.Add(Tensor.FromFloats(new Shape(1, 1, rows, cols), idx.AsSpan(16 + i * rows * cols, rows * cols).ToArray().Select(b => (float)b).ToArray()));
        return r;
    }

    public static byte[] MnistLabelBytes(int first, int count) => File.ReadAllBytes(MnistLabels).AsSpan(8 + first, count).ToArray();

    /// <summary>Fixed-seed standard normal inputs of kws-m ([1, 1960]), Box-Muller over a 64-bit LCG.</summary>
    public static List<Tensor> NormalInputs(int count, Shape shape, ulong seed)
    {
        ulong s = seed * 0x9E3779B97F4A7C15UL + 1;
        double Uniform()
        {
            s = s * 6364136223846793005UL + 1442695040888963407UL;
            return ((s >> 11) + 0.5) / 9007199254740992.0;
        }
        var r = new List<Tensor>();
        for (int n = 0; n < count; n++)
        {
            var v = new float[shape.ElementCount];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(Math.Sqrt(-2 * Math.Log(Uniform())) * Math.Cos(2 * Math.PI * Uniform()));
            r.Add(Tensor.FromFloats(shape, v));
        }
        return r;
    }

    public static IEnumerable<IReadOnlyList<Tensor>> AsSamples(IEnumerable<Tensor> inputs) => inputs.Select(t => (IReadOnlyList<Tensor>)new[] { t });

    /// <summary>Writes stacked float32 samples ([S, …shape]) as one .npy.</summary>
    public static void WriteNpy(string path, IReadOnlyList<Tensor> samples)
    {
        var shape = new[] { samples.Count }.Concat(samples[0].Shape.Dims).ToArray();
        var data = samples.SelectMany(t => t.ToFloats()).ToArray();
        var bytes = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, CalibrationDataTests.Npy("<f4", shape, bytes));
    }

    public static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>A quantized graph's simulation against float on held-out inputs (the measurement tests' figures).</summary>
    public sealed record AgainstFloat(double Signal, double Noise, int Agree, int Correct, int CorrectFloat)
    {
        /// <summary>Output SQNR over all the inputs, in dB.</summary>
        public double SqnrDb => Noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(Signal / Noise);
    }

    /// <summary>
    /// Runs <paramref name="q"/>'s simulation on each input of <paramref name="test"/> and compares its first output with
    /// <paramref name="reference"/> (the float model's): summed signal and noise, top-1 agreement, and with
    /// <paramref name="labels"/> how many each gets right.
    /// </summary>
    public static AgainstFloat CompareWithFloat(QuantizedGraph q, IReadOnlyList<Tensor> test, IReadOnlyList<float[]> reference, byte[]? labels)
    {
        double signal = 0, noise = 0;
        int agree = 0, correct = 0, correctFloat = 0;
        for (int i = 0; i < test.Count; i++)
        {
            var y = q.Simulate(new[] { test[i] })[0].ToFloats();
            var f = reference[i];
            for (int j = 0; j < f.Length; j++) { signal += (double)f[j] * f[j]; noise += (double)(f[j] - y[j]) * (f[j] - y[j]); }
            int a = ArgMax(y), b = ArgMax(f);
            if (a == b) agree++;
            if (labels is not null && i < labels.Length) { if (a == labels[i]) correct++; if (b == labels[i]) correctFloat++; }
        }
        return new AgainstFloat(signal, noise, agree, correct, correctFloat);
    }
}
