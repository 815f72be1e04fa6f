using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// What the quantizer measurements start from: an image model's optimized float graph with fused activations split off
/// again (<see cref="GraphQuantizer.Unfuse"/>), as the quantizer sees it, and the calibration method QC_ACC_METHOD names.
/// Kept out of Support/Images, which the benchmark app links without SharedData.
/// </summary>
internal static class ImageModelGraphs
{
    /// <summary>The float graph of ../shared/models/<paramref name="folder"/> at its pinned input shapes, unfused.</summary>
    public static Graph Unfused(string folder) =>
        GraphQuantizer.Unfuse(ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model(folder + "/model.onnx"), ClassName = "F", Namespace = "T", InputShapes = ImageModels.InputShapes(folder),
        }).Graph!);

    /// <summary>QC_ACC_METHOD if set (a <see cref="CalibrationMethod"/> name), else Mse, the product's default.</summary>
    public static CalibrationMethod MethodFromEnvironment() =>
        Environment.GetEnvironmentVariable("QC_ACC_METHOD") is { Length: > 0 } m ? Enum.Parse<CalibrationMethod>(m) : CalibrationMethod.Mse;
}
