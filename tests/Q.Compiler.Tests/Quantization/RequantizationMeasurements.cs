using System.Globalization;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Q.Compiler.Tests.Support;
using Q.Compiler.Tests.Support.Images;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The float32 requantization scale (the product's) against the fixed-point schemes of <see cref="FixedPointRequantization"/>
/// on real int8 models (QC_QUANT_MEASURE=1; models in QC_ACC_MODEL, mobilenet and ultraface by default; QC_RQ_IMAGES caps
/// the calibration images used as inputs). For every QLinearConv output of the integer reference run, on the same
/// accumulators: how many outputs each scheme gives differently from the float scheme and from the exact round(acc·M);
/// then the whole model run with the fixed-point scheme in every QLinearConv, and both runs' output SQNR against float.
/// Figures go to docs/requantization.md.
/// </summary>
public sealed class RequantizationMeasurements : ImageModelMeasurement
{
    public RequantizationMeasurements(ITestOutputHelper output) : base(output) { }

    /// <summary>Counts over a layer's outputs (all inputs), comparing clamped output values.</summary>
    private sealed class LayerStats
    {
        public string Name = "";
        public long Outputs;
        public long FixedDiffers, GemmlowpDiffers, FloatInexact, FixedInexact, GemmlowpInexact;
        public int FixedMaxDiff, GemmlowpMaxDiff, FloatMaxError, FixedMaxError;
        public double MinM = double.MaxValue, MaxM;
    }

    [MeasurementFact]
    public void Float_scale_against_fixed_point_on_image_models()
    {
        var inv = CultureInfo.InvariantCulture;
        var models = ModelsFromEnvironment("mobilenet-v2-128-0.5", "ultraface-rfb-320");
        int maxImages = int.TryParse(Environment.GetEnvironmentVariable("QC_RQ_IMAGES"), out int n) ? n : int.MaxValue;
        foreach (var folder in models)
        {
            var calib = CalibrationFolder(folder);
            string onnx = SharedData.Model(folder + "/model.onnx");
            var shapes = ImageModels.InputShapes(folder);
            var f = ModelCompiler.Compile(new CompileOptions { ModelPath = onnx, ClassName = "F", Namespace = "T", InputShapes = shapes });
            var q = ModelCompiler.Compile(new CompileOptions { ModelPath = onnx, ClassName = "Q", Namespace = "T", InputShapes = shapes, Quantize = QuantizeMode.Int8, Calibration = calib.Folder });
            Assert.True(q.Success, string.Join("\n", q.Diagnostics));
            var ops = q.Graph!.Nodes.GroupBy(x => x.OpType).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}");
            Out.WriteLine($"== {folder}: {string.Join(", ", ops)}");

            var inputs = new List<(string Name, IReadOnlyList<Tensor> Inputs)>();
            foreach (var set in TestData.Sets(SharedData.Model(folder))) inputs.Add((Path.GetFileName(set), TestData.Inputs(set)));
            // The calibration images, less those a test set already holds (the test sets are made from some of them).
            int image = 0;
            foreach (var sample in CalibrationDataSet.Open(calib.Folder, f.Graph!.Inputs))
            {
                if (image >= maxImages) break;
                string label = $"image {image++}";
                if (!inputs.Any(t => t.Inputs.Zip(sample).All(p => p.First.ToDoubles().AsSpan().SequenceEqual(p.Second.ToDoubles()))))
                    inputs.Add((label, sample));
            }

            var stats = new Dictionary<string, LayerStats>(StringComparer.Ordinal);
            var sqnrFloat = new List<double>(); var sqnrFixed = new List<double>(); var sqnrBetween = new List<double>();
            long outputs = 0, outputsDiffer = 0; int argmaxChanged = 0;
            var propagated = new long[2];
            foreach (var (name, x) in inputs)
            {
                var reference = FloatInterpreter.Run(f.Graph!, x);
                var (a, b) = RunBoth(q.Graph!, x, stats, propagated);
                for (int o = 0; o < reference.Count; o++)
                {
                    double sa = FloatVsInt8.SqnrDb(reference[o], a[o]), sb = FloatVsInt8.SqnrDb(reference[o], b[o]);
                    sqnrFloat.Add(sa); sqnrFixed.Add(sb); sqnrBetween.Add(FloatVsInt8.SqnrDb(a[o], b[o]));
                    var da = a[o].ToDoubles(); var db = b[o].ToDoubles();
                    outputs += da.Length;
                    outputsDiffer += da.Where((v, i) => v != db[i]).Count();
                    if (FloatVsInt8.ArgMax(a[o]) != FloatVsInt8.ArgMax(b[o])) argmaxChanged++;
                    Out.WriteLine(string.Format(inv, "  {0} output {1}: SQNR vs float: float-scale scheme {2:F2} dB, fixed-point {3:F2} dB; between them {4:F1} dB",
                        name, o, sa, sb, sqnrBetween[^1]));
                }
            }

            var all = stats.Values.ToList();
            long total = all.Sum(s => s.Outputs);
            string Rate(long k) => string.Format(inv, "{0:N0} ({1:G3}%)", k, 100.0 * k / total);
            Out.WriteLine(string.Format(inv, "{0}: {1} QLinearConv layers, {2} distinct inputs, {3:N0} layer outputs; multipliers {4:G3} .. {5:G3}",
                folder, all.Count, inputs.Count, total, all.Min(s => s.MinM), all.Max(s => s.MaxM)));
            Out.WriteLine($"  same accumulators, fixed point (one rounding) ≠ float scale: {Rate(all.Sum(s => s.FixedDiffers))}, max |Δ| {all.Max(s => s.FixedMaxDiff)}");
            Out.WriteLine($"  same accumulators, gemmlowp (two roundings) ≠ float scale: {Rate(all.Sum(s => s.GemmlowpDiffers))}, max |Δ| {all.Max(s => s.GemmlowpMaxDiff)}");
            Out.WriteLine($"  ≠ exact round-half-even(acc·M): float scale {Rate(all.Sum(s => s.FloatInexact))} (max {all.Max(s => s.FloatMaxError)}), fixed point {Rate(all.Sum(s => s.FixedInexact))} (max {all.Max(s => s.FixedMaxError)}), gemmlowp {Rate(all.Sum(s => s.GemmlowpInexact))}");
            foreach (var s in all.OrderByDescending(s => (double)s.FixedDiffers / s.Outputs).Take(5))
                Out.WriteLine(string.Format(inv, "    {0}: {1:N0} outputs, fixed ≠ float {2:N0}, float inexact {3:N0}, fixed inexact {4:N0}, M {5:G3} .. {6:G3}",
                    s.Name, s.Outputs, s.FixedDiffers, s.FloatInexact, s.FixedInexact, s.MinM, s.MaxM));
            Out.WriteLine(string.Format(inv, "  whole model, fixed point in every QLinearConv: {0:N0} of {1:N0} int8 values computed ({2:G3}%) differ from the float-scale run (first differences carried downstream)",
                propagated[1], propagated[0], 100.0 * propagated[1] / propagated[0]));
            Out.WriteLine(string.Format(inv, "  whole model, fixed point in every QLinearConv: {0:N0} of {1:N0} model outputs differ, argmax changed {2}; output SQNR vs float: float scale min {3:F2} / mean {4:F2} dB, fixed point min {5:F2} / mean {6:F2} dB; between them min {7:F1} dB",
                outputsDiffer, outputs, argmaxChanged, sqnrFloat.Min(), sqnrFloat.Average(), sqnrFixed.Min(), sqnrFixed.Average(), sqnrBetween.Min()));
        }
    }

    /// <summary>
    /// Runs the quantized graph twice in step: A as the product does (each op's Evaluate), B with every QLinearConv
    /// requantized in fixed point (one rounding). Every QLinearConv of A also feeds <paramref name="stats"/>. While B's
    /// values equal A's, B shares A's tensors and work.
    /// </summary>
    private static (IReadOnlyList<Tensor> A, IReadOnlyList<Tensor> B) RunBoth(Graph g, IReadOnlyList<Tensor> inputs, Dictionary<string, LayerStats> stats,
        long[] propagated)
    {
        var a = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var b = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var kv in g.Constants) { a[kv.Key] = kv.Value; b[kv.Key] = kv.Value; }
        for (int i = 0; i < inputs.Count; i++) { a[g.Inputs[i].Name] = inputs[i]; b[g.Inputs[i].Name] = inputs[i]; }
        foreach (var node in g.Nodes)
        {
            var def = OpRegistry.Find(node.Domain, node.OpType)!;
            long opset = g.Info.Opsets.TryGetValue(node.Domain, out var v) ? v : 1;
            var insA = node.Inputs.Select(x => x.Length == 0 ? null : a[x]).ToArray();
            var insB = node.Inputs.Select(x => x.Length == 0 ? null : b[x]).ToArray();
            bool shared = insA.Zip(insB).All(p => ReferenceEquals(p.First, p.Second));
            var ctxA = new OpContext(node, insA.Select(t => t?.Type).ToArray(), insA, opset);
            Tensor[] outA, outB;
            if (node.OpType == "QLinearConv" && node.Domain.Length == 0)
            {
                bool first = !stats.TryGetValue(node.Name, out var st);
                if (first) stats[node.Name] = st = new LayerStats { Name = node.Name };
                var (yA, yFixedA) = Conv(ctxA, insA, st);
                // The float-scale side is the product's arithmetic: checked against the op's Evaluate once per layer.
                if (first) Assert.True(SameValues(def.Evaluate(ctxA, insA)[0], yA), $"{node.Name}: the float-scale requantization differs from Evaluate");
                outA = new[] { yA };
                if (shared) outB = new[] { SameValues(yA, yFixedA) ? yA : yFixedA };
                else
                {
                    var ctxB = new OpContext(node, insB.Select(t => t?.Type).ToArray(), insB, opset);
                    outB = new[] { Conv(ctxB, insB, null).Fixed };
                }
            }
            else
            {
                outA = def.Evaluate(ctxA, insA);
                outB = shared ? outA : def.Evaluate(new OpContext(node, insB.Select(t => t?.Type).ToArray(), insB, opset), insB);
            }
            for (int o = 0; o < node.Outputs.Count && o < outA.Length; o++)
            {
                if (node.Outputs[o].Length == 0) continue;
                a[node.Outputs[o]] = outA[o];
                b[node.Outputs[o]] = outB[o];
                // propagated[0]: 8-bit values computed, [1]: those that differ between the runs.
                if (outA[o].Type.ElementType is DataType.UInt8 or DataType.Int8)
                {
                    var va = outA[o].ToDoubles();
                    propagated[0] += va.Length;
                    if (!ReferenceEquals(outA[o], outB[o])) propagated[1] += va.Zip(outB[o].ToDoubles()).Count(p => p.First != p.Second);
                }
            }
        }
        return (g.Outputs.Select(o => a[o.Name]).ToList(), g.Outputs.Select(o => b[o.Name]).ToList());
    }

    private static bool SameValues(Tensor x, Tensor y) => x.ToDoubles().AsSpan().SequenceEqual(y.ToDoubles());

    /// <summary>One QLinearConv: the float-scale output (as Evaluate), the fixed-point output, and the comparisons on the same accumulators.</summary>
    private static (Tensor Float, Tensor Fixed) Conv(OpContext ctx, Tensor?[] inputs, LayerStats? st)
    {
        var slots = new QConvInputs(x: 0, xZeroPoint: 2, w: 3, wZeroPoint: 5, bias: 8);
        var s = QConvShape.Resolve(ctx, slots);
        var p = QConvParams.From(ctx, s, inputs);
        var acc = QConvReference.Accumulate(QConvReference.Ints(inputs[0]!), QConvReference.Ints(inputs[3]!), p.Bias, s, p.XZeroPoint, p.WZeroPoints);
        // The real multipliers as QConvParams makes them (double), before the float32 rounding.
        float xs = inputs[1]!.ToFloats()[0], ys = inputs[6]!.ToFloats()[0];
        var ws = inputs[4]!.ToFloats();
        var real = Enumerable.Range(0, s.M).Select(c => (double)xs * ws[ws.Length == 1 ? 0 : c] / ys).ToArray();
        var fixedPoint = real.Select(FixedPointRequantization.Multiplier).ToArray();
        int inner = s.G.OutH * s.G.OutW, zy = p.YZeroPoint, lo = p.ClampMin, hi = p.ClampMax;
        int Clamp(long r) => (int)Math.Max(lo, Math.Min(hi, r + zy));
        var yFloat = new double[acc.Length];
        var yFixed = new double[acc.Length];
        for (int i = 0; i < acc.Length; i++)
        {
            int c = i / inner % s.M;
            int fl = IntegerReference.Requantize(acc[i], p.Scales[c], zy, lo, hi);
            int fx = Clamp(FixedPointRequantization.SingleRounding(acc[i], fixedPoint[c].Q, fixedPoint[c].Exponent));
            yFloat[i] = fl; yFixed[i] = fx;
            if (st is null) continue;
            int gl = Clamp(FixedPointRequantization.Gemmlowp(acc[i], fixedPoint[c].Q, fixedPoint[c].Exponent));
            int ex = Clamp(FixedPointRequantization.Exact(acc[i], real[c]));
            st.Outputs++;
            if (fx != fl) { st.FixedDiffers++; st.FixedMaxDiff = Math.Max(st.FixedMaxDiff, Math.Abs(fx - fl)); }
            if (gl != fl) { st.GemmlowpDiffers++; st.GemmlowpMaxDiff = Math.Max(st.GemmlowpMaxDiff, Math.Abs(gl - fl)); }
            if (fl != ex) { st.FloatInexact++; st.FloatMaxError = Math.Max(st.FloatMaxError, Math.Abs(fl - ex)); }
            if (fx != ex) { st.FixedInexact++; st.FixedMaxError = Math.Max(st.FixedMaxError, Math.Abs(fx - ex)); }
            if (gl != ex) st.GemmlowpInexact++;
        }
        if (st is not null)
        {
            st.MinM = Math.Min(st.MinM, real.Min());
            st.MaxM = Math.Max(st.MaxM, real.Max());
        }
        var type = ctx.Input(7).ElementType;
        return (Tensor.FromDoubles(type, s.OutputShape, yFloat), Tensor.FromDoubles(type, s.OutputShape, yFixed));
    }
}
