using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Recognises hard-swish written out with elementary ops, as exporters of MobileNetV3-style networks produce it, and
    /// replaces it by one HardSwish node (which FuseActivationPass can then fold into the convolution before it):
    /// <code>
    /// x · clip(x + 3, 0, 6) / 6        Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)   (or Mul by 1/6)
    /// x · (clip(x + 3, 0, 6) / 6)      Mul(x, Div(Clip(Add(x, 3), 0, 6), 6))
    /// x · hardsigmoid(x; 1/6, 1/2)     Mul(x, HardSigmoid(x))
    /// </code>
    /// The intermediate values must have no other reader.
    /// </summary>
    public static class FuseHardSwishPass
    {
        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var consumers = GraphEdit.Consumers(g);
                var producers = g.Producers();
                foreach (var n in g.Nodes)
                {
                    var match = Match(g, consumers, producers, n);
                    if (match is null) continue;
                    var (x, removed) = match.Value;
                    var hs = new Node(n.Name, "HardSwish", "", new[] { x }, new[] { n.Outputs[0] }, null, null,
                        removed.SelectMany(r => r.SourceNodes).ToArray());
                    var gone = new HashSet<Node>(removed);
                    g = g.WithNodes(g.Nodes.Where(k => !gone.Contains(k) || k == n).Select(k => k == n ? hs : k).ToList());
                    changed = true;
                    break;
                }
            }
            return g;
        }

        /// <summary>The input x and the nodes the pattern ending at <paramref name="last"/> covers (last one included), or null.</summary>
        private static (string X, List<Node> Nodes)? Match(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers, Node last)
        {
            if (last.Domain.Length != 0 || last.Outputs.Count != 1 || g.TypeOf(last.Outputs[0]).ElementType != DataType.Float) return null;
            // Pattern 1: (x · c) / 6 or (x · c) · (1/6), with c = clip(x + 3, 0, 6).
            if ((last.OpType == "Div" && IsConst(g, last.Input(1), 6)) || (last.OpType == "Mul" && IsConst(g, last.Input(1), 1.0 / 6)))
            {
                var mul = Producer(g, consumers, producers, last.Input(0), "Mul");
                if (mul is not null)
                    foreach (var (x, c) in Operands(mul))
                    {
                        var clip = Producer(g, consumers, producers, c, "Clip");
                        var add = clip is null ? null : ReluSixOfXPlus3(g, consumers, producers, clip, x);
                        if (add is not null) return (x, new List<Node> { add, clip!, mul, last });
                    }
            }
            if (last.OpType != "Mul") return null;
            foreach (var (x, c) in Operands(last))
            {
                // Pattern 2: x · (clip(x + 3, 0, 6) / 6).
                var div = Producer(g, consumers, producers, c, "Div");
                if (div is not null && IsConst(g, div.Input(1), 6))
                {
                    var clip = Producer(g, consumers, producers, div.Input(0), "Clip");
                    var add = clip is null ? null : ReluSixOfXPlus3(g, consumers, producers, clip, x);
                    if (add is not null) return (x, new List<Node> { add, clip!, div, last });
                }
                // Pattern 3: x · hardsigmoid(x) with α = 1/6, β = 1/2.
                var hsig = Producer(g, consumers, producers, c, "HardSigmoid");
                if (hsig is not null && hsig.Input(0) == x && Near(Attr(hsig, "alpha", 0.2f), 1.0 / 6) && Near(Attr(hsig, "beta", 0.5f), 0.5))
                    return (x, new List<Node> { hsig, last });
            }
            return null;
        }

        /// <summary>The Add node of clip(x + 3, 0, 6) when <paramref name="clip"/> is exactly that, else null.</summary>
        private static Node? ReluSixOfXPlus3(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers, Node clip, string x)
        {
            float lo = float.NegativeInfinity, hi = float.PositiveInfinity;
            if (clip.Attributes.ContainsKey("min") || clip.Attributes.ContainsKey("max")) { lo = Attr(clip, "min", lo); hi = Attr(clip, "max", hi); }
            if (clip.HasInput(1)) { if (!g.Constants.TryGetValue(clip.Inputs[1], out var t) || t.Length != 1) return null; lo = (float)t.ToDoubles()[0]; }
            if (clip.HasInput(2)) { if (!g.Constants.TryGetValue(clip.Inputs[2], out var t) || t.Length != 1) return null; hi = (float)t.ToDoubles()[0]; }
            if (lo != 0 || hi != 6) return null;
            var add = Producer(g, consumers, producers, clip.Input(0), "Add");
            if (add is null) return null;
            return Operands(add).Any(p => p.A == x && IsConst(g, p.B, 3)) ? add : null;
        }

        /// <summary>The node of type <paramref name="op"/> producing <paramref name="value"/>, if that value has no other reader.</summary>
        private static Node? Producer(Graph g, Dictionary<string, List<Node>> consumers, Dictionary<string, Node> producers, string value, string op)
        {
            if (value.Length == 0 || !producers.TryGetValue(value, out var p) || p.OpType != op || p.Domain.Length != 0 || p.Activation is not null) return null;
            return GraphEdit.SingleUse(g, consumers, value, out _) ? p : null;
        }

        /// <summary>Both orders of a commutative binary node's operands.</summary>
        private static IEnumerable<(string A, string B)> Operands(Node n)
        {
            if (n.Inputs.Count != 2) yield break;
            yield return (n.Inputs[0], n.Inputs[1]);
            yield return (n.Inputs[1], n.Inputs[0]);
        }

        private static bool IsConst(Graph g, string value, double v) =>
            value.Length > 0 && g.Constants.TryGetValue(value, out var t) && t.Length == 1 && t.ElementType.IsFloat() && Near(t.ToDoubles()[0], v);

        private static bool Near(double a, double b) => Math.Abs(a - b) <= 1e-6 * Math.Max(1, Math.Abs(b));

        private static float Attr(Node n, string name, float d) => n.Attributes.TryGetValue(name, out var a) ? a.F : d;
    }
}
