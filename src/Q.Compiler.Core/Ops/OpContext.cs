using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;

namespace Q.Compiler.Ops
{
    /// <summary>What an op definition sees of one node: attributes, input types, constant inputs, opset.</summary>
    public sealed class OpContext
    {
        public OpContext(Node node, IReadOnlyList<TensorType?> inputTypes, IReadOnlyList<Tensor?> constantInputs, long opset)
        {
            Node = node; InputTypes = inputTypes; ConstantInputs = constantInputs; Opset = opset;
        }

        public Node Node { get; }
        /// <summary>null for an omitted optional input.</summary>
        public IReadOnlyList<TensorType?> InputTypes { get; }
        /// <summary>The value of each input known at build time, else null.</summary>
        public IReadOnlyList<Tensor?> ConstantInputs { get; }
        /// <summary>The opset version of the node's domain.</summary>
        public long Opset { get; }

        public int InputCount => InputTypes.Count;
        public bool HasInput(int i) => i < InputTypes.Count && InputTypes[i] is not null;

        public TensorType Input(int i) =>
            HasInput(i) ? InputTypes[i]! : throw Error(DiagnosticIds.MalformedGraph, $"input {i} is required but missing");

        public Tensor? Constant(int i) => i < ConstantInputs.Count ? ConstantInputs[i] : null;

        /// <summary>An input whose value must be known at build time (a shape, axes, pads).</summary>
        public Tensor RequireConstant(int i, string what) =>
            Constant(i) ?? throw Error(DiagnosticIds.NotConstant,
                $"input {i} ({what}) is computed at run time; Q.Compiler needs it at build time. Pin the model's input shapes (InputShapes) so it can be folded, or export the model with static shapes");

        public bool Has(string attr) => Node.Attributes.ContainsKey(attr);

        public long Int(string name, long defaultValue) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.I : defaultValue;

        public long Int(string name) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.I : throw Error(DiagnosticIds.MalformedGraph, $"attribute '{name}' is required");

        public float Float(string name, float defaultValue) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.F : defaultValue;

        public string String(string name, string defaultValue) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.S : defaultValue;

        public long[]? Ints(string name) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.Ints.ToArray() : null;

        public float[]? Floats(string name) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.Floats.ToArray() : null;

        public Tensor? TensorAttr(string name) =>
            Node.Attributes.TryGetValue(name, out var a) ? a.T : null;

        /// <summary>An error about this node, naming it and its op.</summary>
        public QcException Error(string id, string message) =>
            new QcException(id, $"{Node.Describe()}: {message}", Node.Name);

        public QcException Unsupported(string message) => Error(DiagnosticIds.UnsupportedAttribute, message);

        /// <summary>Normalises a possibly negative axis against a rank, or reports it.</summary>
        public int Axis(long axis, int rank, string what = "axis")
        {
            long a = axis < 0 ? axis + rank : axis;
            if (a < 0 || a >= Math.Max(rank, 1) && !(rank == 0 && a == 0))
                throw Error(DiagnosticIds.ShapeMismatch, $"{what} {axis} is out of range for rank {rank}");
            return (int)a;
        }

        public QcException ShapeError(string message) => Error(DiagnosticIds.ShapeMismatch, message);
    }
}
