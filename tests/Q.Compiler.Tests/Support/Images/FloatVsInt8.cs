using System.Globalization;
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

    /// <summary>
    /// Whether the int8 outputs <paramref name="q"/> give the same top-1 answer as the float outputs <paramref name="f"/>
    /// of the image model <paramref name="folder"/>, and both answers in words: the class for a classifier, the best face
    /// for UltraFace.
    /// </summary>
    public static (string Float, string Int8, bool Same) CompareTop1(string folder, IReadOnlyList<Tensor> f, IReadOnlyList<Tensor> q) =>
        folder == "ultraface-rfb-320" ? CompareDetections(f, q) : CompareClasses(f, q);

    /// <summary>Classifiers: the argmax of the (single) output.</summary>
    private static (string Float, string Int8, bool Same) CompareClasses(IReadOnlyList<Tensor> f, IReadOnlyList<Tensor> q)
    {
        int a = FloatVsInt8.ArgMax(f[0]), b = FloatVsInt8.ArgMax(q[0]);
        return ($"class {a}", $"class {b}", a == b);
    }

    /// <summary>
    /// UltraFace's "top-1" is what its sample app reports: the prior with the highest face score if that score is above
    /// 0.5, else no face. The int8 build agrees when it finds a face exactly when float does, and its box overlaps
    /// float's with IoU ≥ 0.5 (neighbouring priors often score within 1e-4 of each other, so the index itself may move).
    /// </summary>
    private static (string Float, string Int8, bool Same) CompareDetections(IReadOnlyList<Tensor> f, IReadOnlyList<Tensor> q)
    {
        var (fi, fs) = BestFace(f[0]); var (qi, qs) = BestFace(q[0]);
        var inv = CultureInfo.InvariantCulture;
        string Describe(int i, double s) => s > 0.5 ? string.Format(inv, "face at prior {0} (score {1:F4})", i, s) : string.Format(inv, "no face (best {0:F4})", s);
        bool same = (fs > 0.5) == (qs > 0.5);
        if (same && fs > 0.5)
        {
            double iou = Iou(Box(f[1], fi), Box(q[1], qi));
            same = iou >= 0.5;
            return (Describe(fi, fs), Describe(qi, qs) + string.Format(inv, ", IoU {0:F3} with float's box", iou), same);
        }
        return (Describe(fi, fs), Describe(qi, qs), same);
    }

    private static (int Index, double Score) BestFace(Tensor scores)
    {
        var v = scores.ToDoubles();
        int best = 0;
        for (int i = 1; i < v.Length / 2; i++) if (v[i * 2 + 1] > v[best * 2 + 1]) best = i;
        return (best, v[best * 2 + 1]);
    }

    private static double[] Box(Tensor boxes, int prior) => boxes.ToDoubles().AsSpan(prior * 4, 4).ToArray();

    private static double Iou(double[] a, double[] b)
    {
        double w = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0])), h = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        double inter = w * h, union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
        return union > 0 ? inter / union : 0;
    }
}
