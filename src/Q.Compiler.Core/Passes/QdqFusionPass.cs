using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Passes.Quantized;
using Q.Compiler.Quantization;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Turns a QDQ model (float ops between DequantizeLinear and QuantizeLinear, as quantization-aware training and ONNX
    /// Runtime's quantizer write them) into the internal QOperator form, keeping the model's own quantization parameters.
    /// A group DQ(inputs) → op → [Relu | Clip] → Q becomes one quantized op when the integer op computes the same thing:
    /// <list type="bullet">
    /// <item>Conv → QLinearConv (weights: DQ of a constant, per tensor or per output channel; bias: DQ of an int32
    /// constant or a float constant, re-expressed as int32 in the accumulator scale s_x·s_w[c] when its scale differs).</item>
    /// <item>MatMul → QLinearMatMul (B per tensor, or per column for a 2-D B).</item>
    /// <item>Add, Mul → com.microsoft QLinearAdd, QLinearMul; AveragePool, GlobalAveragePool → QLinearAveragePool,
    /// QLinearGlobalAveragePool; Softmax → QLinearSoftmax; Concat → QLinearConcat.</item>
    /// <item>Data-movement ops (MaxPool, Reshape, Transpose, Flatten, Squeeze, Unsqueeze, ...) whose DQ and Q have identical
    /// parameters run directly on the quantized tensor.</item>
    /// </list>
    /// A Relu or Clip between the op and its Q is dropped when the Q's range already clamps it exactly (Relu: zero point at
    /// the type's minimum; Clip: Q(min) ≤ qmin and Q(max) ≥ qmax) and otherwise, for Conv, MatMul and Add, becomes the
    /// fused node's <see cref="Node.Activation"/> (Q is monotone, so Q(clip(x, a, b)) = clamp(Q(x), Q(a), Q(b)) exactly).
    /// Then DQ → Q pairs with identical parameters are removed (Q(DQ(q)) = q), and DQ of a constant left over is folded
    /// to a float constant (with the nodes that become constant through it). Everything not fused stays as float ops
    /// between explicit DequantizeLinear/QuantizeLinear, which is always correct. The selection rules follow ONNX
    /// Runtime's QDQ selectors: scalar constant parameters on activations, the op's float output read only by the Q
    /// (and not a graph output), equal input/output element types for the unary, binary and variadic ops.
    /// </summary>
    public static class QdqFusionPass
    {
        /// <summary>True when the graph holds any quantized op (QDQ or QOperator): it then goes through the quantized passes.</summary>
        public static bool AppliesTo(Graph g) => g.Nodes.Any(QuantizedSlots.IsQuantizedOp);

        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var ctx = new Matcher(g);
                foreach (var n in g.Nodes)
                {
                    var r = TryFuse(ctx, n);
                    if (r is null) continue;
                    g = r;
                    changed = true;
                    break;
                }
            }
            g = RemoveCancellingPairs(g);
            g = FoldConstantDequantize(g);
            return DeadCodePass.Run(g);
        }

        private static Graph? TryFuse(Matcher m, Node n)
        {
            if (n.Domain.Length != 0) return null;
            switch (n.OpType)
            {
                case "Conv": return FuseConv(m, n);
                case "MatMul": return FuseMatMul(m, n);
                case "Add": return FuseBinary(m, n, "QLinearAdd", allowActivation: true);
                case "Mul": return FuseBinary(m, n, "QLinearMul", allowActivation: false);
                case "AveragePool":
                    if (n.Attributes.TryGetValue("dilations", out var dil) && dil.Ints.Any(d => d != 1)) return null;
                    return FuseUnary(m, n, "QLinearAveragePool", Attrs(n, ("channels_last", AttributeValue.Int(0)), skip: "dilations"));
                case "GlobalAveragePool":
                    return FuseUnary(m, n, "QLinearGlobalAveragePool", Attrs(n, ("channels_last", AttributeValue.Int(0))));
                case "Softmax":
                {
                    long opset = m.Graph.Info.DefaultOpset;
                    long axis = n.Attributes.TryGetValue("axis", out var a) ? a.I : opset >= 13 ? -1 : 1;
                    var attrs = new Dictionary<string, AttributeValue> { ["axis"] = AttributeValue.Int(axis), ["opset"] = AttributeValue.Int(opset) };
                    return FuseUnary(m, n, "QLinearSoftmax", attrs);
                }
                case "Concat": return FuseConcat(m, n);
                default:
                    return s_dropOps.Contains(n.OpType) ? DropQdq(m, n) : null;
            }
        }

        /// <summary>Ops that only move or select elements: on q with the DQ's parameters they give the Q's result exactly.</summary>
        private static readonly HashSet<string> s_dropOps = new HashSet<string>
        {
            "MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Slice", "Gather", "Expand", "Tile",
            "DepthToSpace", "SpaceToDepth",
        };

        // ---- the groups ------------------------------------------------------------------------------------------

        private static Graph? FuseConv(Matcher m, Node conv)
        {
            var x = m.Dequantized(conv.Input(0), perTensor: true);
            var w = m.Dequantized(conv.Input(1), perTensor: false);
            if (x is null || w is null || !w.IsConstantInput || !(w.Params.PerTensor || w.Params.Axis == 0)) return null;
            if (w.Type != DataType.Int8 && w.Type != DataType.UInt8) return null;
            var o = m.Output(conv);
            if (o is null || o.Type != x.Type) return null;
            if (!m.ActivationFor(o, allowFused: true, out var act)) return null;

            int channels = m.Graph.TypeOf(conv.Input(1)).Shape[0];
            string? bias = null;
            var edit = new Edit(m.Graph);
            if (conv.HasInput(2))
            {
                var b = BiasInt32(m, conv.Inputs[2], x.Params.Scales[0], w.Params, channels);
                if (b is null) return null;
                bias = b.Value.Existing ?? edit.AddConstant(conv.Name + "_bias_i32", b.Value.Values!);
            }
            var inputs = new List<string>
            {
                x.Input, x.Scale, edit.ZeroPoint(x), w.Input, w.Scale, edit.ZeroPoint(w), o.Q.Inputs[1], edit.ZeroPoint(o),
            };
            if (bias is not null) inputs.Add(bias);
            return edit.Replace(conv, o, "QLinearConv", "", inputs, conv.Attributes, act);
        }

        private static Graph? FuseMatMul(Matcher m, Node mm)
        {
            var a = m.Dequantized(mm.Input(0), perTensor: true);
            var b = m.Dequantized(mm.Input(1), perTensor: false);
            if (a is null || b is null) return null;
            var bShape = m.Graph.TypeOf(mm.Input(1)).Shape;
            if (!b.Params.PerTensor && !(b.IsConstantInput && bShape.Rank == 2 && b.Params.Axis == 1)) return null;
            var o = m.Output(mm);
            if (o is null || o.Type != a.Type) return null;
            if (!m.ActivationFor(o, allowFused: true, out var act)) return null;
            var edit = new Edit(m.Graph);
            var inputs = new[] { a.Input, a.Scale, edit.ZeroPoint(a), b.Input, b.Scale, edit.ZeroPoint(b), o.Q.Inputs[1], edit.ZeroPoint(o) };
            return edit.Replace(mm, o, "QLinearMatMul", "", inputs, null, act);
        }

        private static Graph? FuseBinary(Matcher m, Node op, string qop, bool allowActivation)
        {
            if (op.Inputs.Count != 2) return null;
            var a = m.Dequantized(op.Input(0), perTensor: true);
            var b = m.Dequantized(op.Input(1), perTensor: true);
            if (a is null || b is null || a.Type != b.Type) return null;
            var o = m.Output(op);
            if (o is null || o.Type != a.Type) return null;
            if (!m.ActivationFor(o, allowActivation, out var act)) return null;
            var edit = new Edit(m.Graph);
            var inputs = new[] { a.Input, a.Scale, edit.ZeroPoint(a), b.Input, b.Scale, edit.ZeroPoint(b), o.Q.Inputs[1], edit.ZeroPoint(o) };
            return edit.Replace(op, o, qop, QuantizedSlots.Microsoft, inputs, null, act);
        }

        private static Graph? FuseUnary(Matcher m, Node op, string qop, IReadOnlyDictionary<string, AttributeValue> attrs)
        {
            if (op.Inputs.Count(i => i.Length > 0) != 1) return null;
            var x = m.Dequantized(op.Input(0), perTensor: true);
            if (x is null) return null;
            var o = m.Output(op);
            if (o is null || o.Type != x.Type) return null;
            if (!m.ActivationFor(o, allowFused: false, out _)) return null;
            var edit = new Edit(m.Graph);
            var inputs = new[] { x.Input, x.Scale, edit.ZeroPoint(x), o.Q.Inputs[1], edit.ZeroPoint(o) };
            return edit.Replace(op, o, qop, QuantizedSlots.Microsoft, inputs, attrs, null);
        }

        private static Graph? FuseConcat(Matcher m, Node op)
        {
            var xs = op.Inputs.Select(i => m.Dequantized(i, perTensor: true)).ToList();
            if (xs.Count == 0 || xs.Any(x => x is null)) return null;
            var o = m.Output(op);
            if (o is null || xs.Any(x => x!.Type != o.Type)) return null;
            if (!m.ActivationFor(o, allowFused: false, out _)) return null;
            var edit = new Edit(m.Graph);
            var inputs = new List<string> { o.Q.Inputs[1], edit.ZeroPoint(o) };
            foreach (var x in xs) inputs.AddRange(new[] { x!.Input, x.Scale, edit.ZeroPoint(x) });
            var attrs = new Dictionary<string, AttributeValue> { ["axis"] = op.Attributes["axis"] };
            return edit.Replace(op, o, "QLinearConcat", QuantizedSlots.Microsoft, inputs, attrs, null);
        }

        /// <summary>DQ → data-movement op → Q with identical parameters: the op reads q and writes the Q's output.</summary>
        private static Graph? DropQdq(Matcher m, Node op)
        {
            if (op.Outputs.Count(o => o.Length > 0) != 1) return null;
            var x = m.Dequantized(op.Input(0), perTensor: false);
            if (x is null) return null;
            for (int i = 1; i < op.Inputs.Count; i++)
                if (op.HasInput(i) && m.Producer(op.Inputs[i])?.OpType == "DequantizeLinear") return null;
            var o = m.Output(op);
            if (o is null || o.Type != x.Type || !QdqMath.Same(o.Params, x.Params)) return null;
            if (!m.ActivationFor(o, allowFused: false, out _)) return null;
            var inputs = op.Inputs.ToArray();
            inputs[0] = x.Input;
            return new Edit(m.Graph).Replace(op, o, op.OpType, "", inputs, op.Attributes, null);
        }

        // ---- bias ------------------------------------------------------------------------------------------------

        /// <summary>
        /// The bias as int32 in the accumulator scale s_x·s_w[c]: an int32 DQ whose scale is that product (to float32
        /// rounding) and zero point 0 is used as is (as ONNX Runtime does); any other DQ'd or float constant bias is
        /// re-expressed, round(b / (s_x·s_w[c])), an error of at most half an accumulator step.
        /// </summary>
        private static (string? Existing, Tensor? Values)? BiasInt32(Matcher m, string bias, float sx, AffineParams w, int channels)
        {
            double[] real;
            var dq = m.Dequantized(bias, perTensor: false);
            var g = m.Graph;
            if (dq is not null)
            {
                if (!dq.IsConstantInput) return null;
                var q = g.Constants[dq.Input];
                if (q.Shape.Rank != 1 || q.Shape[0] != channels) return null;
                bool exact = dq.Type == DataType.Int32 && dq.Params.ZeroPoints.All(z => z == 0);
                for (int c = 0; exact && c < channels; c++)
                {
                    double expected = (double)(float)((double)sx * w.Scales[w.PerTensor ? 0 : c]);
                    double got = dq.Params.Scales[dq.Params.PerTensor ? 0 : c];
                    exact = Math.Abs(got - expected) <= 1e-6 * expected;
                }
                if (exact) return (dq.Input, null);
                real = QdqMath.Dequantize(q, dq.Params).ToDoubles();
            }
            else if (g.Constants.TryGetValue(bias, out var f) && f.ElementType.IsFloat() && f.Shape.ElementCount == channels)
                real = f.ToDoubles();
            else
                return null;
            var v = new long[channels];
            for (int c = 0; c < channels; c++)
            {
                double step = (double)sx * w.Scales[w.PerTensor ? 0 : c];
                double r = Math.Round(real[c] / step, MidpointRounding.ToEven);
                v[c] = (long)Math.Max(int.MinValue, Math.Min(int.MaxValue, r));
            }
            return (null, Tensor.FromLongs(DataType.Int32, new Shape(channels), v));
        }

        // ---- clean-up --------------------------------------------------------------------------------------------

        /// <summary>DQ → Q with identical parameters and type: Q(DQ(q)) = q exactly, so the Q's readers read q.</summary>
        private static Graph RemoveCancellingPairs(Graph g)
        {
            var m = new Matcher(g);
            var rename = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var q in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType == "QuantizeLinear"))
            {
                var qp = m.QuantizeParams(q);
                var x = m.Dequantized(q.Input(0), perTensor: false);
                if (qp is null || x is null || g.IsGraphOutput(q.Outputs[0])) continue;
                if (qp.Value.Type != x.Type || !QdqMath.Same(qp.Value.Params, x.Params)) continue;
                rename[q.Outputs[0]] = rename.TryGetValue(x.Input, out var r) ? r : x.Input;
            }
            if (rename.Count == 0) return g;
            var nodes = g.Nodes.Select(n => n.Inputs.Any(rename.ContainsKey)
                ? n.WithInputs(n.Inputs.Select(i => rename.TryGetValue(i, out var r) ? r : i).ToArray()) : n).ToList();
            return g.WithNodes(nodes);
        }

        /// <summary>DQ of a constant that no group took becomes a float constant; nodes that become all-constant fold too.</summary>
        private static Graph FoldConstantDequantize(Graph g)
        {
            var constants = g.Constants.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var kept = new List<Node>();
            bool folded = false;
            foreach (var n in g.Nodes)
            {
                bool allConstant = n.Inputs.Count > 0 && n.HasInput(0) && n.Inputs.All(i => i.Length == 0 || constants.ContainsKey(i));
                bool isDq = n.Domain.Length == 0 && n.OpType == "DequantizeLinear";
                if (allConstant && (isDq || folded))
                {
                    var result = Evaluate(g, n, constants);
                    if (result is not null)
                    {
                        for (int o = 0; o < n.Outputs.Count; o++)
                            if (n.Outputs[o].Length > 0) constants[n.Outputs[o]] = result[o];
                        folded = true;
                        continue;
                    }
                }
                kept.Add(n);
            }
            return folded ? g.With(nodes: kept, constants: constants) : g;
        }

        private static Tensor[]? Evaluate(Graph g, Node n, Dictionary<string, Tensor> constants)
        {
            var def = OpRegistry.Find(n.Domain, n.OpType);
            if (def is null) return null;
            long opset = g.Info.Opsets.TryGetValue(n.Domain, out var v) ? v : 1;
            var types = n.Inputs.Select(i => i.Length == 0 ? null : g.TypeOf(i)).ToArray();
            var consts = n.Inputs.Select(i => i.Length > 0 ? constants[i] : null).ToArray();
            var ctx = new OpContext(n, types, consts, opset);
            // DequantizeLinear is evaluated outright: the importer leaves it unfolded on purpose (this pass needs it).
            if (n.OpType == "DequantizeLinear" && n.Domain.Length == 0) return def.Evaluate(ctx, consts);
            return def.TryFold(ctx);
        }

        private static Dictionary<string, AttributeValue> Attrs(Node n, (string Name, AttributeValue Value) extra, string? skip = null)
        {
            var d = n.Attributes.Where(kv => kv.Key != skip).ToDictionary(kv => kv.Key, kv => kv.Value);
            d[extra.Name] = extra.Value;
            return d;
        }
    }
}
