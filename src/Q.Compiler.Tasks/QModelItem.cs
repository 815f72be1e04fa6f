using System;
using System.IO;
using System.Text;

namespace Q.Compiler.Tasks
{
    /// <summary>Names of the metadata on QModel items, and small helpers shared by the tasks.</summary>
    internal static class QModelItem
    {
        // User-facing metadata (documented in docs/msbuild.md).
        public const string ClassName = "ClassName";
        public const string Namespace = "Namespace";
        public const string InputShapes = "InputShapes";
        /// <summary>"true": also write the compiled graph as ONNX beside the plan (<see cref="OnnxExportExtension"/>).</summary>
        public const string ExportOnnx = "ExportOnnx";
        public const string CompressWeights = "CompressWeights";

        // Set by QPrepareModels on the items it hands to QCompile.
        /// <summary>
        /// The item's identity, its stamp file (unique per item; one model file may be listed twice with two class names);
        /// links the model with its dependencies and outputs when MSBuild batches.
        /// </summary>
        public const string Source = "Source";
        public const string DisplayPath = "DisplayPath";
        public const string PlanFile = "PlanFile";
        public const string DependencyFile = "DependencyFile";
        public const string StampFile = "StampFile";

        public const string PlanExtension = ".qplan";
        public const string DependencyExtension = ".qdep";
        public const string StampExtension = ".qstamp";
        public const string ReportMarkdownExtension = ".qreport.md";
        public const string ReportJsonExtension = ".qreport.json";
        public const string OnnxExportExtension = ".compiled.onnx";

        /// <summary>The quantization report files of a plan: Mnist.qplan → Mnist.qreport.md, Mnist.qreport.json (same folder).</summary>
        public static string ReportFile(string planFile, string extension) =>
            Path.Combine(Path.GetDirectoryName(planFile) ?? "", Path.GetFileNameWithoutExtension(planFile) + extension);

        /// <summary>UTF-8 without a byte-order mark, so files are byte-identical across platforms.</summary>
        public static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

        /// <summary>True for a C# identifier made of ASCII letters, digits and underscores, not starting with a digit.</summary>
        public static bool IsIdentifier(string s)
        {
            if (s.Length == 0 || char.IsDigit(s[0])) return false;
            foreach (char c in s)
                if (!(c < 128 && (char.IsLetterOrDigit(c) || c == '_'))) return false;
            return true;
        }

        /// <summary>True for "", "Demo" or "Demo.Models": dot-separated identifiers.</summary>
        public static bool IsNamespace(string s)
        {
            if (s.Length == 0) return true;
            foreach (var part in s.Split('.'))
                if (!IsIdentifier(part)) return false;
            return true;
        }

        /// <summary>Writes <paramref name="text"/> unless the file already holds exactly that, so its timestamp stays put.</summary>
        /// <returns>True if the file was written.</returns>
        public static bool WriteIfChanged(string path, string text)
        {
            byte[] bytes = Utf8.GetBytes(text);
            if (File.Exists(path))
            {
                byte[] old = File.ReadAllBytes(path);
                if (old.Length == bytes.Length && ((ReadOnlySpan<byte>)old).SequenceEqual(bytes)) return false;
            }
            string? dir = Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            File.WriteAllBytes(path, bytes);
            return true;
        }

        /// <summary>
        /// The help link of a diagnostic page: <paramref name="baseUri"/> + "/" + id + ".md", where the base is a web
        /// address or a folder (then the link is a file: URI).
        /// </summary>
        public static string HelpLink(string? baseUri, string id)
        {
            if (string.IsNullOrEmpty(baseUri)) return "";
            string page = baseUri!.TrimEnd('/', '\\') + "/" + id + ".md";
            if (Path.IsPathRooted(page) && Uri.TryCreate(Path.GetFullPath(page), UriKind.Absolute, out var uri)) return uri.AbsoluteUri;
            return page;
        }
    }
}
