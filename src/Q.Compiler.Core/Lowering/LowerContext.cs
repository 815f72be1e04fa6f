using System;
using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Plan;

namespace Q.Compiler.Lowering
{
    /// <summary>
    /// What an op's lowering sees: its node and types, buffer ids for its inputs and outputs, and a way to emit kernel calls.
    /// One node becomes one layer (one generated method); a view op (Reshape, Squeeze, ...) may emit no call at all.
    /// </summary>
    public sealed class LowerContext
    {
        private readonly Lowerer _owner;
        private readonly Dictionary<int, LoweredBuffer> _aliases = new Dictionary<int, LoweredBuffer>();

        internal LowerContext(Lowerer owner, Node node, OpContext op, PlanLayer layer)
        {
            _owner = owner; Node = node; Op = op; Layer = layer;
        }

        public Node Node { get; }
        public OpContext Op { get; }
        internal PlanLayer Layer { get; }

        public TensorType InputType(int i) => Op.Input(i);
        public TensorType OutputType(int i) => _owner.Graph.TypeOf(Node.Outputs[i]);
        public int OutputCount => Node.Outputs.Count;
        public bool HasOutput(int i) => i < Node.Outputs.Count && Node.Outputs[i].Length > 0;

        /// <summary>The op's display name and the suffix of its method name, e.g. ("Conv", "Conv5x5").</summary>
        public void Describe(string op, string methodSuffix, string detail, string math)
        {
            Layer.Op = op;
            _owner.SetMethodSuffix(Layer, methodSuffix);
            Layer.Detail = detail;
            Layer.Math = math;
        }

        /// <summary>The buffer holding input i (a weight if the input is constant).</summary>
        public string In(int i) => _owner.BufferFor(Node.Input(i)).Id;

        /// <summary>The buffer holding a value computed earlier (for lowerings that fuse their producer: see <see cref="ProducerOf"/>).</summary>
        internal string BufferOf(string value) => _owner.BufferFor(value).Id;

        /// <summary>The node computing <paramref name="value"/>, or null for graph inputs and constants.</summary>
        internal Node? ProducerOf(string value) => _owner.ProducerOf(value);

        /// <summary>The nodes reading <paramref name="value"/>, in graph order (a node reading it twice is listed once).</summary>
        internal IReadOnlyList<Node> ConsumersOf(string value) => _owner.ConsumersOf(value);

        /// <summary>Whether <paramref name="value"/> is a graph output.</summary>
        internal bool IsGraphOutput(string value) => _owner.IsGraphOutput(value);

        /// <summary>The op context (types, constants, attributes) of another node of the graph.</summary>
        internal OpContext ContextOf(Node node) => _owner.OpContextFor(node);

        /// <summary>The buffer receiving output i.</summary>
        public string Out(int i) => _aliases.TryGetValue(i, out var a) ? a.Id : _owner.OutputBuffer(Node.Outputs[i]).Id;

        public PlanArg InArg(int i) => PlanArg.In(In(i));
        public PlanArg OutArg(int i) => PlanArg.Out(Out(i));

        /// <summary>A constant derived at build time (packed weights, folded biases, lookup tables).</summary>
        public string Constant(string nameHint, Tensor value) => _owner.AddWeight(Node.Name + "_" + nameHint, value).Id;

        /// <summary>A scratch buffer that lives only during this layer.</summary>
        public string Scratch(string nameHint, DataType type, Shape shape) => _owner.AddScratch(Node.Name + "_" + nameHint, new TensorType(type, shape)).Id;

        public void Call(string target, params PlanArg[] args) => Layer.Calls.Add(new PlanCall(target, args));

        /// <summary>
        /// Output <paramref name="output"/> is input <paramref name="input"/> seen with another shape: no copy is made
        /// unless the output is a graph output (then a copy is emitted).
        /// </summary>
        public void ViewOf(int output, int input)
        {
            string outName = Node.Outputs[output];
            var src = _owner.BufferFor(Node.Input(input));
            if (_owner.IsGraphOutput(outName) || src.Root.Kind == BufferKind.Output)
            {
                var dst = _owner.OutputBuffer(outName);
                Call($"Copy.Run<{OutputType(output).ElementType.CSharpName()}>", PlanArg.In(src.Id), PlanArg.Out(dst.Id));
                return;
            }
            _owner.AddAlias(outName, OutputType(output), src);
        }

        /// <summary>Activation arguments for kernels that fuse one: kind, alpha, beta (see Q.Compiler.Kernels.Activation).</summary>
        public PlanArg[] ActivationArgs()
        {
            var a = Node.Activation;
            return new[] { PlanArg.Int(ActivationCode(a)), PlanArg.Float(a?.Alpha ?? 0), PlanArg.Float(a?.Beta ?? 0) };
        }

        public static int ActivationCode(FusedActivation? a) => a?.Op switch
        {
            null => 0, "Relu" => 1, "Clip" => 2, "LeakyRelu" => 3, "Sigmoid" => 4, "HardSigmoid" => 5, "HardSwish" => 6, "Tanh" => 7,
            _ => throw new ArgumentException("unknown fused activation " + a!.Op),
        };

        /// <summary>" + Relu" or "".</summary>
        public string ActivationSuffix => Node.Activation is null ? "" : " + " + Node.Activation.Op;
    }
}
