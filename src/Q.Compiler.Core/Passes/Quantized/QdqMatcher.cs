using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;

namespace Q.Compiler.Passes.Quantized
{
    /// <summary>A float value that is DequantizeLinear(q) with constant parameters.</summary>
    internal sealed class DequantizedInput
    {
        public DequantizedInput(Node dq, AffineParams p, DataType type, bool constantInput)
        {
            Node = dq; Params = p; Type = type; IsConstantInput = constantInput;
        }

        public Node Node { get; }
        /// <summary>The quantized tensor q.</summary>
        public string Input => Node.Inputs[0];
        public string Scale => Node.Inputs[1];
        /// <summary>"" when the DQ omits it (zero).</summary>
        public string ZeroPoint => Node.Input(2);
        public AffineParams Params { get; }
        /// <summary>Element type of q.</summary>
        public DataType Type { get; }
        public bool IsConstantInput { get; }
    }

    /// <summary>The end of a group: op → [Relu | Clip] → QuantizeLinear (per tensor, constant parameters).</summary>
    internal sealed class GroupOutput
    {
        public GroupOutput(Node? activation, Node q, AffineParams p, DataType type)
        {
            Activation = activation; Q = q; Params = p; Type = type;
        }

        public Node? Activation { get; }
        public Node Q { get; }
        public AffineParams Params { get; }
        public DataType Type { get; }
        public int ZeroPoint => (int)Params.ZeroPoints[0];
    }

    /// <summary>Pattern queries on one graph snapshot.</summary>
    internal sealed class Matcher
    {
        private readonly Dictionary<string, Node> _producers;
        private readonly Dictionary<string, List<Node>> _consumers;

        public Matcher(Graph g)
        {
            Graph = g;
            _producers = g.Producers();
            _consumers = GraphEdit.Consumers(g);
        }

        public Graph Graph { get; }

        public Node? Producer(string value) => _producers.TryGetValue(value, out var n) ? n : null;

        private static bool Is8Bit(DataType t) => t == DataType.UInt8 || t == DataType.Int8;

        public DequantizedInput? Dequantized(string value, bool perTensor)
        {
            if (value.Length == 0) return null;
            var dq = Producer(value);
            if (dq is null || dq.Domain.Length != 0 || dq.OpType != "DequantizeLinear") return null;
            var g = Graph;
            if (!g.Constants.TryGetValue(dq.Input(1), out var scale)) return null;
            Tensor? zp = null;
            if (dq.HasInput(2) && !g.Constants.TryGetValue(dq.Inputs[2], out zp)) return null;
            if (scale.ElementType != DataType.Float || dq.Attributes.ContainsKey("block_size")) return null;
            var type = g.TypeOf(dq.Inputs[0]).ElementType;
            if (!Is8Bit(type) && type != DataType.Int32) return null;
            AffineParams p;
            try { p = QdqMath.Params(scale, zp, g.TypeOf(dq.Inputs[0]).Shape, dq.Attributes.TryGetValue("axis", out var a) ? (int)a.I : 1); }
            catch (ArgumentException) { return null; }
            if (perTensor && (!p.PerTensor || scale.Shape.Rank > 1)) return null;
            if (p.Scales.Any(s => !(s > 0) || float.IsInfinity(s))) return null;
            return new DequantizedInput(dq, p, type, g.Constants.ContainsKey(dq.Inputs[0]));
        }

        /// <summary>A QuantizeLinear's constant per-tensor parameters and output type, or null.</summary>
        public (AffineParams Params, DataType Type)? QuantizeParams(Node q)
        {
            var g = Graph;
            if (!g.Constants.TryGetValue(q.Input(1), out var scale) || scale.ElementType != DataType.Float) return null;
            Tensor? zp = null;
            if (q.HasInput(2) && !g.Constants.TryGetValue(q.Inputs[2], out zp)) return null;
            var type = g.TypeOf(q.Outputs[0]).ElementType;
            if (!Is8Bit(type) || scale.Shape.ElementCount != 1 || scale.Shape.Rank > 1) return null;
            var p = QdqMath.Params(scale, zp, g.TypeOf(q.Inputs[0]).Shape, 1);
            if (!(p.Scales[0] > 0) || float.IsInfinity(p.Scales[0])) return null;
            return (p, type);
        }

        /// <summary>op → [Relu | Clip] → Q, each value read only by the next node and not a graph output.</summary>
        public GroupOutput? Output(Node op)
        {
            if (op.Outputs.Count(o => o.Length > 0) != 1 || op.Outputs[0].Length == 0) return null;
            if (!GraphEdit.SingleUse(Graph, _consumers, op.Outputs[0], out var next)) return null;
            Node? act = null;
            if (next.Domain.Length == 0 && (next.OpType == "Relu" || next.OpType == "Clip"))
            {
                act = next;
                if (!GraphEdit.SingleUse(Graph, _consumers, act.Outputs[0], out next)) return null;
            }
            if (next.Domain.Length != 0 || next.OpType != "QuantizeLinear" || next.Inputs[0] != (act ?? op).Outputs[0]) return null;
            var qp = QuantizeParams(next);
            if (qp is null) return null;
            return new GroupOutput(act, next, qp.Value.Params, qp.Value.Type);
        }

