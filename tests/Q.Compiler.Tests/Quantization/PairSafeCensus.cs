using System.Globalization;
using Q.Compiler.Ir;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// Which QConvNchw layers of the calibrated int8 image models run in unsigned mode (QC_QUANT_MEASURE=1, models in
/// QC_ACC_MODEL, all four by default): per layer, the mode the lowering chose, K, the output channels that are pair-safe,
/// the pairs over the bound, the largest same-signed pair sum, and the 4-channel blocks whose quads could share a widening
/// (unsigned bound, and the signed one for comparison). No C# is compiled.
/// </summary>
public sealed class PairSafeCensus : IDisposable
{
    private readonly ITestOutputHelper _out;
    private readonly List<string> _temp = new();

    public PairSafeCensus(ITestOutputHelper output) => _out = output;

    public void Dispose()
    {
        foreach (var d in _temp) try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    [MeasurementFact]
    public void Pair_safe_layers_of_the_image_models()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = Environment.GetEnvironmentVariable("QC_ACC_MODEL") is { Length: > 0 } m ? m.Split(',') : ImageModels.Folders;
        foreach (var folder in models)
        {
            var calib = CalibrationFolders.Images(folder);
            _temp.Add(calib.Folder);
            var q = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = SharedData.Model(folder + "/model.onnx"), ClassName = "Q", Namespace = "T", InputShapes = ImageModels.InputShapes(folder),
                Quantize = QuantizeMode.Int8, Calibration = calib.Folder, CalibrationMethod = ImageModelGraphs.MethodFromEnvironment(),
            });
            Assert.True(q.Success, string.Join("\n", q.Diagnostics));
            var graph = q.Graph!;
            int layers = 0, unsignedLayers = 0;
            _out.WriteLine($"== {folder}");
            _out.WriteLine("layer\tmode\tK\tM\tpair-safe channels\tpairs over\tmax same-signed pair\tpaired blocks unsigned\tpaired blocks signed");
            foreach (var layer in q.Plan!.Layers)
                foreach (var call in layer.Calls.Where(c => c.Target.StartsWith("QConvNchw.", StringComparison.Ordinal)))
                {
                    var node = graph.Nodes.First(n => layer.Nodes.Contains(n.Name) && n.OpType == "QLinearConv");
                    var wt = graph.Constants[node.Inputs[3]];
                    int shift = wt.ElementType == DataType.UInt8 ? 128 : 0;
                    var w = wt.ToLongs().Select(v => (int)v - shift).ToArray();
                    int mOut = wt.Shape[0], k = w.Length / mOut;
                    int safe = Enumerable.Range(0, mOut).Count(oc => QConvWeights.IsPairSafe(w, oc * k, k));
                    int over = 0, worst = 0;
                    for (int oc = 0; oc < mOut; oc++)
                        for (int i = 0; i < k; i += 2)
                        {
                            int a = w[oc * k + i], b = i + 1 < k ? w[oc * k + i + 1] : 0;
                            int pos = Math.Max(a, 0) + Math.Max(b, 0), neg = -(Math.Min(a, 0) + Math.Min(b, 0));
                            worst = Math.Max(worst, Math.Max(pos, neg));
                            if (pos > QConvWeights.MaxPairSum || neg > QConvWeights.MaxPairSum) over++;
                        }
                    var (packed, _, _) = QConvWeights.PackNchw(w.Select(v => Math.Max(v, -127)).ToArray(), mOut, k);
                    var zeros = new int[mOut];
                    var scales = new float[mOut];
                    int blocks = (mOut + 3) / 4;
                    int pairedU = QConvWeights.NchwBlockFlags(packed, mOut, k, zeros, scales, unsignedActivations: true).Count(f => (f & QConvWeights.NchwPairQuads) != 0);
                    int pairedS = QConvWeights.NchwBlockFlags(packed, mOut, k, zeros, scales).Count(f => (f & QConvWeights.NchwPairQuads) != 0);
                    bool unsignedMode = call.Args[^1].Integer != 0;
                    layers++;
                    if (unsignedMode) unsignedLayers++;
                    _out.WriteLine(string.Format(inv, "{0}\t{1}\t{2}\t{3}\t{4}/{3}\t{5}\t{6}\t{7}/{9}\t{8}/{9}", layer.Method, unsignedMode ? "unsigned" : "signed",
                        k, mOut, safe, over, worst, pairedU, pairedS, blocks));
                }
            _out.WriteLine($"{folder}: {unsignedLayers} of {layers} QConvNchw layers pair-safe (unsigned mode)");
        }
    }
}
