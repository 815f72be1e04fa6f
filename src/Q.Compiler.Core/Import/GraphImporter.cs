using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Ops;

namespace Q.Compiler.Import
{
    /// <summary>
    /// Turns a decoded ONNX model into a <see cref="Graph"/> with static shapes: pins input shapes, checks the graph's
    /// structure, infers every value's type node by node, and folds every node whose inputs are known at build time.
    /// </summary>
    public static class GraphImporter
    {
        public static Graph Import(OnnxModel model, IReadOnlyDictionary<string, int[]> pinnedShapes, DiagnosticBag diagnostics)
        {
            foreach (var name in pinnedShapes.Keys)
                if (!model.Inputs.Any(i => i.Name == name))
                    throw new QcException(DiagnosticIds.UnknownInput,
                        $"InputShapes names '{name}', which is not a graph input; the inputs are: {string.Join(", ", model.Inputs.Select(i => i.Name))}");

            foreach (var d in model.Inputs) RequireRunType(d.Name, d.ElementType, "input");
            var inputs = model.Inputs.Select(d => new ValueInfo(d.Name, new TensorType(d.ElementType, PinShape(d, pinnedShapes, diagnostics)))).ToList();
            var types = new Dictionary<string, TensorType>(StringComparer.Ordinal);
            var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var i in inputs) types[i.Name] = i.Type;
            foreach (var kv in model.Initializers) { constants[kv.Key] = kv.Value; types[kv.Key] = kv.Value.Type; }

            var nodes = TopologicalOrder(model.Nodes, new HashSet<string>(types.Keys));
            var kept = new List<Node>();
            foreach (var node in nodes)
            {
                var def = OpRegistry.Find(node.Domain, node.OpType);
                long opset = model.Info.Opsets.TryGetValue(node.Domain, out var v) ? v : 1;
                if (def is null)
                    throw new QcException(DiagnosticIds.UnsupportedOp,
                        $"{node.Describe()}: op {(node.Domain.Length == 0 ? "ai.onnx" : node.Domain)}.{node.OpType} (opset {opset}) is not supported", node.Name);
                var inTypes = node.Inputs.Select(i => i.Length == 0 ? null : types[i]).ToArray();
                var inConsts = node.Inputs.Select(i => i.Length > 0 && constants.TryGetValue(i, out var t) ? t : null).ToArray();
                var ctx = new OpContext(node, inTypes, inConsts, opset);

                Tensor[]? folded;
                TensorType[] outTypes;
                try
                {
                    // DequantizeLinear of a constant (a QDQ model's weights) stays a node: QdqFusionPass needs the
                    // quantized weights, and folds the DQs it does not fuse itself.
                    folded = node.Domain.Length == 0 && node.OpType == "DequantizeLinear" ? null : def.TryFold(ctx);
                    outTypes = folded is not null ? folded.Select(t => t.Type).ToArray() : def.InferTypes(ctx);
                }
                catch (QcException) { throw; }
                catch (OverflowException e)
                {
                    throw new QcException(DiagnosticIds.TensorTooLarge, $"{node.Describe()}: a result would be too large ({e.Message})", node.Name);
                }
                catch (Exception e) when (e is ArgumentException || e is IndexOutOfRangeException || e is InvalidOperationException || e is FormatException || e is NotSupportedException)
                {
                    throw new QcException(DiagnosticIds.ShapeMismatch, $"{node.Describe()}: the node's inputs or attributes are inconsistent ({e.Message})", node.Name);
                }

                for (int o = 0; o < node.Outputs.Count; o++)
                {
                    string name = node.Outputs[o];
                    if (name.Length == 0 || o >= outTypes.Length) continue;
                    types[name] = outTypes[o];
                    if (folded is not null) constants[name] = folded[o];
                    CheckDeclared(model, name, outTypes[o], node);
                }
                if (folded is null) kept.Add(node);
            }

            var outputs = new List<ValueInfo>();
            foreach (var d in model.Outputs)
            {
                if (!types.TryGetValue(d.Name, out var t))
                    throw new QcException(DiagnosticIds.MalformedGraph, $"graph output '{d.Name}' is not computed by any node");
                CheckAgainst(d, t, null);
                RequireRunType(d.Name, t.ElementType, "output");
                outputs.Add(new ValueInfo(d.Name, t));
            }
            return new Graph(model.Info, inputs, outputs, kept, constants, types);
        }

