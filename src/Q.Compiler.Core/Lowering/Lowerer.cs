using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Plan;

namespace Q.Compiler.Lowering
{
    /// <summary>Turns a shaped, optimized graph into layers of kernel calls over buffers.</summary>
    public sealed class Lowerer
    {
        private readonly Dictionary<string, LoweredBuffer> _byValue = new Dictionary<string, LoweredBuffer>(StringComparer.Ordinal);
        private readonly List<LoweredBuffer> _buffers = new List<LoweredBuffer>();
        private readonly List<PlanLayer> _layers = new List<PlanLayer>();
        private readonly HashSet<string> _methodNames = new HashSet<string>(StringComparer.Ordinal);

        // Who computes and who reads each value, built once per lowering for the lowerings that fuse a neighbour
        // (LowerContext.ProducerOf / ConsumersOf / IsGraphOutput).
        private readonly Dictionary<string, Node> _producers;
        private readonly Dictionary<string, List<Node>> _consumers = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        private readonly HashSet<string> _graphOutputs;

        private Lowerer(Graph graph)
        {
            Graph = graph;
            _producers = graph.Producers();
            foreach (var node in graph.Nodes)
                foreach (var value in node.Inputs.Distinct())
                {
                    if (!_consumers.TryGetValue(value, out var readers)) _consumers[value] = readers = new List<Node>();
                    readers.Add(node);
                }
            _graphOutputs = new HashSet<string>(graph.Outputs.Select(o => o.Name), StringComparer.Ordinal);
        }

        internal Graph Graph { get; }

        /// <summary>The node computing <paramref name="value"/>, or null for graph inputs and constants.</summary>
        internal Node? ProducerOf(string value) => _producers.TryGetValue(value, out var n) ? n : null;

        /// <summary>The nodes reading <paramref name="value"/>, in graph order (a node reading it twice is listed once).</summary>
        internal IReadOnlyList<Node> ConsumersOf(string value) => _consumers.TryGetValue(value, out var readers) ? readers : Array.Empty<Node>();

        internal bool IsGraphOutput(string value) => _graphOutputs.Contains(value);

        public static LoweredModel Lower(Graph graph)
        {
            var l = new Lowerer(graph);
            return l.Run();
        }

        private LoweredModel Run()
        {
            var inputs = new List<LoweredBuffer>();
            for (int i = 0; i < Graph.Inputs.Count; i++)
            {
                var v = Graph.Inputs[i];
                var b = Add(v.Name, v.Type, BufferKind.Input, i, null, null);
                _byValue[v.Name] = b;
                inputs.Add(b);
            }

            foreach (var node in Graph.Nodes)
            {
                var def = OpRegistry.Find(node.Domain, node.OpType)
                          ?? throw new QcException(DiagnosticIds.UnsupportedOp, $"{node.Describe()}: op is not supported", node.Name);
                var op = OpContextFor(node);
                var layer = new PlanLayer { Index = _layers.Count };
                layer.Nodes.AddRange(node.SourceNodes);
                var ctx = new LowerContext(this, node, op, layer);
                def.Lower(ctx);
                if (layer.Calls.Count > 0)
                {
                    if (layer.Method.Length == 0) SetMethodSuffix(layer, node.OpType);
                    _layers.Add(layer);
                }
            }

            // Graph outputs not written by a layer (constants, graph inputs, values already bound elsewhere) get a copy.
            var outputs = new List<LoweredBuffer>();
            for (int i = 0; i < Graph.Outputs.Count; i++)
            {
                var v = Graph.Outputs[i];
                var existing = _buffers.FirstOrDefault(b => b.Kind == BufferKind.Output && b.ArgIndex == i);
                if (existing is not null) { outputs.Add(existing); continue; }
                var src = BufferFor(v.Name);
                var dst = Add(v.Name, v.Type, BufferKind.Output, i, null, null);
                var layer = new PlanLayer { Index = _layers.Count, Op = "Copy", Detail = "graph output " + v.Name, Math = "y = x" };
                SetMethodSuffix(layer, "Copy");
                layer.Calls.Add(new PlanCall($"Copy.Run<{v.Type.ElementType.CSharpName()}>", new[] { PlanArg.In(src.Id), PlanArg.Out(dst.Id) }));
                _layers.Add(layer);
                outputs.Add(dst);
            }
            return new LoweredModel(Graph, _buffers, _layers, inputs, outputs);
        }

        internal OpContext OpContextFor(Node node)
        {
            var types = node.Inputs.Select(i => i.Length == 0 ? null : Graph.TypeOf(i)).ToArray();
            var consts = node.Inputs.Select(i => i.Length > 0 && Graph.Constants.TryGetValue(i, out var t) ? t : null).ToArray();
            long opset = Graph.Info.Opsets.TryGetValue(node.Domain, out var v) ? v : 1;
            return new OpContext(node, types, consts, opset);
        }

        private LoweredBuffer Add(string value, TensorType type, BufferKind kind, int arg, Tensor? weight, LoweredBuffer? alias)
        {
            var b = new LoweredBuffer("b" + _buffers.Count.ToString(CultureInfo.InvariantCulture), value, type, kind, arg, weight, alias);
            _buffers.Add(b);
            return b;
        }

        internal LoweredBuffer BufferFor(string value)
        {
            if (_byValue.TryGetValue(value, out var b)) return b;
            if (Graph.Constants.TryGetValue(value, out var t))
            {
                b = Add(value, t.Type, BufferKind.Weight, -1, t, null);
                _byValue[value] = b;
                return b;
            }
            throw new QcException(DiagnosticIds.MalformedGraph, $"value '{value}' is used before it is computed");
        }

        internal LoweredBuffer OutputBuffer(string value)
        {
            if (_byValue.TryGetValue(value, out var existing)) return existing;
            var type = Graph.TypeOf(value);
            int outIndex = -1;
            for (int i = 0; i < Graph.Outputs.Count; i++) if (Graph.Outputs[i].Name == value) { outIndex = i; break; }
            var b = outIndex >= 0 ? Add(value, type, BufferKind.Output, outIndex, null, null) : Add(value, type, BufferKind.Arena, -1, null, null);
            _byValue[value] = b;
            return b;
        }

        internal LoweredBuffer AddAlias(string value, TensorType type, LoweredBuffer source)
        {
            var b = Add(value, type, source.Root.Kind, source.Root.ArgIndex, null, source);
            _byValue[value] = b;
            return b;
        }

        internal LoweredBuffer AddWeight(string name, Tensor value) => Add(name, value.Type, BufferKind.Weight, -1, value, null);

        internal LoweredBuffer AddScratch(string name, TensorType type) => Add(name, type, BufferKind.Arena, -1, null, null);

        internal void SetMethodSuffix(PlanLayer layer, string suffix)
        {
            var sb = new StringBuilder("L").Append(layer.Index.ToString(CultureInfo.InvariantCulture)).Append('_');
            foreach (char c in suffix) sb.Append(char.IsLetterOrDigit(c) ? c : '_');
            string name = sb.ToString();
            string unique = name;
            for (int k = 2; _methodNames.Contains(unique); k++) unique = name + "_" + k.ToString(CultureInfo.InvariantCulture);
            _methodNames.Add(unique);
            layer.Method = unique;
        }
    }
}
