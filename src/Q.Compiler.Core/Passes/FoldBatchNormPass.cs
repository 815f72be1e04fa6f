using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Folds an inference-mode BatchNormalization into the Conv, Gemm or MatMul before it.
    /// With s = γ / √(σ² + ε): W'[c] = W[c]·s[c] and b'[c] = (b[c] − μ[c])·s[c] + β[c], so the BN node disappears.
    /// A MatMul with a constant 2-D weight on a 2-D input becomes a Gemm with the folded bias.
    /// </summary>
    public static class FoldBatchNormPass
    {
        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var consumers = GraphEdit.Consumers(g);
                foreach (var bn in g.Nodes.Where(n => n.OpType == "BatchNormalization" && n.Domain.Length == 0))
                {
                    if (bn.Outputs.Skip(1).Any(o => o.Length > 0)) continue;
                    if (!Enumerable.Range(1, 4).All(i => g.Constants.ContainsKey(bn.Input(i)))) continue;
                    var producer = g.Nodes.FirstOrDefault(n => n.Outputs.Contains(bn.Inputs[0]));
                    if (producer is null || !GraphEdit.SingleUse(g, consumers, bn.Inputs[0], out _)) continue;
                    var folded = TryFold(g, producer, bn);
                    if (folded is null) continue;
                    g = folded;
                    changed = true;
                    break;
                }
            }
            return g;
        }

        private static double[] Scale(Graph g, Node bn, out double[] shift)
        {
            double eps = bn.Attributes.TryGetValue("epsilon", out var e) ? e.F : 1e-5;
            var gamma = g.Constants[bn.Inputs[1]].ToDoubles();
            var beta = g.Constants[bn.Inputs[2]].ToDoubles();
            var mean = g.Constants[bn.Inputs[3]].ToDoubles();
            var var_ = g.Constants[bn.Inputs[4]].ToDoubles();
            var s = new double[gamma.Length];
            shift = new double[gamma.Length];
            for (int c = 0; c < s.Length; c++)
            {
                s[c] = gamma[c] / Math.Sqrt(var_[c] + eps);
                shift[c] = beta[c] - mean[c] * s[c];
            }
            return s;
        }

        private static Graph? TryFold(Graph g, Node p, Node bn)
        {
            if (p.Domain.Length != 0 || p.Activation is not null) return null;
            var s = Scale(g, bn, out var shift);
            int channels = s.Length;
            switch (p.OpType)
            {
                case "Conv":
                {
                    if (!g.Constants.TryGetValue(p.Input(1), out var w) || w.ElementType != DataType.Float) return null;
                    if (p.HasInput(2) && !g.Constants.ContainsKey(p.Inputs[2])) return null;
                    if (w.Shape[0] != channels) return null;
                    var wd = w.ToFloats();
                    int per = wd.Length / channels;
                    for (int c = 0; c < channels; c++) for (int k = 0; k < per; k++) wd[c * per + k] = (float)(wd[c * per + k] * s[c]);
                    var b = p.HasInput(2) ? g.Constants[p.Inputs[2]].ToDoubles() : new double[channels];
                    var bd = new float[channels];
                    for (int c = 0; c < channels; c++) bd[c] = (float)(b[c] * s[c] + shift[c]);
                    return Replace(g, p, bn, Tensor.FromFloats(w.Shape, wd), Tensor.FromFloats(new Shape(channels), bd), "Conv");
                }
                case "Gemm":
                {
                    if (!g.Constants.TryGetValue(p.Input(1), out var w) || w.ElementType != DataType.Float || w.Shape.Rank != 2) return null;
                    bool transB = p.Attributes.TryGetValue("transB", out var tb) && tb.I != 0;
                    double alpha = p.Attributes.TryGetValue("alpha", out var al) ? al.F : 1;
                    double beta = p.Attributes.TryGetValue("beta", out var be) ? be.F : 1;
                    int n = transB ? w.Shape[0] : w.Shape[1];
                    if (n != channels) return null;
                    var c0 = BiasVector(g, p, 2, n);
                    if (c0 is null) return null;
                    var wd = w.ToFloats();
                    int k = transB ? w.Shape[1] : w.Shape[0];
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < n; j++)
                        {
                            int idx = transB ? j * k + i : i * n + j;
                            wd[idx] = (float)(wd[idx] * alpha * s[j]);
                        }
                    var bd = new float[n];
                    for (int j = 0; j < n; j++) bd[j] = (float)(beta * c0[j] * s[j] + shift[j]);
                    var attrs = p.Attributes.Where(kv => kv.Key != "alpha" && kv.Key != "beta").ToDictionary(kv => kv.Key, kv => kv.Value);
                    return Replace(g, p.WithAttributes(attrs), bn, Tensor.FromFloats(w.Shape, wd), Tensor.FromFloats(new Shape(n), bd), "Gemm", p);
                }
                case "MatMul":
                {
                    if (!g.Constants.TryGetValue(p.Input(1), out var w) || w.ElementType != DataType.Float || w.Shape.Rank != 2) return null;
                    if (g.TypeOf(p.Inputs[0]).Shape.Rank != 2 || w.Shape[1] != channels) return null;
                    var wd = w.ToFloats();
                    int k = w.Shape[0];
                    for (int i = 0; i < k; i++) for (int j = 0; j < channels; j++) wd[i * channels + j] = (float)(wd[i * channels + j] * s[j]);
                    var bd = shift.Select(x => (float)x).ToArray();
                    var gemm = new Node(p.Name, "Gemm", "", new[] { p.Inputs[0], p.Inputs[1] }, p.Outputs, null, null, p.SourceNodes);
                    return Replace(g, gemm, bn, Tensor.FromFloats(w.Shape, wd), Tensor.FromFloats(new Shape(channels), bd), "Gemm", p);
                }
                default: return null;
            }
        }

        /// <summary>Gemm's C as one value per output column, or null if it is not per-column.</summary>
        internal static double[]? BiasVector(Graph g, Node p, int input, int n)
        {
            if (!p.HasInput(input)) return new double[n];
            if (!g.Constants.TryGetValue(p.Inputs[input], out var c)) return null;
            var d = c.ToDoubles();
            var dims = c.Shape.Dims;
            if (d.Length == 1) return Enumerable.Repeat(d[0], n).ToArray();
            if (d.Length == n && dims[dims.Count - 1] == n) return d;
            return null;
        }

        private static Graph Replace(Graph g, Node p, Node bn, Tensor w, Tensor b, string op, Node? original = null)
        {
            original ??= p;
            string wName = GraphEdit.FreshName(g, original.Name + "_W_bn");
            string bName = GraphEdit.FreshName(g, original.Name + "_B_bn");
            var consts = GraphEdit.WithConstant(g, wName, w);
            consts[bName] = b;
            var types = GraphEdit.WithType(g, wName, w.Type);
            types[bName] = b.Type;
            var inputs = new[] { p.Inputs[0], wName, bName };
            var replaced = new Node(p.Name, op, "", inputs, new[] { bn.Outputs[0] }, p.Attributes, null, p.SourceNodes.Concat(new[] { bn.Name }).ToArray());
            var nodes = g.Nodes.Where(n => n != bn).Select(n => n == original ? replaced : n).ToList();
            return g.With(nodes: nodes, constants: consts, types: types);
        }
    }
}
