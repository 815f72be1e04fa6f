using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Passes.Quantized;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Makes every int8 activation uint8, as the kernels want them: values + 128 and zero points + 128, the same integer
    /// math ((q + 128) − (z + 128) = q − z). Applies to QuantizeLinear outputs, the activation inputs and outputs of the
    /// QLinear*/…Integer ops and of the data-movement ops between them (MaxPool, Reshape, Concat, ...). Weights (B of
    /// QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger, DQ'd constants) stay int8. Constant int8 operands of ops that
    /// need one element type for all their quantized inputs (QLinearAdd's B, Concat, Pad's value) are shifted too.
    /// At the boundary an int8 value keeps its type: an int8 graph input, or the int8 output of an op this pass does not
    /// know, is converted once (DequantizeLinear with scale 1 and zero point −128, then QuantizeLinear to uint8); an int8
    /// graph output, or an int8 input of an unknown op, is converted back (DequantizeLinear, QuantizeLinear to int8).
    /// </summary>
    public static class Int8ActivationsToUInt8Pass
    {
        private const string Suffix = "_u8";

        public static Graph Run(Graph g)
        {
            // A zero point computed at run time cannot be shifted at build time. Then the graph keeps its int8 tensors:
            // QuantizeLinear, DequantizeLinear and the QLinearMatMul/MatMulInteger kernels take int8 as it is, and the
            // kernels that need uint8 refuse with QC2010 naming the node.
            try { return Convert(g); }
            catch (RuntimeZeroPoint) { return g; }
        }

        /// <summary>Thrown by <see cref="Convert"/> (and caught by <see cref="Run"/>) when a zero point to shift is not a constant.</summary>
        private sealed class RuntimeZeroPoint : Exception
        {
        }

        private static Graph Convert(Graph g)
        {
            var producers = g.Producers();
            bool Known(Node n) => QuantizedSlots.Of(n) is not null || QuantizedSlots.GenericDataInputs(n) is not null;
            bool IsActivation(string v) => v.Length > 0 && !g.Constants.ContainsKey(v) && g.Types.TryGetValue(v, out var t) && t.ElementType == DataType.Int8;

            var values = g.Types.Keys.Where(IsActivation).ToList();
            if (values.Count == 0) return g;

            var types = g.Types.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var constants = g.Constants.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            string Fresh(string hint)
            {
                string n = hint;
                for (int k = 2; types.ContainsKey(n) || constants.ContainsKey(n); k++) n = hint + "_" + k;
                return n;
            }
            string Constant(string hint, Tensor t)
            {
                string n = Fresh(hint);
                constants[n] = t; types[n] = t.Type;
                return n;
            }

            // u[v]: the uint8 version of v; i8[v]: its int8 version, where one exists (or is made on demand).
            var u = new Dictionary<string, string>(StringComparer.Ordinal);
            var i8 = new Dictionary<string, string>(StringComparer.Ordinal);
            var inPlace = new HashSet<string>(StringComparer.Ordinal);
            foreach (var v in values)
            {
                bool known = producers.TryGetValue(v, out var p) && Known(p);
                if (known && !g.IsGraphOutput(v)) { u[v] = v; inPlace.Add(v); }
                else if (known) { u[v] = Fresh(v + Suffix); inPlace.Add(v); i8[v] = v; }
                else { u[v] = Fresh(v + Suffix); i8[v] = v; }
                types[u[v]] = new TensorType(DataType.UInt8, g.TypeOf(v).Shape);
            }

            string? one = null, zeroU8 = null, minus128 = null;
            var nodes = new List<Node>();
            void Convert(string from, string to, bool toUInt8)
            {
                one ??= Constant("qc_one", Tensor.Scalar(1f));
                zeroU8 ??= Constant("qc_zero_u8", Tensor.Zeros(DataType.UInt8, Shape.Scalar));
                minus128 ??= Constant("qc_minus128_i8", Tensor.FromLongs(DataType.Int8, Shape.Scalar, new[] { -128L }));
                string f = Fresh(to + "_f");
                types[f] = new TensorType(DataType.Float, types[from].Shape);
                nodes.Add(new Node(to + "_DequantizeLinear", "DequantizeLinear", "", new[] { from, one, toUInt8 ? minus128 : zeroU8 }, new[] { f }));
                nodes.Add(new Node(to + "_QuantizeLinear", "QuantizeLinear", "", new[] { f, one, toUInt8 ? zeroU8 : minus128 }, new[] { to }));
            }
            string Int8Of(string v)
            {
                if (i8.TryGetValue(v, out var s)) return s;
                s = Fresh(v + "_i8");
                types[s] = g.TypeOf(v);
                i8[v] = s;
                Convert(u[v], s, toUInt8: false);
                return s;
            }

            var shiftedConstants = new Dictionary<string, string>(StringComparer.Ordinal);
            string Shifted(Node n, string c)
            {
                if (c.Length == 0) return c;
                if (shiftedConstants.TryGetValue(c, out var s)) return s;
                if (!constants.TryGetValue(c, out var t)) throw new RuntimeZeroPoint();
                if (t.ElementType != DataType.Int8) return c;
                s = Constant(c + Suffix, Tensor.FromLongs(DataType.UInt8, t.Shape, t.ToLongs().Select(x => x + 128).ToArray()));
                shiftedConstants[c] = s;
                return s;
            }

            // An omitted zero point of an int8 tensor is 0: as uint8, 128 (shaped like the scale).
            void ShiftZeroPoint(Node n, List<string> inputs, QuantizedSlot s)
            {
                if (s.ZeroPoint < inputs.Count && inputs[s.ZeroPoint].Length > 0) { inputs[s.ZeroPoint] = Shifted(n, inputs[s.ZeroPoint]); return; }
                while (inputs.Count <= s.ZeroPoint) inputs.Add("");
                var shape = s.Scale >= 0 && constants.TryGetValue(inputs[s.Scale], out var sc) ? sc.Shape : Shape.Scalar;
                inputs[s.ZeroPoint] = Constant(n.Name + "_zero_point" + Suffix,
                    Tensor.FromLongs(DataType.UInt8, shape, Enumerable.Repeat(128L, shape.ElementCount).ToArray()));
            }

            foreach (var v in g.Inputs.Select(i => i.Name).Where(u.ContainsKey)) Convert(v, u[v], toUInt8: true);
            foreach (var n in g.Nodes)
            {
                var slots = QuantizedSlots.Of(n);
                var generic = QuantizedSlots.GenericDataInputs(n);
                if (slots is null && generic is null)
                {
                    var ins = n.Inputs.Select(i => u.ContainsKey(i) ? Int8Of(i) : i).ToArray();
                    nodes.Add(n.WithInputs(ins));
                    foreach (var o in n.Outputs.Where(u.ContainsKey)) Convert(o, u[o], toUInt8: true);
                    continue;
                }
                var inputs = n.Inputs.ToList();
                var outputs = n.Outputs.ToArray();
                if (slots is not null)
                {
                    bool uniform = !(n.Domain.Length == 0 && n.OpType == "DequantizeLinear");
                    foreach (var s in slots)
                    {
                        if (s.IsOutput)
                        {
                            if (s.Tensor >= outputs.Length || !u.ContainsKey(outputs[s.Tensor])) continue;
                            outputs[s.Tensor] = u[outputs[s.Tensor]];
                            if (s.ZeroPoint >= 0) ShiftZeroPoint(n, inputs, s);
                            continue;
                        }
                        if (s.Tensor >= inputs.Count || inputs[s.Tensor].Length == 0) continue;
                        string x = inputs[s.Tensor];
                        bool shiftConstant = uniform && !s.IsWeight && constants.TryGetValue(x, out var ct) && ct.ElementType == DataType.Int8;
                        if (!u.ContainsKey(x) && !shiftConstant) continue;
                        inputs[s.Tensor] = u.TryGetValue(x, out var ux) ? ux : Shifted(n, x);
                        if (s.ZeroPoint >= 0) ShiftZeroPoint(n, inputs, s);
                    }
                }
                else
                {
                    foreach (int s in generic!)
                    {
                        if (s >= inputs.Count || inputs[s].Length == 0) continue;
                        string x = inputs[s];
                        if (u.TryGetValue(x, out var ux)) inputs[s] = ux;
                        else if (constants.TryGetValue(x, out var ct) && ct.ElementType == DataType.Int8) inputs[s] = Shifted(n, x);
                    }
                    for (int o = 0; o < outputs.Length; o++) if (u.ContainsKey(outputs[o])) outputs[o] = u[outputs[o]];
                }
                nodes.Add(new Node(n.Name, n.OpType, n.Domain, inputs, outputs, n.Attributes, n.Activation, n.SourceNodes));
                foreach (var o in n.Outputs.Where(o => inPlace.Contains(o) && g.IsGraphOutput(o))) Convert(u[o], o, toUInt8: false);
            }
            foreach (var v in u.Keys.Where(v => inPlace.Contains(v) && !g.IsGraphOutput(v))) types[v] = types[u[v]];
            return g.With(nodes: nodes, constants: constants, types: types);
        }
    }
}
