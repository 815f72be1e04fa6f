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
    };

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void MatchesReferenceOutputs(string folder, string file, double relTol, string? inputShapes)
    {
        string dir = SharedData.Model(folder);
        var (asm, plan) = CompiledModels.CompileModel(Path.Combine(dir, file), inputShapes);
        var model = asm.Create();
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
                double tol = relTol * Math.Max(range, 1e-6);
                var (maxAbs, _, bad) = TestData.Compare(expected[o], actual[o], tol);
                _out.WriteLine($"{folder}/{file} {Path.GetFileName(set)} output {o}: max abs error {maxAbs:G3}, range {range:G4}, tolerance {tol:G3}");
                Assert.True(bad == 0, $"{Path.GetFileName(set)} output {o}: {bad} elements differ by more than {tol:G3} (max {maxAbs:G3}, range {range:G4})");
            }
        }
    }
}
