using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Folds an Add of a per-channel constant into the bias of the Conv before it (CNTK and TF exporters emit the bias
    /// as a separate Add), and turns MatMul + Add(bias) on 2-D inputs into a Gemm.
    /// </summary>
    public static class FoldBiasAddPass
    {
        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var consumers = GraphEdit.Consumers(g);
                foreach (var add in g.Nodes.Where(n => n.OpType == "Add" && n.Domain.Length == 0 && n.Inputs.Count == 2))
                {
                    for (int side = 0; side < 2 && !changed; side++)
                    {
                        string x = add.Inputs[side], c = add.Inputs[1 - side];
                        if (!g.Constants.TryGetValue(c, out var bias) || bias.ElementType != DataType.Float) continue;
                        var p = g.Nodes.FirstOrDefault(n => n.Outputs.Count > 0 && n.Outputs[0] == x);
                        if (p is null || p.Activation is not null || !GraphEdit.SingleUse(g, consumers, x, out _)) continue;
                        if (!g.TypeOf(add.Outputs[0]).Equals(g.TypeOf(x))) continue;
                        var r = p.OpType switch
                        {
                            "Conv" => FoldConv(g, p, add, bias),
                            "MatMul" => FoldMatMul(g, p, add, bias),
                            "Gemm" => FoldGemm(g, p, add, bias),
                            _ => null,
                        };
                        if (r is null) continue;
                        g = r;
                        changed = true;
                    }
                    if (changed) break;
                }
            }
            return g;
        }

        /// <summary>The constant as one value per channel of axis <paramref name="axis"/> of a rank-<paramref name="rank"/> output, or null.</summary>
        private static double[]? PerChannel(Tensor c, int rank, int axis, int channels)
        {
            var d = c.ToDoubles();
            if (d.Length == 1) return Enumerable.Repeat(d[0], channels).ToArray();
            if (c.Shape.Rank > rank || d.Length != channels) return null;
            int offset = rank - c.Shape.Rank;
            for (int i = 0; i < c.Shape.Rank; i++)
                if (c.Shape[i] != 1 && i + offset != axis) return null;
            return d;
        }

        private static Graph? FoldConv(Graph g, Node conv, Node add, Tensor bias)
        {
            if (!g.Constants.TryGetValue(conv.Input(1), out var w)) return null;
            int m = w.Shape[0];
            var per = PerChannel(bias, g.TypeOf(conv.Outputs[0]).Shape.Rank, 1, m);
            if (per is null) return null;
            double[] b0;
            if (conv.HasInput(2)) { if (!g.Constants.TryGetValue(conv.Inputs[2], out var cb)) return null; b0 = cb.ToDoubles(); }
            else b0 = new double[m];
            var b = Tensor.FromFloats(new Shape(m), b0.Select((v, i) => (float)(v + per[i])).ToArray());
            return WithBias(g, conv, add, "Conv", new[] { conv.Inputs[0], conv.Inputs[1] }, b);
        }

        private static Graph? FoldMatMul(Graph g, Node mm, Node add, Tensor bias)
        {
            if (!g.Constants.TryGetValue(mm.Input(1), out var w) || w.Shape.Rank != 2) return null;
            if (g.TypeOf(mm.Inputs[0]).Shape.Rank != 2) return null;
            int n = w.Shape[1];
            var per = PerChannel(bias, 2, 1, n);
            if (per is null) return null;
            var b = Tensor.FromFloats(new Shape(n), per.Select(v => (float)v).ToArray());
            return WithBias(g, mm, add, "Gemm", new[] { mm.Inputs[0], mm.Inputs[1] }, b);
        }

        private static Graph? FoldGemm(Graph g, Node gemm, Node add, Tensor bias)
        {
            int n = g.TypeOf(gemm.Outputs[0]).Shape[1];
            var per = PerChannel(bias, 2, 1, n);
            if (per is null) return null;
            var c0 = FoldBatchNormPass.BiasVector(g, gemm, 2, n);
            if (c0 is null) return null;
            double beta = gemm.Attributes.TryGetValue("beta", out var be) ? be.F : 1;
            var b = Tensor.FromFloats(new Shape(n), per.Select((v, i) => (float)(v + beta * c0[i])).ToArray());
            var attrs = gemm.Attributes.Where(kv => kv.Key != "beta").ToDictionary(kv => kv.Key, kv => kv.Value);
            return WithBias(g, gemm.WithAttributes(attrs), add, "Gemm", new[] { gemm.Inputs[0], gemm.Inputs[1] }, b, gemm);
        }

        private static Graph WithBias(Graph g, Node p, Node add, string op, string[] inputs, Tensor b, Node? original = null)
        {
            original ??= p;
            string bName = GraphEdit.FreshName(g, original.Name + "_B_add");
            var consts = GraphEdit.WithConstant(g, bName, b);
            var types = GraphEdit.WithType(g, bName, b.Type);
            var replaced = new Node(p.Name, op, "", inputs.Concat(new[] { bName }).ToArray(), new[] { add.Outputs[0] }, p.Attributes, null,
                p.SourceNodes.Concat(new[] { add.Name }).ToArray());
            var nodes = g.Nodes.Where(n => n != add).Select(n => n == original ? replaced : n).ToList();
            return g.With(nodes: nodes, constants: consts, types: types);
        }
    }
}
