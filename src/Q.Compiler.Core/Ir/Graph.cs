using System;
using System.Collections.Generic;
using System.Linq;

namespace Q.Compiler.Ir
{
    /// <summary>Where a model came from; carried through to the generated code's header.</summary>
    public sealed class ModelInfo
    {
        public ModelInfo(string path, string sha256, string producer, long irVersion, IReadOnlyDictionary<string, long> opsets)
        {
            Path = path; Sha256 = sha256; Producer = producer; IrVersion = irVersion; Opsets = opsets;
        }

        /// <summary>The model path as the user wrote it (relative to the project, forward slashes).</summary>
        public string Path { get; }
        public string Sha256 { get; }
        public string Producer { get; }
        public long IrVersion { get; }
        /// <summary>Opset version per domain ("" is ai.onnx).</summary>
        public IReadOnlyDictionary<string, long> Opsets { get; }
        public long DefaultOpset => Opsets.TryGetValue("", out var v) ? v : 1;
        public ModelInfo WithPath(string path) => new ModelInfo(path, Sha256, Producer, IrVersion, Opsets);
    }

    /// <summary>
    /// An immutable graph with static shapes: every value name used by a node has a type in <see cref="Types"/>,
    /// constants (initializers and folded values) are in <see cref="Constants"/>, nodes are in topological order.
    /// </summary>
    public sealed class Graph
    {
        public Graph(ModelInfo info, IReadOnlyList<ValueInfo> inputs, IReadOnlyList<ValueInfo> outputs, IReadOnlyList<Node> nodes,
            IReadOnlyDictionary<string, Tensor> constants, IReadOnlyDictionary<string, TensorType> types)
        {
            Info = info; Inputs = inputs; Outputs = outputs; Nodes = nodes; Constants = constants; Types = types;
        }

        public ModelInfo Info { get; }
        public IReadOnlyList<ValueInfo> Inputs { get; }
        public IReadOnlyList<ValueInfo> Outputs { get; }
        public IReadOnlyList<Node> Nodes { get; }
        public IReadOnlyDictionary<string, Tensor> Constants { get; }
        public IReadOnlyDictionary<string, TensorType> Types { get; }

        public Graph WithNodes(IReadOnlyList<Node> nodes) => new Graph(Info, Inputs, Outputs, nodes, Constants, Types);
        public Graph With(IReadOnlyList<Node>? nodes = null, IReadOnlyDictionary<string, Tensor>? constants = null,
            IReadOnlyDictionary<string, TensorType>? types = null, IReadOnlyList<ValueInfo>? outputs = null) =>
            new Graph(Info, Inputs, outputs ?? Outputs, nodes ?? Nodes, constants ?? Constants, types ?? Types);

        public TensorType TypeOf(string value) =>
            Types.TryGetValue(value, out var t) ? t : throw new KeyNotFoundException("no type for value '" + value + "'");

        public bool IsConstant(string value) => Constants.ContainsKey(value);

        /// <summary>Number of nodes that read each value (graph outputs count as one reader each).</summary>
        public Dictionary<string, int> UseCounts()
        {
            var counts = new Dictionary<string, int>();
            foreach (var n in Nodes)
                foreach (var i in n.Inputs)
                    if (i.Length > 0) counts[i] = counts.TryGetValue(i, out var c) ? c + 1 : 1;
            foreach (var o in Outputs) counts[o.Name] = counts.TryGetValue(o.Name, out var c) ? c + 1 : 1;
            return counts;
        }

        /// <summary>The node that produces each value.</summary>
        public Dictionary<string, Node> Producers()
        {
            var d = new Dictionary<string, Node>();
            foreach (var n in Nodes) foreach (var o in n.Outputs) if (o.Length > 0) d[o] = n;
            return d;
        }

        public bool IsGraphOutput(string value) => Outputs.Any(o => o.Name == value);
    }
}
