using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// What both quantizers (static Int8 in <see cref="GraphQuantizer"/>, Dynamic in <see cref="DynamicQuantizer"/>) ask of a
    /// Conv, Gemm or MatMul's shapes before they give it an integer form.
    /// </summary>
    internal static class WeightLayers
    {
        /// <summary>An integer attribute of <paramref name="n"/>, or <paramref name="dflt"/> when it is absent.</summary>
        public static long Int(Node n, string name, long dflt) => n.Attributes.TryGetValue(name, out var a) ? a.I : dflt;

        /// <summary>
        /// Why the layer's shapes have no integer form (e.g. "only 2-D convolution has an int8 form", with
        /// <paramref name="form"/> naming it), or null when they have one: 2-D convolution, Gemm without transA on 2-D
        /// operands with one bias value per output column (or a single one), MatMul by a constant 2-D matrix.
        /// </summary>
        public static string? ShapeProblem(Graph g, Node n, Shape x, Shape w, bool hasBias, string form)
        {
            switch (n.OpType)
            {
                case "Conv":
                    if (x.Rank != 4 || w.Rank != 4) return "only 2-D convolution has an " + form + " form";
                    return null;
                case "Gemm":
                {
                    if (Int(n, "transA", 0) != 0) return "Gemm with transA has no " + form + " form";
                    if (x.Rank != 2 || w.Rank != 2) return "Gemm operands are not 2-D";
                    int nOut = Int(n, "transB", 0) != 0 ? w[0] : w[1];
                    if (hasBias)
                    {
                        var c = g.Constants[n.Inputs[2]].Shape;
                        bool ok = c.ElementCount == 1 || (c.ElementCount == nOut && c.Dims.Last() == nOut);
                        if (!ok) return "its bias " + c + " is not one value per output column";
                    }
                    return null;
                }
                default: // MatMul
                    if (w.Rank != 2 || x.Rank < 2) return "only MatMul by a constant 2-D matrix has an " + form + " form";
                    return null;
            }
        }
    }
}
