using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Q.Compiler.Diagnostics;
using Q.Compiler.Plan;

namespace Q.Compiler.Tasks
{
    /// <summary>
    /// Resolves every QModel item before the up-to-date check (like Grpc.Tools' ProtoCompilerOutputs and
    /// ProtoReadDependencies together): fills in the defaults (ClassName from the file name, Namespace from the
    /// project), names the files the compiler writes, writes a metadata stamp when the effective metadata changed,
    /// and reads the dependency files of earlier compiles. Cheap; runs on every build.
    /// </summary>
    public sealed class QPrepareModels : Task
    {
        /// <summary>The QModel items.</summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Where plans, dependency files and stamps go (normally $(IntermediateOutputPath)qmodels/).</summary>
        [Required]
        public string OutputDirectory { get; set; } = "";

        /// <summary>The project's folder: model paths in generated headers are relative to it.</summary>
        public string ProjectDirectory { get; set; } = "";

        /// <summary>Namespace for models whose item has none (normally $(RootNamespace)).</summary>
        public string RootNamespace { get; set; } = "";

        /// <summary>Base of the diagnostic help links (a page per id: QC0002.md).</summary>
        public string HelpLinkBase { get; set; } = "";

        /// <summary>The models with every metadata the QCompile task needs, and Source = the item's identity (its stamp file).</summary>
        [Output]
        public ITaskItem[] CompileModels { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Inputs of the up-to-date check besides the model: its metadata stamp and the files of its last dependency file.</summary>
        [Output]
        public ITaskItem[] Dependencies { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Outputs of the up-to-date check: each model's dependency file, rewritten by every successful compile.</summary>
        [Output]
        public ITaskItem[] ExpectedOutputs { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>The plan files (for AdditionalFiles).</summary>
        [Output]
        public ITaskItem[] Plans { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Every file the compiler may write for these models (for FileWrites, so that clean removes them).</summary>
        [Output]
        public ITaskItem[] FileWrites { get; private set; } = Array.Empty<ITaskItem>();

        public override bool Execute()
        {
            try
            {
                Prepare();
            }
            catch (Exception e)
            {
                Log.LogError(null, DiagnosticIds.InternalError, "Q.Compiler." + DiagnosticIds.InternalError,
                    QModelItem.HelpLink(HelpLinkBase, DiagnosticIds.InternalError), BuildEngine?.ProjectFileOfTaskNode ?? "", 0, 0, 0, 0,
                    "internal error while preparing QModel items (" + e.GetType().Name + ": " + e.Message + "); please report it");
            }
            return !Log.HasLoggedErrors;
        }

        private void Prepare()
        {
            string outDir = Path.GetFullPath(OutputDirectory);
            var compile = new List<ITaskItem>();
            var dependencies = new List<ITaskItem>();
            var expected = new List<ITaskItem>();
            var plans = new List<ITaskItem>();
            var writes = new List<ITaskItem>();
            var byClass = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

            foreach (var model in Models)
            {
                string source = model.ItemSpec;
                string fullPath = model.GetMetadata("FullPath");
                string className = model.GetMetadata(QModelItem.ClassName).Trim();
                if (className.Length == 0) className = Identifiers.Pascal(Path.GetFileNameWithoutExtension(fullPath));
                string ns = model.GetMetadata(QModelItem.Namespace).Trim();
                if (ns.Length == 0) ns = RootNamespace.Trim();
                string inputShapes = model.GetMetadata(QModelItem.InputShapes).Trim();

                if (!QModelItem.IsIdentifier(className))
                {
                    Error(fullPath, $"ClassName '{className}' is not a C# identifier (letters, digits and '_', not starting with a digit); set ClassName on the QModel item");
                    continue;
                }
                if (!QModelItem.IsNamespace(ns))
                {
                    Error(fullPath, $"Namespace '{ns}' is not a C# namespace (identifiers separated by '.'); set Namespace on the QModel item or fix RootNamespace");
                    continue;
                }
                if (byClass.TryGetValue(className, out var other))
                {
                    Error(fullPath, $"QModel items '{other}' and '{source}' both have ClassName '{className}' (plans are named after the class); give one of them another ClassName");
                    continue;
                }
                byClass.Add(className, source);

                string exportOnnx = model.GetMetadata(QModelItem.ExportOnnx).Trim();
                if (exportOnnx.Length == 0 || string.Equals(exportOnnx, "false", StringComparison.OrdinalIgnoreCase)) exportOnnx = "false";
                else if (string.Equals(exportOnnx, "true", StringComparison.OrdinalIgnoreCase)) exportOnnx = "true";
                else
                {
                    Error(fullPath, $"ExportOnnx '{exportOnnx}' is not true or false");
                    continue;
                }

                string compressWeights = model.GetMetadata(QModelItem.CompressWeights).Trim();
                if (compressWeights.Length == 0 || string.Equals(compressWeights, "true", StringComparison.OrdinalIgnoreCase)) compressWeights = "true";
                else if (string.Equals(compressWeights, "false", StringComparison.OrdinalIgnoreCase)) compressWeights = "false";
                else
                {
                    Error(fullPath, $"CompressWeights '{compressWeights}' is not true or false");
                    continue;
                }

                var problems = new List<Diagnostic>();
                var quantization = QuantizationMetadata.Parse(model, ProjectDirectory, problems);
                foreach (var p in problems) Report(fullPath, p);
                if (problems.Any(p => p.Severity == Severity.Error)) continue;
                // Listed on every build (a directory scan, nothing read), so that an added, removed or changed file reruns the compile.
                var calibrationFiles = quantization.CalibrationInputs();

                string planFile = Path.Combine(outDir, className + QModelItem.PlanExtension);
                string depFile = Path.Combine(outDir, className + QModelItem.DependencyExtension);
                string stampFile = Path.Combine(outDir, className + QModelItem.StampExtension);

                // The stamp holds the effective metadata; it is rewritten only when that changes, so its timestamp
                // tells the up-to-date check whether the item's metadata changed since the last compile.
                // The batching key of the up-to-date check. Not the model file: one file may be listed twice (a float and
                // an int8 build of it), and each build has its own inputs and outputs. The stamp is unique per item, and
                // being a file that exists (and an input anyway), it can stand in the target's Inputs, where %(Source) is.
                string identity = stampFile;

                QModelItem.WriteIfChanged(stampFile, Stamp(source, className, ns, inputShapes, quantization, calibrationFiles, exportOnnx == "true", compressWeights == "true"));

                // A dependency file is written only by a successful compile. Without a plan beside it (deleted by hand,
                // or never written) drop it, so that the up-to-date check sees a missing output and compiles again.
                if (!File.Exists(planFile) && File.Exists(depFile)) File.Delete(depFile);

                var item = new TaskItem(model);
                item.SetMetadata(QModelItem.Source, identity);
                item.SetMetadata(QModelItem.ClassName, className);
                item.SetMetadata(QModelItem.Namespace, ns);
                item.SetMetadata(QModelItem.InputShapes, inputShapes);
                item.SetMetadata(QModelItem.ExportOnnx, exportOnnx);
                item.SetMetadata(QModelItem.CompressWeights, compressWeights);
                item.SetMetadata(QModelItem.DisplayPath, DisplayPathOf(fullPath));
                item.SetMetadata(QModelItem.PlanFile, planFile);
                item.SetMetadata(QModelItem.DependencyFile, depFile);
                item.SetMetadata(QModelItem.StampFile, stampFile);
                foreach (var kv in quantization.Normalized()) item.SetMetadata(kv.Key, kv.Value);
                compile.Add(item);

                dependencies.Add(WithSource(stampFile, identity));
                foreach (var dep in ReadDependencyFile(depFile).Concat(calibrationFiles).Distinct(StringComparer.Ordinal)) dependencies.Add(WithSource(dep, identity));
                expected.Add(WithSource(depFile, identity));
                plans.Add(WithSource(planFile, identity));
                writes.Add(new TaskItem(planFile));
                writes.Add(new TaskItem(depFile));
                writes.Add(new TaskItem(stampFile));
                writes.Add(new TaskItem(QModelItem.ReportFile(planFile, QModelItem.ReportMarkdownExtension)));
                writes.Add(new TaskItem(QModelItem.ReportFile(planFile, QModelItem.ReportJsonExtension)));
                if (exportOnnx == "true") writes.Add(new TaskItem(QModelItem.ReportFile(planFile, QModelItem.OnnxExportExtension)));
            }

            CompileModels = compile.ToArray();
            Dependencies = dependencies.ToArray();
            ExpectedOutputs = expected.ToArray();
            Plans = plans.ToArray();
            FileWrites = writes.ToArray();
        }

        /// <summary>The text of a metadata stamp: what the generated code depends on besides the model's bytes.</summary>
        /// <remarks>
        /// The calibration files are listed with their sizes: the up-to-date check sees a changed file by its timestamp, and
        /// the list catches what timestamps miss (a file added with an old timestamp, a file deleted or renamed).
        /// </remarks>
        internal static string Stamp(string source, string className, string ns, string inputShapes,
            QuantizationMetadata quantization, IReadOnlyList<string> calibrationFiles, bool exportOnnx = false, bool compressWeights = true)
        {
            var sb = new StringBuilder();
            sb.Append("# Q.Compiler metadata stamp: the QModel item as last compiled. Written by QPrepareModels.\n");
            sb.Append("Source=").Append(source).Append('\n');
            sb.Append("ClassName=").Append(className).Append('\n');
            sb.Append("Namespace=").Append(ns).Append('\n');
            sb.Append("InputShapes=").Append(inputShapes).Append('\n');
            if (exportOnnx) sb.Append("ExportOnnx=true\n");
            if (!compressWeights) sb.Append("CompressWeights=false\n");
            foreach (var kv in quantization.Normalized()) sb.Append(kv.Key).Append('=').Append(kv.Value).Append('\n');
            foreach (var file in calibrationFiles)
                sb.Append("CalibrationFile=").Append(file).Append(' ').Append(new FileInfo(file).Length.ToString(CultureInfo.InvariantCulture)).Append('\n');
            return sb.ToString();
        }

        /// <summary>The paths listed in a dependency file (lines that are not blank and not comments).</summary>
        internal static IEnumerable<string> ReadDependencyFile(string path)
        {
            if (!File.Exists(path)) yield break;
            foreach (var raw in File.ReadAllLines(path, QModelItem.Utf8))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line[0] == '#') continue;
                yield return line;
            }
        }

        private string DisplayPathOf(string fullPath)
        {
            if (ProjectDirectory.Length > 0)
            {
                string root = Path.GetFullPath(ProjectDirectory).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) + Path.DirectorySeparatorChar;
                if (fullPath.StartsWith(root, StringComparison.OrdinalIgnoreCase))
                    return fullPath.Substring(root.Length).Replace('\\', '/');
            }
            return Path.GetFileName(fullPath);
        }

        private static TaskItem WithSource(string path, string source)
        {
            var item = new TaskItem(path);
            item.SetMetadata(QModelItem.Source, source);
            return item;
        }

        private void Report(string file, Diagnostic d)
        {
            string keyword = "Q.Compiler." + d.Id;
            string link = QModelItem.HelpLink(HelpLinkBase, d.Id);
            if (d.Severity == Severity.Error) Log.LogError(null, d.Id, keyword, link, file, 0, 0, 0, 0, d.Message);
            else Log.LogWarning(null, d.Id, keyword, link, file, 0, 0, 0, 0, d.Message);
        }

        private void Error(string file, string message) =>
            Log.LogError(null, DiagnosticIds.BadMetadata, "Q.Compiler." + DiagnosticIds.BadMetadata,
                QModelItem.HelpLink(HelpLinkBase, DiagnosticIds.BadMetadata), file, 0, 0, 0, 0, message);
    }
}
