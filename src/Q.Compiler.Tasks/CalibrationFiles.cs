using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Q.Compiler.Tasks
{
    /// <summary>
    /// The files of a calibration folder, found by the rules of <see cref="Quantization.CalibrationDataSet"/> but without
    /// reading them or the model (QPrepareModels runs on every build and must stay cheap): <c>.pb</c> and <c>.npy</c> files
    /// directly in the folder and in its <c>test_data_set_*</c> subfolders, except <c>output_*</c> files. A test keeps the
    /// two in step.
    /// </summary>
    internal static class CalibrationFiles
    {
        /// <summary>Full paths in ordinal order; empty when the folder does not exist (the compile then reports QC3001).</summary>
        public static IReadOnlyList<string> List(string folder)
        {
            if (!Directory.Exists(folder)) return Array.Empty<string>();
            var files = new List<string>(DataFiles(folder));
            foreach (var dir in Directory.GetDirectories(folder, "test_data_set_*")) files.AddRange(DataFiles(dir));
            files.Sort(StringComparer.Ordinal);
            return files;
        }

        private static IEnumerable<string> DataFiles(string dir) =>
            Directory.GetFiles(dir)
                .Where(f => f.EndsWith(".pb", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                .Where(f => !Path.GetFileName(f).StartsWith("output_", StringComparison.Ordinal))
                .Select(Path.GetFullPath);
    }
}
