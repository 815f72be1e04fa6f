using System;
using System.Collections.Generic;
using System.IO;
using Google.Protobuf;
using global::Onnx;

namespace Q.Compiler.Onnx
{
    /// <summary>
    /// Lists the files besides the .onnx itself that a model reads: external tensor data (data_location = EXTERNAL,
    /// usually <c>model.onnx.data</c>). The MSBuild task writes them into a dependency file so that changing one of
    /// them reruns the compiler, as Grpc.Tools does for imported .proto files.
    /// </summary>
    public static class ModelDependencies
    {
        /// <summary>
        /// Full paths of the existing external data files the model at <paramref name="modelPath"/> refers to, inside
        /// the model's folder, sorted and without duplicates. Never throws: an unreadable model has no dependencies
        /// (compiling it reports the error).
        /// </summary>
        public static IReadOnlyList<string> ExternalDataFiles(string modelPath)
        {
            var found = new SortedSet<string>(StringComparer.Ordinal);
            try
            {
                string directory = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
                var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
                if (model.Graph is not null) Visit(model.Graph, directory, found, depth: 0);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is InvalidProtocolBufferException
                                      || e is ArgumentException || e is NotSupportedException)
            {
                // Reported by the compiler itself.
            }
            return new List<string>(found);
        }

        private static void Visit(GraphProto graph, string directory, SortedSet<string> found, int depth)
        {
            if (depth > 64) return;
            foreach (var t in graph.Initializer) Add(t, directory, found);
            foreach (var node in graph.Node)
            {
                foreach (var a in node.Attribute)
                {
                    if (a.T is not null) Add(a.T, directory, found);
                    foreach (var t in a.Tensors) Add(t, directory, found);
                    if (a.G is not null) Visit(a.G, directory, found, depth + 1);
                    foreach (var g in a.Graphs) Visit(g, directory, found, depth + 1);
                }
            }
        }

        private static void Add(TensorProto t, string directory, SortedSet<string> found)
        {
            if (t.DataLocation != TensorProto.Types.DataLocation.External) return;
            foreach (var kv in t.ExternalData)
            {
                if (kv.Key != "location" || string.IsNullOrEmpty(kv.Value) || Path.IsPathRooted(kv.Value)) continue;
                string full = Path.GetFullPath(Path.Combine(directory, kv.Value));
                string root = directory.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
                if (full.StartsWith(root, StringComparison.Ordinal) && File.Exists(full)) found.Add(full);
            }
        }
    }
}