        /// <summary>Graph inputs and outputs become spans of Run: their element type needs a C# counterpart (strings have none).</summary>
        private static void RequireRunType(string name, DataType type, string what)
        {
            if (type == DataType.String)
                throw new QcException(DiagnosticIds.UnsupportedDataType,
                    $"graph {what} '{name}' is a string tensor; model inputs and outputs must be numeric or bool (do string processing outside the model)");
        }

        /// <summary>Parses InputShapes metadata: "x=1x3x48x192;y=1x10".</summary>
        public static Dictionary<string, int[]> ParseInputShapes(string? spec)
        {
            var d = new Dictionary<string, int[]>(StringComparer.Ordinal);
            if (string.IsNullOrWhiteSpace(spec)) return d;
            foreach (var part in spec!.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = part.LastIndexOf('=');
                if (eq <= 0) throw new QcException(DiagnosticIds.BadMetadata, $"InputShapes entry '{part.Trim()}' is not of the form name=1x3x224x224");
                string name = part.Substring(0, eq).Trim();
                string dims = part.Substring(eq + 1).Trim();
                try
                {
                    d[name] = dims.Length == 0 || dims == "scalar" ? new int[0] :
                        dims.Split('x', 'X', ',').Select(s => int.Parse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();
                }
                catch (FormatException) { throw new QcException(DiagnosticIds.BadMetadata, $"InputShapes entry '{part.Trim()}': '{dims}' is not a list of sizes like 1x3x224x224"); }
                catch (OverflowException) { throw new QcException(DiagnosticIds.BadMetadata, $"InputShapes entry '{part.Trim()}': a size is too large"); }
            }
            return d;
        }

        private static Shape PinShape(DeclaredValue d, IReadOnlyDictionary<string, int[]> pins, DiagnosticBag diagnostics)
        {
            pins.TryGetValue(d.Name, out var pin);
            if (d.Dims is null)
            {
                if (pin is null)
                    throw new QcException(DiagnosticIds.DynamicDimension,
                        $"input '{d.Name}' has no declared shape; pin it with InputShapes=\"{d.Name}=...\" on the QModel item");
                return MakeShape(d.Name, pin.Select(x => (long)x).ToArray());
            }
            if (pin is not null)
            {
                if (pin.Length != d.Dims.Count)
                    throw new QcException(DiagnosticIds.UnknownInput, $"InputShapes pins '{d.Name}' to rank {pin.Length}, but the model declares rank {d.Dims.Count} {DescribeDims(d)}");
                for (int i = 0; i < pin.Length; i++)
                    if (d.Dims[i] >= 0 && d.Dims[i] != pin[i])
                        throw new QcException(DiagnosticIds.UnknownInput, $"InputShapes pins dimension {i} of '{d.Name}' to {pin[i]}, but the model fixes it at {d.Dims[i]} {DescribeDims(d)}");
                return MakeShape(d.Name, pin.Select(x => (long)x).ToArray());
            }
            var dims = d.Dims.ToArray();
            for (int i = 0; i < dims.Length; i++)
            {
                if (dims[i] >= 0) continue;
                string? sym = d.DimNames?[i];
                bool batchLike = i == 0 && (sym is null || sym.Length == 0 || IsBatchName(sym));
                if (batchLike)
                {
                    diagnostics.Warning(DiagnosticIds.BatchDefaulted,
                        $"input '{d.Name}' dimension 0 ({(string.IsNullOrEmpty(sym) ? "unnamed" : "'" + sym + "'")}) is dynamic and was pinned to 1; set InputShapes=\"{d.Name}={ExampleShape(dims)}\" to choose another size");
                    dims[i] = 1;
                }
                else
                    throw new QcException(DiagnosticIds.DynamicDimension,
                        $"input '{d.Name}' dimension {i} ({(string.IsNullOrEmpty(sym) ? "unnamed" : "'" + sym + "'")}) is dynamic {DescribeDims(d)}; pin it with InputShapes=\"{d.Name}={ExampleShape(dims)}\" on the QModel item");
            }
            return MakeShape(d.Name, dims);
        }

        private static bool IsBatchName(string s)
        {
            string l = s.ToLowerInvariant();
            return l.Contains("batch") || l == "n" || l == "b" || l == "none" || l.StartsWith("unk", StringComparison.Ordinal) || l == "?" || l == "bs";
        }

        private static string ExampleShape(long[] dims) => string.Join("x", dims.Select((x, i) => x >= 0 ? x.ToString(CultureInfo.InvariantCulture) : (i == 0 ? "1" : "N")));

        private static string DescribeDims(DeclaredValue d) =>
            "[" + string.Join(",", d.Dims!.Select((x, i) => x >= 0 ? x.ToString(CultureInfo.InvariantCulture) : (d.DimNames?[i] ?? "?"))) + "]";

        private static Shape MakeShape(string name, long[] dims)
        {
            if (!Shape.TryCreate(dims, out var s))
                throw new QcException(DiagnosticIds.TensorTooLarge, $"input '{name}' has shape [{string.Join(",", dims)}], which has more than 2^31-1 elements");
            return s!;
        }

        private static void CheckDeclared(OnnxModel model, string name, TensorType inferred, Node node)
        {
            if (model.ValueInfos.TryGetValue(name, out var d)) CheckAgainst(d, inferred, node);
        }

        private static void CheckAgainst(DeclaredValue d, TensorType inferred, Node? node)
        {
            bool typeOk = d.ElementType == inferred.ElementType || d.ElementType == DataType.Undefined;
            bool shapeOk = d.Dims is null || (d.Dims.Count == inferred.Shape.Rank &&
                d.Dims.Select((x, i) => x < 0 || x == inferred.Shape[i]).All(ok => ok));
            if (typeOk && shapeOk) return;
            string declared = d.ElementType.ShortName() + (d.Dims is null ? "[?]" : DescribeDims(d));
            throw new QcException(DiagnosticIds.ShapeMismatch,
                $"value '{d.Name}' is declared as {declared} but {(node is null ? "the graph" : node.Describe())} computes {inferred}; the model's declared shapes are inconsistent",
                node?.Name);
        }

        /// <summary>Orders nodes so that every input is computed before use; reports undefined values and cycles.</summary>
        private static List<Node> TopologicalOrder(IReadOnlyList<Node> nodes, HashSet<string> available)
        {
            var produced = new Dictionary<string, Node>(StringComparer.Ordinal);
            foreach (var n in nodes)
                foreach (var o in n.Outputs)
                {
                    if (o.Length == 0) continue;
                    if (available.Contains(o) || produced.ContainsKey(o))
                        throw new QcException(DiagnosticIds.MalformedGraph, $"{n.Describe()}: value '{o}' is produced more than once", n.Name);
                    produced[o] = n;
                }
            foreach (var n in nodes)
                foreach (var i in n.Inputs)
                    if (i.Length > 0 && !available.Contains(i) && !produced.ContainsKey(i))
                        throw new QcException(DiagnosticIds.MalformedGraph, $"{n.Describe()}: input '{i}' is not a graph input, an initializer or any node's output", n.Name);

            // Most files are already in order (the ONNX spec requires it); keep that order, which exporters choose with care.
            var seen = new HashSet<string>(available, StringComparer.Ordinal);
            bool inOrder = true;
            foreach (var n in nodes)
            {
                if (!n.Inputs.All(i => i.Length == 0 || seen.Contains(i))) { inOrder = false; break; }
                foreach (var o in n.Outputs) if (o.Length > 0) seen.Add(o);
            }
            if (inOrder) return nodes.ToList();

            var order = new List<Node>();
            var done = new HashSet<string>(available, StringComparer.Ordinal);
            var pending = nodes.ToList();
            while (pending.Count > 0)
            {
                var ready = pending.Where(n => n.Inputs.All(i => i.Length == 0 || done.Contains(i))).ToList();
                if (ready.Count == 0)
                    throw new QcException(DiagnosticIds.MalformedGraph, $"the graph has a cycle through {pending[0].Describe()}", pending[0].Name);
                foreach (var n in ready)
                {
                    order.Add(n);
                    foreach (var o in n.Outputs) if (o.Length > 0) done.Add(o);
                }
                var readySet = new HashSet<Node>(ready);
                pending = pending.Where(n => !readySet.Contains(n)).ToList();
            }
            return order;
        }
    }
}
