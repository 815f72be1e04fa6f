using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Google.Protobuf;
using global::Onnx;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;

namespace Q.Compiler.Onnx
{
    /// <summary>Reads an .onnx file (protobuf) into an <see cref="OnnxModel"/>. Every failure is a <see cref="QcException"/> with a QC1xxx id.</summary>
    public static class OnnxReader
    {
        /// <summary>Reads a model file; external tensor data is resolved relative to the file's folder.</summary>
        public static OnnxModel ReadFile(string path, string? displayPath = null)
        {
            byte[] bytes;
            if (Directory.Exists(path))
                throw new QcException(DiagnosticIds.ModelNotFound, $"the model path '{path}' is a folder, not an .onnx file");
            try { bytes = File.ReadAllBytes(path); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                throw new QcException(DiagnosticIds.ModelNotFound, $"cannot read the model file '{path}': {e.Message}");
            }
            return Read(bytes, Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", displayPath ?? path);
        }

        public static OnnxModel Read(byte[] bytes, string modelDirectory, string displayPath)
        {
            if (bytes.Length == 0)
                throw new QcException(DiagnosticIds.MalformedModel, "the file is empty; it is not an ONNX model (was it written completely?)");
            ModelProto proto;
            try
            {
                proto = ModelProto.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException e)
            {
                if (LooksLikeText(bytes)) throw NotBinary(bytes);
                throw new QcException(DiagnosticIds.MalformedModel,
                    $"the file is not a valid ONNX model ({e.Message}); it may be truncated or not an .onnx file");
            }
            if (proto.Graph is null || (proto.Graph.Node.Count == 0 && proto.Graph.Output.Count == 0))
            {
                // Protobuf accepts many byte strings (unknown fields are skipped), so text can parse as an empty model.
                if (LooksLikeText(bytes)) throw NotBinary(bytes);
                throw new QcException(DiagnosticIds.InvalidModel, "the file holds no ONNX graph; it may be truncated or not an .onnx file");
            }

            string sha;
            using (var h = SHA256.Create()) sha = string.Concat(h.ComputeHash(bytes).Select(b => b.ToString("x2")));
            var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var o in proto.OpsetImport)
            {
                string domain = o.Domain == "ai.onnx" ? "" : o.Domain;
                opsets[domain] = o.Version;
            }
            if (!opsets.ContainsKey("")) opsets[""] = proto.IrVersion <= 2 ? 1 : 7;
            string producer = (proto.ProducerName + " " + proto.ProducerVersion).Trim();
            var info = new ModelInfo(displayPath.Replace('\\', '/'), sha, producer, proto.IrVersion, opsets);

            var ctx = new ReadContext(modelDirectory);
            var g = proto.Graph;
            var initializers = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var t in g.Initializer)
            {
                if (string.IsNullOrEmpty(t.Name))
                    throw new QcException(DiagnosticIds.InvalidModel, "an initializer has no name");
                initializers[t.Name] = ReadTensor(t, ctx);
            }
            foreach (var st in g.SparseInitializer)
                throw new QcException(DiagnosticIds.UnsupportedDataType, $"sparse initializer '{st.Values?.Name}' is not supported; store it dense");

            var inputs = g.Input.Where(i => !initializers.ContainsKey(i.Name)).Select(ReadDeclared).ToList();
            // A graph output may come without a type (some exporters and cut models omit it): it is then inferred.
            var outputs = g.Output.Select(o => o.Type is null || o.Type.ValueCase == TypeProto.ValueOneofCase.None
                ? new DeclaredValue(o.Name, DataType.Undefined, null, null) : ReadDeclared(o)).ToList();
            var valueInfos = new Dictionary<string, DeclaredValue>(StringComparer.Ordinal);
            foreach (var vi in g.ValueInfo)
            {
                if (vi.Type?.TensorType is null) continue;
                valueInfos[vi.Name] = ReadDeclared(vi);
            }

