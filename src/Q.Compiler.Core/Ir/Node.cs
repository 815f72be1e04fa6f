using System;
using System.Collections.Generic;
using System.Linq;

namespace Q.Compiler.Ir
{
    /// <summary>An activation folded into the op that precedes it (applied to each output element).</summary>
    public sealed class FusedActivation
    {
        public FusedActivation(string op, float alpha = 0, float beta = 0, string sourceNode = "")
        {
            Op = op; Alpha = alpha; Beta = beta; SourceNode = sourceNode;
        }

        /// <summary>Relu, Clip (Alpha=min, Beta=max), LeakyRelu (Alpha), Sigmoid, HardSigmoid (Alpha, Beta), HardSwish, Tanh.</summary>
        public string Op { get; }
        public float Alpha { get; }
        public float Beta { get; }
        public string SourceNode { get; }
    }

    /// <summary>An immutable graph node. Empty strings in <see cref="Inputs"/> are omitted optional inputs.</summary>
    public sealed class Node
    {
        public Node(string name, string opType, string domain, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs,
            IReadOnlyDictionary<string, AttributeValue>? attributes = null, FusedActivation? activation = null,
            IReadOnlyList<string>? sourceNodes = null)
        {
            Name = name;
            OpType = opType;
            Domain = domain == "ai.onnx" ? "" : domain;
            Inputs = inputs.ToArray();
            Outputs = outputs.ToArray();
            Attributes = attributes ?? new Dictionary<string, AttributeValue>();
            Activation = activation;
            SourceNodes = sourceNodes ?? new[] { name };
        }

        public string Name { get; }
        public string OpType { get; }
        /// <summary>"" for the default ai.onnx domain.</summary>
        public string Domain { get; }
        public IReadOnlyList<string> Inputs { get; }
        public IReadOnlyList<string> Outputs { get; }
        public IReadOnlyDictionary<string, AttributeValue> Attributes { get; }
        public FusedActivation? Activation { get; }
        /// <summary>The ONNX node names this node stands for (after fusion, more than one).</summary>
        public IReadOnlyList<string> SourceNodes { get; }

        public string Input(int i) => i < Inputs.Count ? Inputs[i] : "";
        public bool HasInput(int i) => i < Inputs.Count && Inputs[i].Length > 0;

        public Node WithInputs(IReadOnlyList<string> inputs) => new Node(Name, OpType, Domain, inputs, Outputs, Attributes, Activation, SourceNodes);
        public Node WithOutputs(IReadOnlyList<string> outputs) => new Node(Name, OpType, Domain, Inputs, outputs, Attributes, Activation, SourceNodes);
        public Node WithActivation(FusedActivation act, IReadOnlyList<string> outputs) =>
            new Node(Name, OpType, Domain, Inputs, outputs, Attributes, act, SourceNodes.Concat(new[] { act.SourceNode }).ToArray());
        public Node WithAttributes(IReadOnlyDictionary<string, AttributeValue> attributes) =>
            new Node(Name, OpType, Domain, Inputs, Outputs, attributes, Activation, SourceNodes);
        public Node WithSourceNodes(IEnumerable<string> extra) =>
            new Node(Name, OpType, Domain, Inputs, Outputs, Attributes, Activation, SourceNodes.Concat(extra).ToArray());

        /// <summary>"Conv \"conv1\"" for messages.</summary>
        public string Describe() => $"{(Domain.Length == 0 ? "" : Domain + ".")}{OpType} \"{Name}\"";

        public override string ToString() => Describe();
    }

    /// <summary>A named graph input or output.</summary>
    public sealed class ValueInfo
    {
        public ValueInfo(string name, TensorType type) { Name = name; Type = type; }
        public string Name { get; }
        public TensorType Type { get; }
        public override string ToString() => Name + ": " + Type;
    }
}
