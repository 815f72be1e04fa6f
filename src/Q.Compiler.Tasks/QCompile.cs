using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Q.Compiler.Diagnostics;
using Q.Compiler.Onnx;
using Q.Compiler.Pipeline;
using Q.Compiler.Quantization;
using Task = Microsoft.Build.Utilities.Task;

namespace Q.Compiler.Tasks
{
    /// <summary>
    /// Compiles ONNX models into plans (the text the source generator turns into C#). Takes the QModel items that
    /// QPrepareModels resolved and the up-to-date check found stale. For each model: runs
    /// <see cref="ModelCompiler.Compile"/>, writes the plan only if its text changed (so the C# compile stays up to
    /// date when a model is touched but not changed), writes the dependency file (the external data files and calibration
    /// files the compile reads), the quantization report of a quantized build, and logs every diagnostic with its QC code, the model file and a help link. Never throws: anything
    /// unexpected is reported as QC9001.
    /// </summary>
    public sealed class QCompile : Task
    {
        /// <summary>
        /// Models with ClassName, Namespace, InputShapes, DisplayPath, PlanFile and DependencyFile metadata, and the
        /// quantization metadata (see <see cref="QuantizationMetadata"/>).
        /// </summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Base of the diagnostic help links (a page per id: QC1001.md).</summary>
        public string HelpLinkBase { get; set; } = "";

        /// <summary>Importance of the one-line summary per model (QC4001): high (default), normal or low.</summary>
        public string SummaryImportance { get; set; } = "high";

        /// <summary>The plans that were written because their text changed.</summary>
        [Output]
        public ITaskItem[] WrittenPlans { get; private set; } = Array.Empty<ITaskItem>();

        public override bool Execute()
        {
            var written = new List<ITaskItem>();
            foreach (var model in Models)
            {
                string file = model.GetMetadata("FullPath");
                try
                {
                    if (CompileOne(model, file)) written.Add(new TaskItem(model.GetMetadata(QModelItem.PlanFile)));
                }
                catch (Exception e)
                {
                    // Writing a file failed, or a bug outside the pipeline's own guard: report, never crash the build.
                    LogDiagnostic(new Diagnostic(DiagnosticIds.InternalError, Severity.Error,
                        "internal error while compiling the model (" + e.GetType().Name + ": " + e.Message + "); please report it with the model"), file);
                    TryDelete(model.GetMetadata(QModelItem.DependencyFile));
                }
            }
            WrittenPlans = written.ToArray();
            return !Log.HasLoggedErrors;
        }

        /// <returns>True if the plan file was (re)written.</returns>
        private bool CompileOne(ITaskItem model, string file)
        {
            string planFile = model.GetMetadata(QModelItem.PlanFile);
            string depFile = model.GetMetadata(QModelItem.DependencyFile);
            var options = new CompileOptions
            {
                ModelPath = file,
                DisplayPath = NullIfEmpty(model.GetMetadata(QModelItem.DisplayPath)),
                ClassName = model.GetMetadata(QModelItem.ClassName),
                Namespace = model.GetMetadata(QModelItem.Namespace),
                InputShapes = NullIfEmpty(model.GetMetadata(QModelItem.InputShapes)),
                CompressWeights = !string.Equals(model.GetMetadata(QModelItem.CompressWeights).Trim(), "false", StringComparison.OrdinalIgnoreCase),
            };
            // QPrepareModels has checked and normalized these (Calibration is a full path by now); parsed again here
            // so that the task also stands alone.
            var problems = new List<Diagnostic>();
            var quantization = QuantizationMetadata.Parse(model, Path.GetDirectoryName(file) ?? "", problems, warnUnused: false);
            foreach (var p in problems) LogDiagnostic(p, file);
            if (problems.Exists(p => p.Severity == Severity.Error))
            {
                TryDelete(depFile);
                return false;
            }
            quantization.ApplyTo(options);
            string shown = options.DisplayPath ?? Path.GetFileName(file);
            options.Progress = line => Log.LogMessage(MessageImportance.Low, "{0}: {1}", shown, line);

            var clock = Stopwatch.StartNew();
            var result = ModelCompiler.Compile(options);
            bool wrote = false;
            if (result.Success && result.PlanText is not null)
            {
                wrote = QModelItem.WriteIfChanged(planFile, result.PlanText);
                var read = new List<string>(ModelDependencies.ExternalDataFiles(file));
                read.AddRange(quantization.CalibrationInputs());
                WriteDependencyFile(depFile, file, read);
            }
            else
            {
                // The next build must try again, whatever changes.
                TryDelete(depFile);
            }
            clock.Stop();

            bool sawError = false;
            foreach (var d in result.Diagnostics)
            {
                sawError |= d.Severity == Severity.Error;
                if (d.Id == DiagnosticIds.CompileSummary && result.Success)
                {
                    // The one line per model: what the compiler made of it, how long it took, and where the plan is.
                    string what = wrote ? "wrote " + planFile : "plan unchanged";
                    string message = string.Format(CultureInfo.InvariantCulture, "{0} ({1} ms; {2})", d.Message, clock.ElapsedMilliseconds, what);
                    LogDiagnostic(new Diagnostic(d.Id, d.Severity, message, d.File, d.Node), file);
                }
                else LogDiagnostic(d, file);
            }
            if (result.Success) PublishReport(planFile, result.QuantizationReport, file);
            if (result.Success) PublishOnnx(planFile, result.Graph, string.Equals(model.GetMetadata(QModelItem.ExportOnnx), "true", StringComparison.OrdinalIgnoreCase), file);
            if (!result.Success && !sawError)
                LogDiagnostic(new Diagnostic(DiagnosticIds.InternalError, Severity.Error, "the compiler stopped without saying why; please report it with the model"), file);
            return wrote;
        }