            var nodes = new List<Node>();
            int index = 0;
            foreach (var n in g.Node)
            {
                string name = string.IsNullOrEmpty(n.Name) ? $"{n.OpType}_{index}" : n.Name;
                var attrs = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal);
                foreach (var a in n.Attribute)
                    attrs[a.Name] = ReadAttribute(a, ctx, name);
                nodes.Add(new Node(name, n.OpType, n.Domain, n.Input.ToArray(), n.Output.ToArray(), attrs));
                index++;
            }
            return new OnnxModel(info, inputs, outputs, nodes, initializers, valueInfos);
        }

        /// <summary>True if the first bytes are printable UTF-8 text (a binary .onnx starts with field tags and raw bytes).</summary>
        private static bool LooksLikeText(byte[] bytes)
        {
            int n = Math.Min(bytes.Length, 512);
            for (int i = 0; i < n; i++)
            {
                byte b = bytes[i];
                if (b < 0x20 && b != (byte)'\n' && b != (byte)'\r' && b != (byte)'\t') return false;
                if (b == 0x7f) return false;
            }
            return n > 0;
        }

        private static QcException NotBinary(byte[] bytes)
        {
            string first = System.Text.Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 60)).Split('\n')[0].Trim();
            if (first.StartsWith("version https://git-lfs", StringComparison.Ordinal))
                return new QcException(DiagnosticIds.MalformedModel,
                    "the file is a Git LFS pointer, not the model itself; run 'git lfs pull' to fetch the model");
            return new QcException(DiagnosticIds.MalformedModel,
                $"the file is text (it starts with \"{first}\"), not a binary ONNX model; export the model with onnx.save or convert the text form with onnx.load/onnx.save");
        }

        internal sealed class ReadContext
        {
            public ReadContext(string dir) { Directory = Path.GetFullPath(dir); }
            public string Directory { get; }
        }

        private static DeclaredValue ReadDeclared(ValueInfoProto v)
        {
            var tt = v.Type?.TensorType;
            if (tt is null)
                throw new QcException(DiagnosticIds.UnsupportedDataType, $"graph value '{v.Name}' is not a tensor (sequences, maps and optionals are not supported)");
            var type = ToDataType(tt.ElemType, v.Name);
            if (tt.Shape is null) return new DeclaredValue(v.Name, type, null, null);
            var dims = new List<long>();
            var names = new List<string?>();
            foreach (var d in tt.Shape.Dim)
            {
                if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue >= 0)
                {
                    dims.Add(d.DimValue);
                    names.Add(null);
                }
                else
                {
                    dims.Add(-1);
                    names.Add(d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : null);
                }
            }
            return new DeclaredValue(v.Name, type, dims, names);
        }

        internal static DataType ToDataType(int onnxType, string what)
        {
            switch (onnxType)
            {
                case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9: case 10: case 11: case 12: case 13:
                    return (DataType)onnxType;
                default:
                    throw new QcException(DiagnosticIds.UnsupportedDataType,
                        $"'{what}' has element type {DescribeOnnxType(onnxType)}, which is not supported (supported: float, float16, double, int8..int64, uint8..uint64, bool)");
            }
        }

        private static string DescribeOnnxType(int t) => t switch
        {
            14 => "complex64", 15 => "complex128", 16 => "bfloat16", 17 => "float8e4m3fn", 18 => "float8e4m3fnuz",
            19 => "float8e5m2", 20 => "float8e5m2fnuz", 21 => "uint4", 22 => "int4", 23 => "float4e2m1",
            0 => "undefined", _ => "#" + t,
        };

        private static AttributeValue ReadAttribute(AttributeProto a, ReadContext ctx, string node)
        {
            switch (a.Type)
            {
                case AttributeProto.Types.AttributeType.Float: return AttributeValue.Float(a.F);
                case AttributeProto.Types.AttributeType.Int: return AttributeValue.Int(a.I);
                case AttributeProto.Types.AttributeType.String: return AttributeValue.String(a.S.ToStringUtf8());
                case AttributeProto.Types.AttributeType.Tensor:
                    if (a.T is null) throw new QcException(DiagnosticIds.InvalidModel, $"attribute '{a.Name}' is of type TENSOR but holds no tensor", node);
                    return AttributeValue.Tensor(ReadTensor(a.T, ctx));
                case AttributeProto.Types.AttributeType.Graph: return AttributeValue.Graph(a.G?.Name ?? "");
                case AttributeProto.Types.AttributeType.Floats: return AttributeValue.FloatList(a.Floats);
                case AttributeProto.Types.AttributeType.Ints: return AttributeValue.IntList(a.Ints);
                case AttributeProto.Types.AttributeType.Strings: return AttributeValue.StringList(a.Strings.Select(s => s.ToStringUtf8()));
                case AttributeProto.Types.AttributeType.Undefined:
                    // Very old exporters leave the type unset; infer it from the populated field.
                    if (a.Ints.Count > 0) return AttributeValue.IntList(a.Ints);
                    if (a.Floats.Count > 0) return AttributeValue.FloatList(a.Floats);
                    if (!a.S.IsEmpty) return AttributeValue.String(a.S.ToStringUtf8());
                    if (a.T is not null) return AttributeValue.Tensor(ReadTensor(a.T, ctx));
                    if (a.F != 0) return AttributeValue.Float(a.F);
                    return AttributeValue.Int(a.I);
                default:
                    throw new QcException(DiagnosticIds.UnsupportedAttribute, $"attribute '{a.Name}' has type {a.Type}, which is not supported", node);
            }
        }

        /// <summary>Decodes a TensorProto, checking that its data agrees with its shape.</summary>
        internal static Tensor ReadTensor(TensorProto t, ReadContext ctx)
        {
            string name = string.IsNullOrEmpty(t.Name) ? "(unnamed)" : t.Name;
            var type = ToDataType(t.DataType, "tensor " + name);
            if (!Shape.TryCreate(t.Dims.ToArray(), out var shape))
                throw new QcException(DiagnosticIds.TensorTooLarge,
                    $"tensor '{name}' has dims [{string.Join(",", t.Dims)}], which is negative or more than 2^31-1 elements");
            int n = shape!.ElementCount;
            if (type == DataType.String)
            {
                if (t.StringData.Count != n) throw Mismatch(name, shape, $"{t.StringData.Count} strings");
                return new Tensor(type, shape, t.StringData.Select(s => s.ToStringUtf8()).ToArray());
            }
            long need = (long)n * type.SizeOf();
            if (type == DataType.Bool) need = n;
            if (need > int.MaxValue)
                throw new QcException(DiagnosticIds.TensorTooLarge,
                    $"tensor '{name}' has shape {shape} of {type.ShortName()}, {need.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes; a tensor must stay below 2 GiB");

            if (t.DataLocation == TensorProto.Types.DataLocation.External)
            {
                var bytes = ReadExternal(t, ctx, name, need);
                return Tensor.FromBytes(type, shape, bytes);
            }
            if (!t.RawData.IsEmpty || HasNoTypedData(t))
            {
                if (t.RawData.Length != need)
                    throw Mismatch(name, shape, $"{t.RawData.Length} bytes of raw_data for {type.ShortName()} (needs {need})");
                return Tensor.FromBytes(type, shape, t.RawData.Span);
            }
            switch (type)
            {
                case DataType.Float:
                    if (t.FloatData.Count != n) throw Mismatch(name, shape, $"{t.FloatData.Count} float_data values");
                    return new Tensor(type, shape, t.FloatData.ToArray());
                case DataType.Double:
                    if (t.DoubleData.Count != n) throw Mismatch(name, shape, $"{t.DoubleData.Count} double_data values");
                    return new Tensor(type, shape, t.DoubleData.ToArray());
                case DataType.Int64:
                    if (t.Int64Data.Count != n) throw Mismatch(name, shape, $"{t.Int64Data.Count} int64_data values");
                    return new Tensor(type, shape, t.Int64Data.ToArray());
                case DataType.UInt32: case DataType.UInt64:
                    if (t.Uint64Data.Count != n) throw Mismatch(name, shape, $"{t.Uint64Data.Count} uint64_data values");
                    return Tensor.FromDoubles(type, shape, t.Uint64Data.Select(v => (double)v).ToArray());
                case DataType.Float16:
                    if (t.Int32Data.Count != n) throw Mismatch(name, shape, $"{t.Int32Data.Count} int32_data values");
                    return new Tensor(type, shape, t.Int32Data.Select(v => unchecked((ushort)v)).ToArray());
                default:
                    if (t.Int32Data.Count != n) throw Mismatch(name, shape, $"{t.Int32Data.Count} int32_data values");
                    return Tensor.FromLongs(type, shape, t.Int32Data.Select(v => (long)v).ToArray());
            }
        }

        private static bool HasNoTypedData(TensorProto t) =>
            t.FloatData.Count == 0 && t.DoubleData.Count == 0 && t.Int32Data.Count == 0 && t.Int64Data.Count == 0 && t.Uint64Data.Count == 0;

        private static QcException Mismatch(string name, Shape shape, string what) =>
            new QcException(DiagnosticIds.TensorDataMismatch, $"tensor '{name}' has shape {shape} but {what}; the file is corrupt or was written incorrectly");

        private static byte[] ReadExternal(TensorProto t, ReadContext ctx, string name, long need)
        {
            string? location = null;
            long offset = 0, length = -1;
            foreach (var kv in t.ExternalData)
            {
                switch (kv.Key)
                {
                    case "location": location = kv.Value; break;
                    case "offset": if (!long.TryParse(kv.Value, out offset) || offset < 0) throw new QcException(DiagnosticIds.ExternalDataMissing, $"tensor '{name}' has an invalid external data offset '{kv.Value}'"); break;
                    case "length": if (!long.TryParse(kv.Value, out length) || length < 0) throw new QcException(DiagnosticIds.ExternalDataMissing, $"tensor '{name}' has an invalid external data length '{kv.Value}'"); break;
                }
            }
            if (string.IsNullOrEmpty(location))
                throw new QcException(DiagnosticIds.ExternalDataMissing, $"tensor '{name}' is marked EXTERNAL but names no location");
            if (Path.IsPathRooted(location!))
                throw new QcException(DiagnosticIds.ExternalDataOutsideModel, $"tensor '{name}' reads external data from the absolute path '{location}'; external data must be a relative path inside the model's folder");
            string full = Path.GetFullPath(Path.Combine(ctx.Directory, location!));
            string root = ctx.Directory.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            if (!full.StartsWith(root, StringComparison.Ordinal))
                throw new QcException(DiagnosticIds.ExternalDataOutsideModel, $"tensor '{name}' reads external data from '{location}', which is outside the model's folder");
            if (!File.Exists(full))
                throw new QcException(DiagnosticIds.ExternalDataMissing, $"tensor '{name}' reads external data from '{location}', which does not exist next to the model");
            if (length >= 0 && length != need)
                throw new QcException(DiagnosticIds.TensorDataMismatch, $"tensor '{name}' declares {length} bytes of external data but its shape needs {need}");
            using var f = File.OpenRead(full);
            if (offset + need > f.Length)
                throw new QcException(DiagnosticIds.ExternalDataMissing, $"tensor '{name}' needs bytes {offset}..{offset + need} of '{location}', which has only {f.Length}");
            var buf = new byte[need];
            f.Position = offset;
            int read = 0;
            while (read < need) { int r = f.Read(buf, read, (int)(need - read)); if (r <= 0) break; read += r; }
            return buf;
        }

        /// <summary>Reads a TensorProto file (the .pb files of ONNX test data sets).</summary>
        public static Tensor ReadTensorFile(string path)
        {
            TensorProto t;
            try { t = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path)); }
            catch (InvalidProtocolBufferException e) { throw new QcException(DiagnosticIds.MalformedModel, $"'{path}' is not a TensorProto: {e.Message}"); }
            return ReadTensor(t, new ReadContext(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "."));
        }

        /// <summary>Reads a TensorProto file and also returns its name.</summary>
        public static (string Name, Tensor Tensor) ReadNamedTensorFile(string path)
        {
            var t = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
            return (t.Name, ReadTensor(t, new ReadContext(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".")));
        }
    }
}