        /// <summary>
        /// What becomes of the Relu/Clip in a group: nothing (none there, or the Q clamps it exactly), a fused activation
        /// (when <paramref name="allowFused"/>), or false: the group cannot be fused.
        /// </summary>
        public bool ActivationFor(GroupOutput o, bool allowFused, out FusedActivation? fused)
        {
            fused = null;
            var n = o.Activation;
            if (n is null) return true;
            float lo, hi;
            if (n.OpType == "Relu") { lo = 0; hi = float.PositiveInfinity; }
            else if (!ClipBounds(n, out lo, out hi)) return false;
            int qmin = QuantParams.QMin(o.Type), qmax = QuantParams.QMax(o.Type);
            float s = o.Params.Scales[0];
            int z = o.ZeroPoint;
            // Q is monotone: Q(clip(x, lo, hi)) = clamp(Q(x), Q(lo), Q(hi)); the Clip is redundant when that clamp is the type's.
            bool redundant = QuantMath.Quantize(lo, s, z, qmin, qmax) <= qmin && QuantMath.Quantize(hi, s, z, qmin, qmax) >= qmax;
            if (redundant) return true;
            if (!allowFused) return false;
            fused = n.OpType == "Relu" ? new FusedActivation("Relu", 0, 0, n.Name) : new FusedActivation("Clip", lo, hi, n.Name);
            return true;
        }

        private bool ClipBounds(Node n, out float lo, out float hi)
        {
            lo = float.NegativeInfinity; hi = float.PositiveInfinity;
            if (n.Attributes.TryGetValue("min", out var a)) lo = a.F;
            if (n.Attributes.TryGetValue("max", out var b)) hi = b.F;
            if (n.HasInput(1)) { if (!Graph.Constants.TryGetValue(n.Inputs[1], out var t)) return false; lo = (float)t.ToDoubles()[0]; }
            if (n.HasInput(2)) { if (!Graph.Constants.TryGetValue(n.Inputs[2], out var t)) return false; hi = (float)t.ToDoubles()[0]; }
            return !(float.IsNaN(lo) || float.IsNaN(hi));
        }
    }

    /// <summary>One rewrite of a graph: new constants, then a group replaced by one node.</summary>
    internal sealed class Edit
    {
        private readonly Graph _g;
        private readonly Dictionary<string, Tensor> _constants;
        private readonly Dictionary<string, TensorType> _types;

        public Edit(Graph g)
        {
            _g = g;
            _constants = g.Constants.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            _types = g.Types.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        }

        public string AddConstant(string hint, Tensor t)
        {
            string name = hint;
            for (int k = 2; _types.ContainsKey(name) || _constants.ContainsKey(name); k++) name = hint + "_" + k;
            _constants[name] = t;
            _types[name] = t.Type;
            return name;
        }

        /// <summary>The DQ's zero point, or a new constant 0 of q's type when the DQ omits it.</summary>
        public string ZeroPoint(DequantizedInput x) =>
            x.ZeroPoint.Length > 0 ? x.ZeroPoint
                : AddConstant(x.Node.Name + "_zero_point", Tensor.Zeros(x.Type, _constants[x.Scale].Shape));

        public string ZeroPoint(GroupOutput o) =>
            o.Q.HasInput(2) ? o.Q.Inputs[2] : AddConstant(o.Q.Name + "_zero_point", Tensor.Zeros(o.Type, Shape.Scalar));

        /// <summary>Replaces op, its activation and its Q by one node writing the Q's output, at the Q's place.</summary>
        public Graph Replace(Node op, GroupOutput o, string opType, string domain, IReadOnlyList<string> inputs,
            IReadOnlyDictionary<string, AttributeValue>? attrs, FusedActivation? act)
        {
            var sources = op.SourceNodes.Concat(o.Activation is null ? Array.Empty<string>() : o.Activation.SourceNodes).Concat(o.Q.SourceNodes).ToArray();
            var fused = new Node(op.Name, opType, domain, inputs, new[] { o.Q.Outputs[0] }, attrs, act, sources);
            var nodes = new List<Node>(_g.Nodes.Count);
            foreach (var n in _g.Nodes)
            {
                if (n == op || n == o.Activation) continue;
                nodes.Add(n == o.Q ? fused : n);
            }
            return _g.With(nodes: nodes, constants: _constants, types: _types);
        }
    }
}
