using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Plan;

namespace Q.Compiler.Lowering
{
    /// <summary>A buffer before memory planning: where its storage comes from.</summary>
    public sealed class LoweredBuffer
    {
        public LoweredBuffer(string id, string valueName, TensorType type, BufferKind kind, int argIndex, Tensor? weight, LoweredBuffer? aliasOf)
        {
            Id = id; ValueName = valueName; Type = type; Kind = kind; ArgIndex = argIndex; Weight = weight; AliasOf = aliasOf;
        }

        public string Id { get; }
        public string ValueName { get; }
        public TensorType Type { get; }
        public BufferKind Kind { get; }
        /// <summary>For Input/Output: the Run argument index.</summary>
        public int ArgIndex { get; }
        /// <summary>For a Weight that owns its data.</summary>
        public Tensor? Weight { get; }
        /// <summary>A view: shares the storage of this buffer (same kind, same start).</summary>
        public LoweredBuffer? AliasOf { get; }

        public LoweredBuffer Root => AliasOf is null ? this : AliasOf.Root;
    }

    /// <summary>The output of lowering: buffers (no offsets yet) and layers of kernel calls.</summary>
    public sealed class LoweredModel
    {
        public LoweredModel(Graph graph, IReadOnlyList<LoweredBuffer> buffers, IReadOnlyList<PlanLayer> layers,
            IReadOnlyList<LoweredBuffer> inputs, IReadOnlyList<LoweredBuffer> outputs)
        {
            Graph = graph; Buffers = buffers; Layers = layers; Inputs = inputs; Outputs = outputs;
        }

        public Graph Graph { get; }
        public IReadOnlyList<LoweredBuffer> Buffers { get; }
        public IReadOnlyList<PlanLayer> Layers { get; }
        public IReadOnlyList<LoweredBuffer> Inputs { get; }
        public IReadOnlyList<LoweredBuffer> Outputs { get; }
    }
}
