using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Import;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Onnx;
using Q.Compiler.Passes;
using Q.Compiler.Plan;
using Q.Compiler.Planning;
using Q.Compiler.Quantization;

namespace Q.Compiler.Pipeline
{
    /// <summary>
    /// The whole build-time pipeline for one model: read → import (static shapes, folding) → passes → lower →
    /// plan memory → plan. Every stage is a function of its input; the same model and options give byte-identical plans.
    /// Never throws for bad input: failures come back as error diagnostics with a QC id.
    /// </summary>
    public static class ModelCompiler
    {
        /// <summary>The generator's limit for the string-literal weights form (ModelEmitter.MaxStringLiteralWeightBytes; a test keeps them equal).</summary>
        internal const int MaxStringLiteralWeightBytes = 8 * 1024 * 1024;

        public static CompileResult Compile(CompileOptions options)
        {
            var bag = new DiagnosticBag();
            string display = options.DisplayPath ?? Path.GetFileName(options.ModelPath);
            try
            {
                var model = OnnxReader.ReadFile(options.ModelPath, display);
                var notes = new List<string>();
                model = Float16ToFloat32Pass.Run(model, out bool wasFloat16);
                if (wasFloat16) notes.Add(Float16ToFloat32Pass.Note);
                var graph = GraphImporter.Import(model, GraphImporter.ParseInputShapes(options.InputShapes), bag);
                graph = PassPipeline.Optimize(graph, bag);
                string className = options.ClassName.Length > 0 ? options.ClassName : Identifiers.Pascal(Path.GetFileNameWithoutExtension(options.ModelPath));
                QuantizationReport? report = null;
                string precision = "float32";
                if (options.Quantize == QuantizeMode.Dynamic && !GraphQuantizer.IsQuantized(graph))
                {
                    var floatGraph = graph;
                    var dynamic = DynamicQuantizer.Quantize(graph, new DynamicQuantizerOptions { KeepFloat = options.KeepFloat }, bag);
                    graph = dynamic.Graph;
                    report = dynamic.Report;
                    report.Model = display;
                    report.FloatWeightBytes = FloatWeightBytes(floatGraph, options.Namespace, className, options.CompressWeights);
                    if (dynamic.QuantizedLayers > 0) precision = "int8-dynamic";
                }
                if (options.Quantize == QuantizeMode.Int8 && !GraphQuantizer.IsQuantized(graph))
                {
                    var floatGraph = graph;
                    var quantized = Quantize(graph, options, bag);
                    graph = quantized.Graph;
                    report = quantized.Report;
                    report.Model = display;
                    report.FloatWeightBytes = FloatWeightBytes(floatGraph, options.Namespace, className, options.CompressWeights);
                    precision = "int8";
                }
                var lowered = Lowerer.Lower(graph);
                var layout = MemoryPlanner.Plan(lowered);
                if (layout.ArenaBytes > int.MaxValue)
                    throw new QcException(DiagnosticIds.TensorTooLarge, string.Format(CultureInfo.InvariantCulture,
                        "the model needs {0:N0} bytes of scratch memory at once, more than the 2 GiB one .NET array can hold; pin smaller input shapes (InputShapes)",
                        layout.ArenaBytes));
                var plan = PlanBuilder.Build(lowered, layout, options.Namespace, className, precision, notes, options.CompressWeights);
                if (report is not null)
                {
                    report.WeightBytes = plan.Weights.Length;
                    report.ScratchBytes = plan.ArenaBytes;
                }
                if (plan.Weights.Length > MaxStringLiteralWeightBytes)
                    bag.Info(DiagnosticIds.LargeWeights, string.Format(CultureInfo.InvariantCulture,
                        "{0}: {1:N0} bytes of weights are above the {2:N0}-byte limit of the string-literal form; they are emitted as a ulong[] initializer, which compiles more slowly",
                        className, plan.Weights.Length, MaxStringLiteralWeightBytes));
                bag.Info(DiagnosticIds.CompileSummary, string.Format(CultureInfo.InvariantCulture,
                    "{0}: {1} layers, {2:N0} bytes of weights, {3:N0} bytes of scratch (lower bound {4:N0})",
                    className, plan.Layers.Count, plan.Weights.Length, plan.ArenaBytes, plan.ArenaLowerBound));
                return new CompileResult(plan, PlanText.Write(plan), WithFile(bag.Items, display), graph) { QuantizationReport = report };
            }
            catch (QcException e)
            {
                bag.Add(e.Diagnostic);
                return new CompileResult(null, null, WithFile(bag.Items, display), null);
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                bag.Add(new Diagnostic(DiagnosticIds.InternalError, Severity.Error,
                    $"internal compiler error ({e.GetType().Name}: {e.Message}); please report it with the model. {FirstFrame(e)}"));
                return new CompileResult(null, null, WithFile(bag.Items, display), null);
            }
        }

        /// <summary>Static int8: calibrate the optimized float graph on the Calibration folder, then rewrite it (GraphQuantizer).</summary>
        private static QuantizedGraph Quantize(Graph graph, CompileOptions options, DiagnosticBag bag)
        {
            if (string.IsNullOrEmpty(options.Calibration))
                throw new QcException(DiagnosticIds.CalibrationEmpty,
                    "Quantize=\"Int8\" needs calibration data: set Calibration to a folder of .pb/.npy inputs (see docs/quantization.md)");
            graph = GraphQuantizer.Unfuse(graph);
            var set = CalibrationDataSet.Open(options.Calibration!, graph.Inputs);
            // The float runs of the first calibration pass are kept (within a memory budget) for the later passes.
            var runs = new FloatRuns(graph, set, FloatRuns.DefaultBudgetBytes, options.Progress);
            var calibration = Calibrator.Run(runs, new CalibrationOptions
            {
                Method = options.CalibrationMethod,
                Percentile = options.CalibrationPercentile,
            });
            string method = options.CalibrationMethod == CalibrationMethod.Percentile
                ? string.Format(CultureInfo.InvariantCulture, "Percentile {0}", options.CalibrationPercentile)
                : options.CalibrationMethod.ToString();
            return GraphQuantizer.Quantize(graph, calibration, runs, new QuantizerOptions
            {
                KeepFloat = options.KeepFloat,
                MinLayerSqnrDb = options.MinLayerSqnrDb,
                MinOutputSqnrDb = options.MinOutputSqnrDb,
                QuantizedIO = options.QuantizedIO,
                PairSafeWeights = options.PairSafeWeights,
                CompensatedRounding = options.CompensatedRounding,
                CompensatedWeightOnly = options.CompensatedWeightOnly,
                ClipMargins = QuantizerOptions.SearchedClipMargins,
                CalibrationDescription = string.Format(CultureInfo.InvariantCulture, "{0}, {1} samples", method, calibration.Samples),
            }, bag);
        }

        /// <summary>The weight bytes of the float32 build: the float graph lowered and planned exactly as a float build would be.</summary>
        private static long FloatWeightBytes(Graph floatGraph, string ns, string className, bool compressWeights)
        {
            var lowered = Lowerer.Lower(floatGraph);
            return PlanBuilder.Build(lowered, MemoryPlanner.Plan(lowered), ns, className, "float32", null, compressWeights).Weights.Length;
        }

        private static string FirstFrame(Exception e)
        {
            var st = e.StackTrace;
            if (st is null) return "";
            var line = st.Split('\n').FirstOrDefault()?.Trim();
            return line ?? "";
        }

        private static IReadOnlyList<Diagnostic> WithFile(IReadOnlyList<Diagnostic> items, string file) =>
            items.Select(d => d.WithFile(file)).ToList();
    }
}
