using BenchmarkDotNet.Attributes;

namespace Q.Compiler.Benchmarks;

/// <summary>
/// BenchmarkDotNet: each shared model that compiles, ours against ONNX Runtime (the baseline, so the Ratio column is
/// ours / ORT). Runs in process: the generated code is compiled in memory at setup, as in the tests.
/// </summary>
[InProcess]
[MemoryDiagnoser]
public class ModelBenchmarks
{
    private BenchModel? _model;

    public static IEnumerable<string> Models()
    {
        foreach (string name in BenchModel.Names)
        {
            using var loaded = BenchModel.TryLoad(name, out var reason);
            if (loaded is null) { Console.WriteLine($"// skipped {name}: {reason}"); continue; }
            yield return name;
        }
    }

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "";

    [GlobalSetup]
    public void Setup() => _model = BenchModel.TryLoad(Model, out var reason) ?? throw new InvalidOperationException(reason);

    [GlobalCleanup]
    public void Cleanup() => _model?.Dispose();

    [Benchmark]
    public void QCompiler() => _model!.RunOurs();

    [Benchmark(Baseline = true)]
    public void OnnxRuntime() => _model!.RunOrt();
}
