using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;

namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// A float build and an int8 build of one model, compiled into one in-memory assembly, and the measures the issue-3
/// acceptance uses to compare them: output SQNR, top-1 agreement, weight bytes.
/// </summary>
public sealed class FloatVsInt8
{
    private FloatVsInt8(ModelPlan floatPlan, ModelPlan int8Plan, CompileResult int8Result, ModelInstance floatModel, ModelInstance int8Model)
    {
        FloatPlan = floatPlan; Int8Plan = int8Plan; Int8Result = int8Result; Float = floatModel; Int8 = int8Model;
    }

    public ModelPlan FloatPlan { get; }
    public ModelPlan Int8Plan { get; }
    /// <summary>The int8 compilation (diagnostics, quantization report).</summary>
    public CompileResult Int8Result { get; }
    public ModelInstance Float { get; }
    public ModelInstance Int8 { get; }

    /// <summary>Int8 weight bytes over float weight bytes (the plans' weight blobs).</summary>
    public double WeightRatio => (double)Int8Plan.Weights.Length / FloatPlan.Weights.Length;

    /// <summary>
    /// Compiles <paramref name="onnxPath"/> as float and with <paramref name="int8"/> (its ModelPath, ClassName and
    /// Namespace are filled in). Throws <see cref="InvalidOperationException"/> with the diagnostics if either build fails.
    /// </summary>
    public static FloatVsInt8 Build(string onnxPath, string? inputShapes, CompileOptions int8)
    {
        var floatResult = ModelCompiler.Compile(new CompileOptions { ModelPath = onnxPath, ClassName = "FloatModel", Namespace = "Test", InputShapes = inputShapes });
        if (!floatResult.Success) throw new InvalidOperationException("the float build failed:\n" + string.Join("\n", floatResult.Diagnostics));
        int8.ModelPath = onnxPath; int8.ClassName = "Int8Model"; int8.Namespace = "Test"; int8.InputShapes = inputShapes;
        var int8Result = ModelCompiler.Compile(int8);
        if (!int8Result.Success) throw new InvalidOperationException("the int8 build failed:\n" + string.Join("\n", int8Result.Diagnostics));
        // Through the text form, as the build does.
        var floatPlan = PlanText.Read(floatResult.PlanText!);
        var int8Plan = PlanText.Read(int8Result.PlanText!);
        var asm = CompiledModels.Compile(new[] { floatPlan, int8Plan });
        return new FloatVsInt8(floatPlan, int8Plan, int8Result, asm.Create(floatPlan), asm.Create(int8Plan));
    }

    /// <summary>Signal-to-quantization-noise ratio of <paramref name="actual"/> against <paramref name="reference"/>, dB (∞ if equal).</summary>
    public static double SqnrDb(Tensor reference, Tensor actual)
    {
        var r = reference.ToDoubles(); var a = actual.ToDoubles();
        if (r.Length != a.Length) throw new InvalidOperationException($"lengths {r.Length} vs {a.Length}");
        double signal = 0, noise = 0;
        for (int i = 0; i < r.Length; i++) { signal += r[i] * r[i]; noise += (r[i] - a[i]) * (r[i] - a[i]); }
        return noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
    }

    /// <summary>Index of the largest value (the first on ties).</summary>
    public static int ArgMax(Tensor t)
    {
        var v = t.ToDoubles();
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