        private void LogDiagnostic(Diagnostic d, string file)
        {
            string keyword = "Q.Compiler." + d.Id;
            string link = QModelItem.HelpLink(HelpLinkBase, d.Id);
            switch (d.Severity)
            {
                case Severity.Error:
                    Log.LogError(null, d.Id, keyword, link, file, 0, 0, 0, 0, d.Message);
                    break;
                case Severity.Warning:
                    Log.LogWarning(null, d.Id, keyword, link, file, 0, 0, 0, 0, d.Message);
                    break;
                default:
                    var importance = d.Id == DiagnosticIds.CompileSummary || d.Id == DiagnosticIds.QuantizationSummary
                        ? ParseImportance(SummaryImportance) : MessageImportance.Normal;
                    Log.LogMessage(null, d.Id, keyword, file, 0, 0, 0, 0, importance, d.Message);
                    break;
            }
        }

        /// <summary>
        /// For a quantized build: writes the report beside the plan (<c>.qreport.md</c>, <c>.qreport.json</c>; only files
        /// whose text changed) and logs its summary line (QC3017). For a float build: deletes the report of an earlier
        /// quantized build, so that no stale report sits beside a float plan.
        /// </summary>
        internal void PublishReport(string planFile, QuantizationReport? report, string modelFile)
        {
            string markdown = QModelItem.ReportFile(planFile, QModelItem.ReportMarkdownExtension);
            string json = QModelItem.ReportFile(planFile, QModelItem.ReportJsonExtension);
            if (report is null)
            {
                TryDelete(markdown);
                TryDelete(json);
                return;
            }
            QModelItem.WriteIfChanged(markdown, report.ToMarkdown());
            QModelItem.WriteIfChanged(json, report.ToJson());
            LogDiagnostic(new Diagnostic(DiagnosticIds.QuantizationSummary, Severity.Info, report.SummaryLine + " (report: " + markdown + ")"), modelFile);
        }

        /// <summary>
        /// ExportOnnx="true": writes the compiled graph as ONNX beside the plan (<c>Mnist.compiled.onnx</c>; only when its
        /// bytes changed). A graph that has no ONNX form is a QC4004 warning and no file. Otherwise deletes the file of an
        /// earlier export, so that no stale model sits beside the plan.
        /// </summary>
        internal void PublishOnnx(string planFile, Ir.Graph? graph, bool export, string modelFile)
        {
            string path = QModelItem.ReportFile(planFile, QModelItem.OnnxExportExtension);
            if (!export || graph is null)
            {
                TryDelete(path);
                return;
            }
            byte[] bytes;
            try { bytes = Export.OnnxWriter.Write(graph); }
            catch (QcException e)
            {
                TryDelete(path);
                LogDiagnostic(new Diagnostic(e.Diagnostic.Id, Severity.Warning, e.Diagnostic.Message), modelFile);
                return;
            }
            if (File.Exists(path) && new FileInfo(path).Length == bytes.Length && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return;
            File.WriteAllBytes(path, bytes);
        }

        private static void WriteDependencyFile(string path, string model, IReadOnlyList<string> files)
        {
            var sb = new StringBuilder();
            sb.Append("# Q.Compiler dependency file: files besides ").Append(Path.GetFileName(model))
              .Append(" that its compile read. Rewritten by every successful compile (the up-to-date check compares against it).\n");
            foreach (var f in files) sb.Append(f).Append('\n');
            string? dir = Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            // Always written (not only when changed): its timestamp marks the last successful compile.
            File.WriteAllText(path, sb.ToString(), QModelItem.Utf8);
        }

        private static MessageImportance ParseImportance(string s) =>
            s.Trim().ToLowerInvariant() switch { "low" => MessageImportance.Low, "normal" => MessageImportance.Normal, _ => MessageImportance.High };

        private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

        private static void TryDelete(string path)
        {
            try { if (path.Length > 0 && File.Exists(path)) File.Delete(path); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
