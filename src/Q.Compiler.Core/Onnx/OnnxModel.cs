using System.Collections.Generic;
using Q.Compiler.Ir;

namespace Q.Compiler.Onnx
{
    /// <summary>A graph input or output as declared in the file: dims may be unknown (-1) with an optional symbolic name.</summary>
    public sealed class DeclaredValue
    {
        public DeclaredValue(string name, DataType type, IReadOnlyList<long>? dims, IReadOnlyList<string?>? dimNames)
        {
            Name = name; ElementType = type; Dims = dims; DimNames = dimNames;
        }

        public string Name { get; }
        /// <summary>Undefined for a graph output declared without a type (its type is inferred).</summary>
        public DataType ElementType { get; }
        /// <summary>null when the rank itself is unknown; -1 entries are dynamic.</summary>
        public IReadOnlyList<long>? Dims { get; }
        public IReadOnlyList<string?>? DimNames { get; }
    }

    /// <summary>The content of an .onnx file, decoded but not yet validated or shaped.</summary>
    public sealed class OnnxModel
    {
        public OnnxModel(ModelInfo info, IReadOnlyList<DeclaredValue> inputs, IReadOnlyList<DeclaredValue> outputs,
            IReadOnlyList<Node> nodes, IReadOnlyDictionary<string, Tensor> initializers,
            IReadOnlyDictionary<string, DeclaredValue> valueInfos)
        {
            Info = info; Inputs = inputs; Outputs = outputs; Nodes = nodes; Initializers = initializers; ValueInfos = valueInfos;
        }

        public ModelInfo Info { get; }
        /// <summary>Graph inputs that are not initializers.</summary>
        public IReadOnlyList<DeclaredValue> Inputs { get; }
        public IReadOnlyList<DeclaredValue> Outputs { get; }
        public IReadOnlyList<Node> Nodes { get; }
        public IReadOnlyDictionary<string, Tensor> Initializers { get; }
        /// <summary>Declared types of intermediate values (graph.value_info), used to cross-check inference.</summary>
        public IReadOnlyDictionary<string, DeclaredValue> ValueInfos { get; }
    }
}
