using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// A folder of calibration inputs, read at build time only. Files are ONNX TensorProto files (<c>.pb</c>, the format of
    /// ONNX test data) and NumPy arrays (<c>.npy</c>), either directly in the folder or in <c>test_data_set_*</c> subfolders;
    /// each folder is a group of files that together feed every model input.
    /// </summary>
    /// <remarks>
    /// <para>A file is for the input whose position its name gives (<c>input_N.pb</c>, <c>input_N.npy</c>), else the input named
    /// by its TensorProto name or its .npy file name, else — when the model has one input — that input.</para>
    /// <para>A tensor is one sample when its shape equals the input's; it is a stack of samples when it has one more leading
    /// dimension (<c>[S, …input shape]</c>) or its first dimension is a multiple of the input's with the rest equal
    /// (<c>[S·n, …]</c> for an input <c>[n, …]</c>). Element types must match exactly. In a group, every input needs the same
    /// number of samples; samples are taken in file-name order (ordinal), groups in folder-name order (numeric suffix).</para>
    /// <para>Files are read again on each enumeration, so a large set never has to fit in memory at once.</para>
    /// </remarks>
    public sealed class CalibrationDataSet : IEnumerable<IReadOnlyList<Tensor>>
    {
        private readonly IReadOnlyList<ValueInfo> _inputs;
        private readonly List<Group> _groups;

        private CalibrationDataSet(IReadOnlyList<ValueInfo> inputs, List<Group> groups)
        {
            _inputs = inputs;
            _groups = groups;
            Count = groups.Sum(g => g.Samples);
        }

        /// <summary>Number of samples (model runs) in the set.</summary>
        public int Count { get; }

        /// <summary>Every file the set reads, for the build's dependency tracking (so that a changed file reruns the compiler).</summary>
        public IReadOnlyList<string> Files => _groups.SelectMany(g => g.Files.SelectMany(f => f)).Select(f => f.Path).ToList();

        /// <summary>Scans and validates the folder (every file is read once); throws <see cref="QcException"/> with a QC3xxx code.</summary>
        public static CalibrationDataSet Open(string folder, IReadOnlyList<ValueInfo> inputs)
        {
            if (!Directory.Exists(folder))
                throw new QcException(DiagnosticIds.CalibrationEmpty, $"calibration folder '{folder}' does not exist");
            var dirs = new List<string>();
            if (DataFiles(folder).Any()) dirs.Add(folder);
            dirs.AddRange(Directory.GetDirectories(folder, "test_data_set_*")
                .OrderBy(d => SuffixNumber(Path.GetFileName(d))).ThenBy(d => d, StringComparer.Ordinal));
            var groups = new List<Group>();
            foreach (var dir in dirs)
            {
                var g = ScanGroup(dir, inputs);
                if (g.Samples > 0) groups.Add(g);
            }
            if (groups.Count == 0)
                throw new QcException(DiagnosticIds.CalibrationEmpty,
                    $"calibration folder '{folder}' has no .pb or .npy files (directly or in test_data_set_* folders); see docs/quantization.md for how to make them");
            return new CalibrationDataSet(inputs, groups);
        }

        public IEnumerator<IReadOnlyList<Tensor>> GetEnumerator()
        {
            foreach (var g in _groups)
            {
                // Per input: the samples of its files, in order.
                var perInput = new List<Tensor>[_inputs.Count];
                for (int i = 0; i < _inputs.Count; i++)
                {
                    perInput[i] = new List<Tensor>();
                    foreach (var f in g.Files[i])
                        perInput[i].AddRange(Split(ReadFile(f.Path).Tensor, _inputs[i], f.Path));
                }
                for (int s = 0; s < g.Samples; s++)
                {
                    var sample = new Tensor[_inputs.Count];
                    for (int i = 0; i < sample.Length; i++) sample[i] = perInput[i][s];
                    yield return sample;
                }
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class FileEntry
        {
            public FileEntry(string path, int samples) { Path = path; Samples = samples; }
            public string Path { get; }
            public int Samples { get; }
        }

        private sealed class Group
        {
            public Group(List<FileEntry>[] files, int samples) { Files = files; Samples = samples; }
            public List<FileEntry>[] Files { get; }
            public int Samples { get; }
        }

        private static IEnumerable<string> DataFiles(string dir) =>
            Directory.GetFiles(dir).Where(f => f.EndsWith(".pb", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                .Where(f => !Path.GetFileName(f).StartsWith("output_", StringComparison.Ordinal))   // ONNX test sets also hold outputs
                .OrderBy(f => f, StringComparer.Ordinal);

        private static Group ScanGroup(string dir, IReadOnlyList<ValueInfo> inputs)
        {
            var files = new List<FileEntry>[inputs.Count];
            for (int i = 0; i < files.Length; i++) files[i] = new List<FileEntry>();
            bool any = false;
            foreach (var path in DataFiles(dir))
            {
                any = true;
                var (name, tensor) = ReadFile(path);
                int input = InputFor(path, name, inputs);
                int samples = Split(tensor, inputs[input], path).Count;
                files[input].Add(new FileEntry(path, samples));
            }
            if (!any) return new Group(files, 0);
            int count = -1;
            for (int i = 0; i < inputs.Count; i++)
            {
                int n = files[i].Sum(f => f.Samples);
                if (files[i].Count == 0)
                    throw new QcException(DiagnosticIds.CalibrationInputMapping,
                        $"calibration folder '{dir}' has no data for model input {i} '{inputs[i].Name}'; add input_{i}.pb or input_{i}.npy");
                if (count >= 0 && n != count)
                    throw new QcException(DiagnosticIds.CalibrationMismatch,
                        $"calibration folder '{dir}' has {count} samples for input '{inputs[0].Name}' but {n} for input '{inputs[i].Name}'; every input needs the same number");
                count = n;
            }
            return new Group(files, count);
        }

        private static int InputFor(string path, string protoName, IReadOnlyList<ValueInfo> inputs)
        {
            string stem = Path.GetFileNameWithoutExtension(path);
            if (stem.StartsWith("input_", StringComparison.Ordinal)
                && int.TryParse(stem.Substring(6), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                if (n >= inputs.Count)
                    throw new QcException(DiagnosticIds.CalibrationInputMapping,
                        $"calibration file '{path}' is for input {n}, but the model has {inputs.Count} input(s)");
                return n;
            }
            for (int i = 0; i < inputs.Count; i++)
                if (protoName.Length > 0 && protoName == inputs[i].Name) return i;
            for (int i = 0; i < inputs.Count; i++)
                if (stem == inputs[i].Name || stem == SafeFileName(inputs[i].Name)) return i;
            if (inputs.Count == 1) return 0;
            throw new QcException(DiagnosticIds.CalibrationInputMapping,
                $"calibration file '{path}' matches no model input; name it input_N (N = the input's position) or after the input ({string.Join(", ", inputs.Select(v => "'" + v.Name + "'"))})");
        }

        /// <summary>An input name as a file name: characters that file systems reject (and ':') become '_'.</summary>
        public static string SafeFileName(string name)
        {
            var bad = new HashSet<char>(Path.GetInvalidFileNameChars()) { ':', '/', '\\' };
            return new string(name.Select(c => bad.Contains(c) ? '_' : c).ToArray());
        }

        private static (string Name, Tensor Tensor) ReadFile(string path)
        {
            if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) return ("", NpyReader.Read(path));
            try { return OnnxReader.ReadNamedTensorFile(path); }
            catch (QcException e)
            {
                throw new QcException(DiagnosticIds.CalibrationUnreadable, $"calibration file '{path}' is not a valid TensorProto: {e.Diagnostic.Message}");
            }
            catch (Exception e) when (e is Google.Protobuf.InvalidProtocolBufferException || e is IOException || e is UnauthorizedAccessException)
            {
                throw new QcException(DiagnosticIds.CalibrationUnreadable, $"calibration file '{path}' is not a valid TensorProto: {e.Message}");
            }
        }

        /// <summary>The samples a tensor holds for an input: itself, or slices along its first dimension.</summary>
        private static List<Tensor> Split(Tensor t, ValueInfo input, string path)
        {
            var want = input.Type;
            if (t.ElementType != want.ElementType)
                throw new QcException(DiagnosticIds.CalibrationMismatch,
                    $"calibration file '{path}' holds {t.ElementType.ShortName()} values, but input '{input.Name}' takes {want.ElementType.ShortName()}; convert the data (e.g. numpy: x.astype(np.float32))");
            var s = t.Shape;
            var ws = want.Shape;
            if (s.Equals(ws)) return new List<Tensor> { t };
            int per = ws.ElementCount;
            int count = -1;
            if (s.Rank == ws.Rank + 1 && s.Dims.Skip(1).SequenceEqual(ws.Dims)) count = s[0];
            else if (s.Rank == ws.Rank && s.Rank > 0 && ws[0] > 0 && s[0] % ws[0] == 0 && s.Dims.Skip(1).SequenceEqual(ws.Dims.Skip(1))) count = s[0] / ws[0];
            if (count < 0)
                throw new QcException(DiagnosticIds.CalibrationMismatch,
                    $"calibration file '{path}' has shape {s}, but input '{input.Name}' is {ws}; a file holds one sample of that shape or a stack [S, ...] of them");
            var result = new List<Tensor>(count);
            var bytes = t.ToBytes();
            int size = per * want.ElementType.SizeOf();
            for (int i = 0; i < count; i++)
                result.Add(Tensor.FromBytes(want.ElementType, ws, new ReadOnlySpan<byte>(bytes, i * size, size)));
            return result;
        }

        private static long SuffixNumber(string name)
        {
            int i = name.Length;
            while (i > 0 && char.IsDigit(name[i - 1])) i--;
            return i < name.Length && long.TryParse(name.Substring(i), NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : long.MaxValue;
        }
    }
}
