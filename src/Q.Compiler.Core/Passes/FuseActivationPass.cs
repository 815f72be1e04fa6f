using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Fuses an elementwise activation (Relu, Clip with constant bounds, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh)
    /// into the Conv, ConvTranspose, Gemm or MatMul that produces its input, so the kernel applies it while the output is in cache.
    /// </summary>
    public static class FuseActivationPass
    {
        private static readonly HashSet<string> s_hosts = new HashSet<string> { "Conv", "ConvTranspose", "Gemm", "MatMul" };

        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var consumers = GraphEdit.Consumers(g);
                foreach (var p in g.Nodes.Where(n => s_hosts.Contains(n.OpType) && n.Domain.Length == 0 && n.Activation is null))
                {
                    if (g.TypeOf(p.Outputs[0]).ElementType != DataType.Float) continue;
                    if (!GraphEdit.SingleUse(g, consumers, p.Outputs[0], out var act)) continue;
                    var fused = AsActivation(g, act);
                    if (fused is null) continue;
                    var replaced = p.WithActivation(fused, new[] { act.Outputs[0] });
                    g = g.WithNodes(g.Nodes.Where(n => n != act).Select(n => n == p ? replaced : n).ToList());
                    changed = true;
                    break;
                }
            }
            return g;
        }

        /// <summary>The fused form of activation node <paramref name="n"/>, or null (not an activation, or Clip bounds computed at run time).</summary>
        internal static FusedActivation? AsActivation(Graph g, Node n)
        {
            if (n.Domain.Length != 0) return null;
            float Attr(string name, float d) => n.Attributes.TryGetValue(name, out var a) ? a.F : d;
            switch (n.OpType)
            {
                case "Relu": return new FusedActivation("Relu", 0, 0, n.Name);
                case "LeakyRelu": return new FusedActivation("LeakyRelu", Attr("alpha", 0.01f), 0, n.Name);
                case "Sigmoid": return new FusedActivation("Sigmoid", 0, 0, n.Name);
                case "Tanh": return new FusedActivation("Tanh", 0, 0, n.Name);
                case "HardSigmoid": return new FusedActivation("HardSigmoid", Attr("alpha", 0.2f), Attr("beta", 0.5f), n.Name);
                case "HardSwish": return new FusedActivation("HardSwish", 0, 0, n.Name);
                case "Clip":
                {
                    float lo = float.NegativeInfinity, hi = float.PositiveInfinity;
                    if (n.Attributes.ContainsKey("min") || n.Attributes.ContainsKey("max"))
                    {
                        lo = Attr("min", lo); hi = Attr("max", hi);
                    }
                    if (n.HasInput(1)) { if (!g.Constants.TryGetValue(n.Inputs[1], out var t)) return null; lo = (float)t.ToDoubles()[0]; }
                    if (n.HasInput(2)) { if (!g.Constants.TryGetValue(n.Inputs[2], out var t)) return null; hi = (float)t.ToDoubles()[0]; }
                    return new FusedActivation("Clip", lo, hi, n.Name);
                }
                default: return null;
            }
        }
    }
}
