using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Ops.Float16;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Makes a float16 model compute in float32: float16 initializers and tensor attributes (Constant, ConstantOfShape)
    /// become float32, declared float16 intermediate values become float32, Cast(to=float16) becomes Cast(to=float),
    /// and each float16 graph input is converted once on entry (HalfToFloat) and each float16 graph output once on exit
    /// (FloatToHalf), so the generated Run keeps Half spans. Kernels are float32 only; float16 storage would save memory
    /// but not time on CPUs without float16 arithmetic.
    /// It runs on the decoded model, before import, so that shape inference and folding only ever see float32.
    /// </summary>
    public static class Float16ToFloat32Pass
    {
        /// <summary>The note added to the plan of a rewritten model.</summary>
        public const string Note = "float16 model computed in float32";

        public static OnnxModel Run(OnnxModel model, out bool rewritten)
        {
            rewritten = UsesFloat16(model);
            if (!rewritten) return model;

            var taken = new HashSet<string>(StringComparer.Ordinal);
            foreach (var i in model.Inputs) taken.Add(i.Name);
            foreach (var k in model.Initializers.Keys) taken.Add(k);
            foreach (var n in model.Nodes) foreach (var o in n.Outputs) taken.Add(o);
            string Fresh(string name)
            {
                string n = name + "_f32";
                for (int k = 2; taken.Contains(n); k++) n = name + "_f32_" + k;
                taken.Add(n);
                return n;
            }

            // Values renamed inside the graph: a float16 graph input is read through its float32 copy, a float16 graph
            // output is computed under a new name and converted at the end.
            var rename = new Dictionary<string, string>(StringComparer.Ordinal);
            var entry = new List<Node>();
            foreach (var i in model.Inputs.Where(i => i.ElementType == DataType.Float16))
            {
                string f = Fresh(i.Name);
                rename[i.Name] = f;
                entry.Add(new Node("to_float32_" + i.Name, HalfConvertOp.HalfToFloat, HalfConvertOp.InternalDomain, new[] { i.Name }, new[] { f }));
            }
            var exit = new List<Node>();
            foreach (var o in model.Outputs.Where(o => o.ElementType == DataType.Float16))
            {
                if (rename.ContainsKey(o.Name) || model.Initializers.ContainsKey(o.Name))
                    throw new QcException(DiagnosticIds.UnsupportedAttribute,
                        $"float16 graph output '{o.Name}' is a graph input or an initializer; this is not supported");
                string f = Fresh(o.Name);
                rename[o.Name] = f;
                exit.Add(new Node("to_float16_" + o.Name, HalfConvertOp.FloatToHalf, HalfConvertOp.InternalDomain, new[] { f }, new[] { o.Name }));
            }
            string R(string v) => v.Length > 0 && rename.TryGetValue(v, out var r) ? r : v;

            var nodes = new List<Node>(entry);
            foreach (var n in model.Nodes)
            {
                var attrs = n.Attributes.ToDictionary(kv => kv.Key, kv => ConvertAttribute(n, kv.Key, kv.Value));
                nodes.Add(new Node(n.Name, n.OpType, n.Domain, n.Inputs.Select(R).ToArray(), n.Outputs.Select(R).ToArray(),
                    attrs, n.Activation, n.SourceNodes));
            }
            nodes.AddRange(exit);

            var inits = model.Initializers.ToDictionary(kv => kv.Key, kv => ToFloat(kv.Value), StringComparer.Ordinal);
            var infos = new Dictionary<string, DeclaredValue>(StringComparer.Ordinal);
            foreach (var kv in model.ValueInfos)
            {
                var d = kv.Value;
                infos[R(kv.Key)] = d.ElementType == DataType.Float16 ? new DeclaredValue(R(d.Name), DataType.Float, d.Dims, d.DimNames) : d;
            }
            return new OnnxModel(model.Info, model.Inputs, model.Outputs, nodes, inits, infos);
        }

        private static bool UsesFloat16(OnnxModel m) =>
            m.Inputs.Any(i => i.ElementType == DataType.Float16) || m.Outputs.Any(o => o.ElementType == DataType.Float16) ||
            m.Initializers.Values.Any(t => t.ElementType == DataType.Float16) ||
            m.ValueInfos.Values.Any(v => v.ElementType == DataType.Float16) ||
            m.Nodes.Any(n => n.Attributes.Any(a => a.Value.T?.ElementType == DataType.Float16 || IsCastToHalf(n, a.Key, a.Value)));

        private static bool IsCastToHalf(Node n, string key, AttributeValue a) =>
            n.OpType == "Cast" && n.Domain.Length == 0 && key == "to" && a.I == (long)DataType.Float16;

        private static AttributeValue ConvertAttribute(Node n, string key, AttributeValue a)
        {
            if (IsCastToHalf(n, key, a)) return AttributeValue.Int((long)DataType.Float);
            if (a.Kind == AttributeKind.Tensor && a.T is not null && a.T.ElementType == DataType.Float16) return AttributeValue.Tensor(ToFloat(a.T));
            return a;
        }

        private static Tensor ToFloat(Tensor t) =>
            t.ElementType == DataType.Float16 ? Tensor.FromDoubles(DataType.Float, t.Shape, t.ToDoubles()) : t;
    }
}
