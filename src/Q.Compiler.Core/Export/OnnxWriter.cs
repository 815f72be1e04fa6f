using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Google.Protobuf;
using global::Onnx;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Ops.QContrib;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Ops.QLinear;

namespace Q.Compiler.Export
{
    /// <summary>
    /// Writes a compiled <see cref="Graph"/> (the graph a plan was lowered from: optimized, and quantized for an int8
    /// build) as an ONNX model that ONNX Runtime runs and Netron opens. Nothing of the graph's meaning is dropped:
    /// <list type="bullet">
    /// <item>a fused activation (<see cref="Node.Activation"/>) becomes a node of its own after the op: Relu, Clip, LeakyRelu,
    /// Sigmoid, Tanh, HardSigmoid, HardSwish (HardSigmoid·x below opset 14); on a QLinearConv / QLinearMatMul / QLinearAdd
    /// it is the requantization clamp, written as a Clip on the quantized output with the same integer bounds the ops'
    /// Evaluate and kernels use, or nothing when the clamp is the type's own saturation;</item>
    /// <item>the float16 boundary conversions of a float16 model become Cast;</item>
    /// <item>the ai.onnx opset is the model's, raised to what the graph's quantized ops need (QLinearConv 10, per-axis
    /// QuantizeLinear 13, integer Clip 12); ops whose signature changed in between (Clip, Squeeze, Unsqueeze, Reduce*,
    /// Split, Pad, Slice, Softmax) are rewritten to the new form; com.microsoft ops get that domain at version 1.</item>
    /// </list>
    /// What cannot be written as standard ONNX (an op of an internal domain, a subgraph attribute, a fused activation
    /// with no ONNX form, an op whose signature changed in a way not rewritten here) is refused with one
    /// <see cref="QcException"/> (<see cref="DiagnosticIds.OnnxExportUnsupported"/>) that lists every such node.
    /// Output is deterministic: the same graph gives the same bytes.
    /// </summary>
    public static class OnnxWriter
    {
        /// <summary>The producer_name written into the model.</summary>
        public const string ProducerName = "Q.Compiler";

        /// <summary>The ONNX model (protobuf bytes) of <paramref name="graph"/>.</summary>
        public static byte[] Write(Graph graph, OnnxExportOptions? options = null) => ToProto(graph, options).ToByteArray();

        /// <summary>Writes <see cref="Write(Graph, OnnxExportOptions)"/> to <paramref name="path"/>.</summary>
        public static void WriteFile(Graph graph, string path, OnnxExportOptions? options = null) => File.WriteAllBytes(path, Write(graph, options));

        internal static ModelProto ToProto(Graph graph, OnnxExportOptions? options = null) => new Exporter(graph, options ?? new OnnxExportOptions()).Run();

        /// <summary>The opset versions that would be written for <paramref name="graph"/> ("" = ai.onnx).</summary>
        public static IReadOnlyDictionary<string, long> Opsets(Graph graph, OnnxExportOptions? options = null)
        {
            var m = ToProto(graph, options);
            return m.OpsetImport.ToDictionary(o => o.Domain, o => o.Version);
        }

        private sealed class Exporter
        {
            private readonly Graph _g;
            private readonly OnnxExportOptions _options;
            private readonly Dictionary<string, string> _uint8Weights = new Dictionary<string, string>(StringComparer.Ordinal);
            private readonly long _from;
            private long _opset;
            private readonly List<string> _problems = new List<string>();
            private readonly List<Node> _nodes = new List<Node>();
            private readonly Dictionary<string, Tensor> _constants;
            private readonly Dictionary<string, TensorType> _types;
            private readonly HashSet<string> _names;
            private bool _usesMicrosoft;

            public Exporter(Graph g, OnnxExportOptions options)
            {
                _g = g;
                _options = options;
                _from = g.Info.DefaultOpset;
                _constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var kv in g.Constants) _constants[kv.Key] = kv.Value;
                _types = new Dictionary<string, TensorType>(StringComparer.Ordinal);
                foreach (var kv in g.Types) _types[kv.Key] = kv.Value;
                _names = new HashSet<string>(g.Types.Keys.Concat(g.Constants.Keys).Concat(g.Nodes.Select(n => n.Name))
                    .Concat(g.Inputs.Select(i => i.Name)).Concat(g.Outputs.Select(o => o.Name)), StringComparer.Ordinal);
            }

            public ModelProto Run()
            {
                // 1. The opset: the model's, raised to what the nodes (and the clamps they will need) require.
                var clamps = new Dictionary<Node, (int Lo, int Hi, DataType Type)?>();
                _opset = Math.Max(_from, 1);
                foreach (var n in _g.Nodes)
                {
                    if (n.Domain.Length == 0) _opset = Math.Max(_opset, MinOpset(n));
                    if (n.Activation is not null && IsQuantizedWithClamp(n))
                    {
                        var c = QuantizedClamp(n);
                        clamps[n] = c;
                        if (c is not null) _opset = Math.Max(_opset, 12);
                    }
                }

                // 2. The nodes, with fused activations unfused and signatures brought to the chosen opset.
                foreach (var n in _g.Nodes)
                {
                    if (n.Domain == QContribMath.Domain) _usesMicrosoft = true;
                    else if (n.Domain == Ops.Float16.HalfConvertOp.InternalDomain
                        && (n.OpType == Ops.Float16.HalfConvertOp.HalfToFloat || n.OpType == Ops.Float16.HalfConvertOp.FloatToHalf)) { AddHalfConvert(n); continue; }
                    else if (n.Domain == Ops.Float16.HalfConvertOp.InternalDomain && QLinearActivationOp.For(n.OpType.Replace("QLinear", "")) == n.OpType)
                    { AddLookupActivation(n); continue; }
                    else if (n.Domain == Ops.Float16.HalfConvertOp.InternalDomain && n.OpType == Ops.QDynamic.DynamicDequantizeOp.OpType)
                    { AddDynamicDequantize(n); continue; }
                    else if (n.Domain.Length != 0) { Problem(n, $"domain '{n.Domain}' is internal to Q.Compiler"); continue; }
                    foreach (var a in n.Attributes)
                        if (a.Value.Kind == AttributeKind.Graph) Problem(n, $"attribute '{a.Key}' is a subgraph, which the compiled graph keeps only as a name");
                    var node = n.Domain.Length == 0 ? Upgrade(n) : n;
                    if (node is null) continue;
                    if (_options.UInt8Weights) node = WithUInt8Weights(node);
                    if (n.Activation is null) { _nodes.Add(node); continue; }
                    if (clamps.TryGetValue(n, out var clamp)) AddWithClamp(node, clamp);
                    else if (IsQuantizedOp(n)) Problem(n, $"a fused {n.Activation.Op} on a quantized op has no ONNX form here");
                    else AddWithActivation(node);
                }
                if (_problems.Count > 0)
                    throw new QcException(DiagnosticIds.OnnxExportUnsupported,
                        "the compiled graph cannot be written as ONNX: " + string.Join("; ", _problems));

                return Model(Outputs());
            }

            private void Problem(Node n, string why) => _problems.Add(n.Describe() + ": " + why);

            private string Fresh(string hint)
            {
                string name = hint;
                for (int k = 2; _names.Contains(name); k++) name = hint + "_" + k.ToString(CultureInfo.InvariantCulture);
                _names.Add(name);
                return name;
            }

            private string Constant(string hint, Tensor t)
            {
                string name = Fresh(hint);
                _constants[name] = t;
                _types[name] = t.Type;
                return name;
            }

            private Tensor? ConstantOf(string value) => value.Length > 0 && _g.Constants.TryGetValue(value, out var t) ? t : null;

            // ---------------------------------------------------------------- opsets

            /// <summary>The lowest ai.onnx opset at which ONNX Runtime accepts this node as it stands.</summary>
            private long MinOpset(Node n)
            {
                switch (n.OpType)
                {
                    case "QuantizeLinear":
                    case "DequantizeLinear":
                    {
                        var scale = ConstantOf(n.Input(1));
                        bool perAxis = scale is null ? _g.Types.TryGetValue(n.Input(1), out var st) && st.Shape.ElementCount > 1 : scale.Shape.Rank > 0 && scale.Length > 1;
                        if (n.Attributes.ContainsKey("block_size")) return 21;
                        var ints = n.Inputs.Concat(n.Outputs).Where(v => v.Length > 0 && _types.ContainsKey(v)).Select(v => _types[v].ElementType);
                        if (ints.Any(t => t == DataType.Int16 || t == DataType.UInt16)) return 21;
                        return perAxis || n.Attributes.ContainsKey("axis") ? 13 : 10;
                    }
                    case "QLinearConv": case "QLinearMatMul": case "ConvInteger": case "MatMulInteger": return 10;
                    case "DynamicQuantizeLinear": return 11;
                    case "HardSwish": return 14;
                    case "MaxPool":   // MaxPool-12 takes int8 and uint8
                        return _types.TryGetValue(n.Input(0), out var mt) && (mt.ElementType == DataType.UInt8 || mt.ElementType == DataType.Int8) ? 12 : 1;
                    case "Clip":
                        return _types.TryGetValue(n.Outputs[0], out var ct) && !ct.ElementType.IsFloat() ? 12 : 1;
                    default: return 1;
                }
            }

            private bool Crosses(long version) => _from < version && _opset >= version;

            /// <summary>
            /// The node in the form of the export opset, or null (with a problem recorded) when its signature changed
            /// between the model's opset and the export opset in a way not rewritten here.
            /// </summary>
            private Node? Upgrade(Node n)
            {
                if (_opset == _from) return n;
                var attrs = new SortedDictionary<string, AttributeValue>(n.Attributes.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
                var inputs = n.Inputs.ToList();
                Node With() => new Node(n.Name, n.OpType, n.Domain, inputs, n.Outputs, attrs, n.Activation, n.SourceNodes);
                string Longs(string hint, IEnumerable<long> v)
                {
                    var a = v.ToArray();
                    return Constant(n.Name + "_" + hint, Tensor.FromLongs(new Shape(a.Length), a));
                }
                string? TakeInts(string name, string hint)
                {
                    if (!attrs.TryGetValue(name, out var a)) return null;
                    attrs.Remove(name);
                    return Longs(hint, a.Ints);
                }
                switch (n.OpType)
                {
                    case "Clip" when Crosses(11):
                    {
                        var type = _types[n.Input(0)].ElementType;
                        string min = attrs.TryGetValue("min", out var lo) ? Constant(n.Name + "_min", Tensor.FromDoubles(type, Shape.Scalar, new double[] { lo.F })) : "";
                        string max = attrs.TryGetValue("max", out var hi) ? Constant(n.Name + "_max", Tensor.FromDoubles(type, Shape.Scalar, new double[] { hi.F })) : "";
                        attrs.Remove("min"); attrs.Remove("max");
                        inputs = new List<string> { n.Input(0), min, max };
                        while (inputs.Count > 1 && inputs[inputs.Count - 1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
                        return With();
                    }
                    case "Squeeze" when Crosses(13):
                    case "Unsqueeze" when Crosses(13):
                    case "ReduceSum" when Crosses(13):
                    {
                        string? axes = TakeInts("axes", "axes");
                        if (axes is not null) inputs = new List<string> { n.Input(0), axes };
                        return With();
                    }
                    case "ReduceMean" when Crosses(18): case "ReduceMax" when Crosses(18): case "ReduceMin" when Crosses(18):
                    case "ReduceProd" when Crosses(18): case "ReduceL1" when Crosses(18): case "ReduceL2" when Crosses(18):
                    case "ReduceLogSum" when Crosses(18): case "ReduceLogSumExp" when Crosses(18): case "ReduceSumSquare" when Crosses(18):
                    {
                        string? axes = TakeInts("axes", "axes");
                        if (axes is not null) inputs = new List<string> { n.Input(0), axes };
                        return With();
                    }
                    case "Split" when Crosses(13) || Crosses(18):
                    {
                        if (Crosses(13))
                        {
                            string? split = TakeInts("split", "split");
                            if (split is not null) inputs = new List<string> { n.Input(0), split };
                        }
                        if (_opset >= 18 && (inputs.Count < 2 || inputs[1].Length == 0))
                            attrs["num_outputs"] = AttributeValue.Int(n.Outputs.Count);
                        return With();
                    }
                    case "Pad" when Crosses(11):
                    {
                        var type = _types[n.Input(0)].ElementType;
                        string pads = TakeInts("pads", "pads") ?? Longs("pads", new long[2 * _types[n.Input(0)].Shape.Rank]);
                        float value = attrs.TryGetValue("value", out var v) ? v.F : 0f;
                        attrs.Remove("value");
                        inputs = new List<string> { n.Input(0), pads, Constant(n.Name + "_value", Tensor.FromDoubles(type, Shape.Scalar, new double[] { value })) };
                        return With();
                    }
                    case "Slice" when Crosses(10):
                    {
                        string starts = TakeInts("starts", "starts")!, ends = TakeInts("ends", "ends")!;
                        string? axes = TakeInts("axes", "axes");
                        inputs = new List<string> { n.Input(0), starts, ends };
                        if (axes is not null) inputs.Add(axes);
                        return With();
                    }
                    case "Softmax" when Crosses(13): case "LogSoftmax" when Crosses(13): case "Hardmax" when Crosses(13):
                    {
                        // Before 13 the op works on the input flattened to 2-D at axis (default 1); from 13 on one axis.
                        // The two agree when every dimension after the axis is 1.
                        var shape = _types[n.Input(0)].Shape;
                        long axis = attrs.TryGetValue("axis", out var a) ? a.I : 1;
                        int k = (int)(axis < 0 ? axis + shape.Rank : axis);
                        if (Enumerable.Range(k + 1, Math.Max(0, shape.Rank - k - 1)).Any(d => shape[d] != 1))
                        {
                            Problem(n, $"its opset-{_from} 2-D semantics over axis {axis} of {shape} have no opset-{_opset} form without a reshape (the export needs opset {_opset} for its quantized ops)");
                            return null;
                        }
                        attrs["axis"] = AttributeValue.Int(k);
                        return With();
                    }
                    case "Upsample" when Crosses(10): case "Resize" when Crosses(11): case "TopK" when Crosses(10):
                    case "Scatter" when Crosses(11): case "Dropout" when Crosses(12): case "Cast" when Crosses(6):
                    case "BatchNormalization" when Crosses(9):
                        Problem(n, $"its signature changed between opset {_from} (the model's) and {_opset} (needed by the quantized ops), and the export does not rewrite it");
                        return null;
                    default:
                        if (_from < 7 && attrs.ContainsKey("broadcast"))
                        {
                            Problem(n, $"the opset-{_from} 'broadcast' attribute has no opset-{_opset} form");
                            return null;
                        }
                        return n;
                }
            }

            /// <summary>
            /// QLinearConv / QLinearMatMul with int8 weights (input 3) and zero points (input 5) rewritten to uint8: w + 128,
            /// zp + 128, the same integer products (w − zp). Other nodes unchanged.
            /// </summary>
            private Node WithUInt8Weights(Node n)
            {
                if (n.Domain.Length != 0) return n;
                int wi, zi;
                switch (n.OpType)
                {
                    case "QLinearConv": case "QLinearMatMul": (wi, zi) = (3, 5); break;
                    case "ConvInteger": case "MatMulInteger": (wi, zi) = (1, 3); break;
                    default: return n;
                }
                var w = ConstantOf(n.Input(wi));
                var z = ConstantOf(n.Input(zi));
                if (w is null || w.ElementType != DataType.Int8 || (n.HasInput(zi) && (z is null || z.ElementType != DataType.Int8))) return n;
                var inputs = n.Inputs.ToList();
                while (inputs.Count < zi + 1) inputs.Add("");
                inputs[wi] = Shifted(n.Input(wi), w);
                inputs[zi] = z is null ? Constant(n.Name + "_w_zero_point_u8", new Tensor(DataType.UInt8, Shape.Scalar, new byte[] { 128 })) : Shifted(n.Input(zi), z);
                return new Node(n.Name, n.OpType, n.Domain, inputs, n.Outputs, n.Attributes, n.Activation, n.SourceNodes);
            }

            private string Shifted(string name, Tensor t)
            {
                if (_uint8Weights.TryGetValue(name, out var done)) return done;
                string shifted = Constant(name + "_u8", new Tensor(DataType.UInt8, t.Shape, t.As<sbyte>().Select(v => (byte)(v + 128)).ToArray()));
                _uint8Weights[name] = shifted;
                return shifted;
            }

            // ---------------------------------------------------------------- activations

            private static bool IsQuantizedOp(Node n) =>
                n.OpType.StartsWith("QLinear", StringComparison.Ordinal) || n.OpType.EndsWith("Integer", StringComparison.Ordinal);

            private static bool IsQuantizedWithClamp(Node n) =>
                (n.Domain.Length == 0 && (n.OpType == "QLinearConv" || n.OpType == "QLinearMatMul"))
                || (n.Domain == QContribMath.Domain && (n.OpType == "QLinearAdd" || n.OpType == "QLinearMul"));

            /// <summary>
            /// The integer clamp a fused activation puts on a requantized output (computed by the op's own rule, as its
            /// Evaluate and kernels do), or null when it is the output type's saturation and needs no node.
            /// </summary>
            private (int Lo, int Hi, DataType Type)? QuantizedClamp(Node n)
            {
                var type = _types[n.Outputs[0]].ElementType;
                var scale = ConstantOf(n.Input(6));
                var zero = ConstantOf(n.Input(7));
                if (scale is null || (n.HasInput(7) && zero is null))
                {
                    Problem(n, "its output scale or zero point is not a constant, so the fused clamp cannot be computed");
                    return null;
                }
                float sy = scale.ToFloats()[0];
                int zy = zero is null ? 0 : (int)zero.ToDoubles()[0];
                var ctx = new OpContext(n, n.Inputs.Select(i => i.Length > 0 && _types.TryGetValue(i, out var t) ? t : null).ToArray(),
                    n.Inputs.Select(ConstantOf).ToArray(), n.Domain.Length == 0 ? _from : 1);
                int lo, hi;
                try
                {
                    (lo, hi) = n.OpType switch
                    {
                        "QLinearConv" => Ops.QConv.QuantizedClamp.Bounds(ctx, n.Activation, sy, zy, type),
                        "QLinearMatMul" => QuantConstants.ClampBounds(ctx, sy, zy, type),
                        _ => QContribMath.ClampBounds(ctx, sy, zy, type),
                    };
                }
                catch (QcException e)
                {
                    Problem(n, e.Diagnostic.Message);
                    return null;
                }
                return lo == QuantGranularity.QMin(type) && hi == QuantGranularity.QMax(type) ? ((int, int, DataType)?)null : (lo, hi, type);
            }

            private string PreActivation(Node n)
            {
                string y = n.Outputs[0];
                string pre = Fresh(y + "_before_" + n.Activation!.Op);
                _types[pre] = _types[y];
                var outs = n.Outputs.ToList();
                outs[0] = pre;
                _nodes.Add(new Node(n.Name, n.OpType, n.Domain, n.Inputs, outs, n.Attributes, null, n.SourceNodes));
                return pre;
            }

            private string ActivationName(Node n) =>
                Fresh(n.Activation!.SourceNode.Length > 0 ? n.Activation.SourceNode : n.Name + "_" + n.Activation.Op);

            private void AddWithClamp(Node n, (int Lo, int Hi, DataType Type)? clamp)
            {
                if (clamp is null) { _nodes.Add(new Node(n.Name, n.OpType, n.Domain, n.Inputs, n.Outputs, n.Attributes, null, n.SourceNodes)); return; }
                var (lo, hi, type) = clamp.Value;
                string pre = PreActivation(n);
                string min = Constant(n.Name + "_clamp_min", Tensor.FromLongs(type, Shape.Scalar, new long[] { lo }));
                string max = Constant(n.Name + "_clamp_max", Tensor.FromLongs(type, Shape.Scalar, new long[] { hi }));
                _nodes.Add(new Node(ActivationName(n), "Clip", "", new[] { pre, min, max }, new[] { n.Outputs[0] }));
            }

            private void AddWithActivation(Node n)
            {
                var a = n.Activation!;
                var type = _types[n.Outputs[0]].ElementType;
                string y = n.Outputs[0];
                var attrs = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal);
                switch (a.Op)
                {
                    case "Relu": case "Sigmoid": case "Tanh":
                        _nodes.Add(new Node(ActivationName(n), a.Op, "", new[] { PreActivation(n) }, new[] { y }));
                        return;
                    case "LeakyRelu":
                        attrs["alpha"] = AttributeValue.Float(a.Alpha);
                        _nodes.Add(new Node(ActivationName(n), a.Op, "", new[] { PreActivation(n) }, new[] { y }, attrs));
                        return;
                    case "HardSigmoid":
                        attrs["alpha"] = AttributeValue.Float(a.Alpha);
                        attrs["beta"] = AttributeValue.Float(a.Beta);
                        _nodes.Add(new Node(ActivationName(n), a.Op, "", new[] { PreActivation(n) }, new[] { y }, attrs));
                        return;
                    case "Clip":
                    {
                        string pre = PreActivation(n);
                        if (_opset >= 11)
                        {
                            string min = Constant(n.Name + "_clip_min", Tensor.FromDoubles(type, Shape.Scalar, new double[] { a.Alpha }));
                            string max = Constant(n.Name + "_clip_max", Tensor.FromDoubles(type, Shape.Scalar, new double[] { a.Beta }));
                            _nodes.Add(new Node(ActivationName(n), "Clip", "", new[] { pre, min, max }, new[] { y }));
                        }
                        else
                        {
                            attrs["min"] = AttributeValue.Float(a.Alpha);
                            attrs["max"] = AttributeValue.Float(a.Beta);
                            _nodes.Add(new Node(ActivationName(n), "Clip", "", new[] { pre }, new[] { y }, attrs));
                        }
                        return;
                    }
                    case "HardSwish":
                    {
                        string pre = PreActivation(n);
                        if (_opset >= 14)
                        {
                            _nodes.Add(new Node(ActivationName(n), "HardSwish", "", new[] { pre }, new[] { y }));
                            return;
                        }
                        // HardSwish(x) = x · HardSigmoid(x) with alpha 1/6, beta 0.5 (its ONNX definition).
                        string gate = Fresh(y + "_gate");
                        _types[gate] = _types[y];
                        attrs["alpha"] = AttributeValue.Float(1f / 6);
                        attrs["beta"] = AttributeValue.Float(0.5f);
                        string name = ActivationName(n);
                        _nodes.Add(new Node(Fresh(name + "_HardSigmoid"), "HardSigmoid", "", new[] { pre }, new[] { gate }, attrs));
                        _nodes.Add(new Node(name, "Mul", "", new[] { pre, gate }, new[] { y }));
                        return;
                    }
                    default:
                        Problem(n, $"the fused activation {a.Op} has no ONNX form here");
                        return;
                }
            }

            /// <summary>
            /// Our uint8 lookup activations (QLinearHardSwish, QLinearHardSigmoid, QLinearTanh) as what their table holds:
            /// QuantizeLinear(f(DequantizeLinear(x))). ONNX Runtime computes f in float32, the table in double; a value
            /// on a rounding tie can differ by one step.
            /// </summary>
            private void AddLookupActivation(Node n)
            {
                string Input(int i) => i < n.Inputs.Count ? n.Inputs[i] : "";
                var shape = _types[n.Inputs[0]].Shape;
                string x = Fresh(n.Outputs[0] + "_dequantized"), fx = Fresh(n.Outputs[0] + "_float");
                _types[x] = new TensorType(DataType.Float, shape);
                _types[fx] = new TensorType(DataType.Float, shape);
                _nodes.Add(new Node(Fresh(n.Name + "_DequantizeLinear"), "DequantizeLinear", "", WithoutTrailingOmitted(Input(0), Input(1), Input(2)), new[] { x }));
                string op = n.OpType.Substring("QLinear".Length);
                var attrs = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal);
                if (op == "HardSigmoid")
                {
                    attrs["alpha"] = n.Attributes.TryGetValue("alpha", out var al) ? al : AttributeValue.Float(0.2f);
                    attrs["beta"] = n.Attributes.TryGetValue("beta", out var be) ? be : AttributeValue.Float(0.5f);
                }
                if (op == "HardSwish" && _opset < 14)
                {
                    // HardSwish(x) = x · HardSigmoid(x) with alpha 1/6, beta 0.5 (its ONNX definition).
                    string gate = Fresh(fx + "_gate");
                    _types[gate] = _types[fx];
                    attrs["alpha"] = AttributeValue.Float(1f / 6);
                    attrs["beta"] = AttributeValue.Float(0.5f);
                    _nodes.Add(new Node(Fresh(n.Name + "_HardSigmoid"), "HardSigmoid", "", new[] { x }, new[] { gate }, attrs));
                    _nodes.Add(new Node(Fresh(n.Name + "_Mul"), "Mul", "", new[] { x, gate }, new[] { fx }));
                }
                else _nodes.Add(new Node(Fresh(n.Name + "_" + op), op, "", new[] { x }, new[] { fx }, attrs));
                _nodes.Add(new Node(n.Name, "QuantizeLinear", "", WithoutTrailingOmitted(fx, Input(3), Input(4)), n.Outputs));
            }

            /// <summary>
            /// Q.Compiler's float epilogue DynamicDequantize as the chain ONNX Runtime's dynamic quantization writes, in the
            /// kernel's order of float32 operations: s = Mul(x_scale, w_scale); y = Add(Mul(Cast(acc), s), bias); then the
            /// fused activation. Per-channel w_scale and bias are reshaped to broadcast along the channel axis.
            /// </summary>
            private void AddDynamicDequantize(Node n)
            {
                string Input(int i) => i < n.Inputs.Count ? n.Inputs[i] : "";
                var accType = _types[n.Inputs[0]];
                int rank = accType.Shape.Rank;
                long axisAttr = n.Attributes.TryGetValue("axis", out var a) ? a.I : -1;
                int axis = (int)(axisAttr < 0 ? axisAttr + rank : axisAttr);
                int channels = accType.Shape[axis];
                var floatType = new TensorType(DataType.Float, accType.Shape);
                // A per-channel operand [C] as [C, 1, …, 1] (ranks after the axis), so that it broadcasts along the channel axis.
                string Broadcast(string v, string what)
                {
                    var t = ConstantOf(v);
                    if (t is null)
                    {
                        Problem(n, $"its {what} is not a constant");
                        return v;
                    }
                    if (t.Shape.ElementCount == 1 || rank - axis - 1 == 0) return v;
                    var dims = new[] { channels }.Concat(Enumerable.Repeat(1, rank - axis - 1)).ToArray();
                    return Constant(v + "_broadcast", Tensor.FromFloats(new Shape(dims), t.ToFloats()));
                }
                string ws = Broadcast(Input(2), "w_scale");
                string scale = Fresh(n.Name + "_scale");
                _types[scale] = new TensorType(DataType.Float, _types.TryGetValue(ws, out var wt) ? wt.Shape : Shape.Scalar);
                _nodes.Add(new Node(Fresh(n.Name + "_Mul_scale"), "Mul", "", new[] { Input(1), ws }, new[] { scale }));
                string accf = Fresh(n.Inputs[0] + "_float");
                _types[accf] = floatType;
                var cast = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal) { ["to"] = AttributeValue.Int((long)DataType.Float) };
                _nodes.Add(new Node(Fresh(n.Name + "_Cast"), "Cast", "", new[] { n.Inputs[0] }, new[] { accf }, cast));
                string y = n.Outputs[0];
                bool bias = Input(3).Length > 0;
                string product = bias ? Fresh(y + "_unbiased") : y;
                _types[product] = floatType;
                var last = new Node(n.Name, "Mul", "", new[] { accf, scale }, new[] { product }, null, bias ? null : n.Activation, n.SourceNodes);
                if (bias) last = new Node(n.Name, "Add", "", new[] { product, Broadcast(Input(3), "bias") }, new[] { y }, null, n.Activation, n.SourceNodes);
                if (bias) _nodes.Add(new Node(Fresh(n.Name + "_Mul"), "Mul", "", new[] { accf, scale }, new[] { product }));
                if (last.Activation is null) _nodes.Add(last);
                else AddWithActivation(last);
            }

            private static List<string> WithoutTrailingOmitted(params string[] inputs)
            {
                var list = inputs.ToList();
                while (list.Count > 0 && list[list.Count - 1].Length == 0) list.RemoveAt(list.Count - 1);
                return list;
            }

            /// <summary>The float16 boundary conversions of a float16 model (Float16ToFloat32Pass) as ONNX Cast.</summary>
            private void AddHalfConvert(Node n)
            {
                var to = n.OpType == Ops.Float16.HalfConvertOp.HalfToFloat ? DataType.Float : DataType.Float16;
                var attrs = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal) { ["to"] = AttributeValue.Int((long)to) };
                _nodes.Add(new Node(n.Name, "Cast", "", n.Inputs, n.Outputs, attrs, null, n.SourceNodes));
            }

            // ---------------------------------------------------------------- protobuf

            /// <summary>
            /// The graph outputs; an output that is a graph input, a constant or repeats another output is given an Identity
            /// node of its own (an ONNX graph output is produced by a node).
            /// </summary>
            private List<ValueInfo> Outputs()
            {
                var produced = new HashSet<string>(_nodes.SelectMany(n => n.Outputs), StringComparer.Ordinal);
                var used = new HashSet<string>(StringComparer.Ordinal);
                var outs = new List<ValueInfo>();
                foreach (var o in _g.Outputs)
                {
                    if (produced.Contains(o.Name) && used.Add(o.Name)) { outs.Add(o); continue; }
                    // A graph input or a constant listed as an output, or an output listed twice: an Identity writes a renamed copy.
                    string source = o.Name, name = Fresh(o.Name + "_output");
                    _types[name] = o.Type;
                    _nodes.Add(new Node(Fresh("Identity_" + name), "Identity", "", new[] { source }, new[] { name }));
                    used.Add(name);
                    outs.Add(new ValueInfo(name, o.Type));
                }
                return outs;
            }

            private ModelProto Model(List<ValueInfo> outputs)
            {
                var graph = new GraphProto { Name = GraphName() };
                var inputNames = new HashSet<string>(_g.Inputs.Select(i => i.Name), StringComparer.Ordinal);
                foreach (var i in _g.Inputs) graph.Input.Add(ValueInfoOf(i.Name, i.Type));
                foreach (var o in outputs) graph.Output.Add(ValueInfoOf(o.Name, o.Type));

                // Only constants some node reads become initializers (the importer keeps folded values that are no longer read).
                var read = new HashSet<string>(_nodes.SelectMany(n => n.Inputs).Where(v => v.Length > 0), StringComparer.Ordinal);
                foreach (var kv in _constants.Where(kv => read.Contains(kv.Key) && !inputNames.Contains(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    graph.Initializer.Add(TensorOf(kv.Key, kv.Value));

                var declared = new HashSet<string>(inputNames.Concat(outputs.Select(o => o.Name)).Concat(_constants.Keys), StringComparer.Ordinal);
                var unique = new HashSet<string>(StringComparer.Ordinal);
                foreach (var n in _nodes)
                {
                    var p = new NodeProto { Name = unique.Add(n.Name) ? n.Name : Fresh(n.Name), OpType = n.OpType, Domain = n.Domain };
                    p.Input.AddRange(n.Inputs);
                    p.Output.AddRange(n.Outputs);
                    foreach (var a in n.Attributes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) p.Attribute.Add(AttributeOf(a.Key, a.Value));
                    if (n.SourceNodes.Count > 1 || (n.SourceNodes.Count == 1 && n.SourceNodes[0] != n.Name))
                        p.DocString = "from " + string.Join(", ", n.SourceNodes);
                    graph.Node.Add(p);
                    foreach (var o in n.Outputs)
                        if (o.Length > 0 && !declared.Contains(o) && _types.TryGetValue(o, out var t) && declared.Add(o))
                            graph.ValueInfo.Add(ValueInfoOf(o, t));
                }

                var model = new ModelProto
                {
                    IrVersion = Math.Max(_g.Info.IrVersion, IrVersionFor(_opset)),
                    ProducerName = ProducerName,
                    ProducerVersion = typeof(OnnxWriter).Assembly.GetName().Version?.ToString() ?? "",
                    Graph = graph,
                    DocString = "Compiled by Q.Compiler from " + _g.Info.Path + (_g.Info.Producer.Length > 0 ? " (" + _g.Info.Producer + ")" : ""),
                };
                model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = _opset });
                if (_usesMicrosoft) model.OpsetImport.Add(new OperatorSetIdProto { Domain = QContribMath.Domain, Version = 1 });
                return model;
            }

            private string GraphName()
            {
                string file = Path.GetFileNameWithoutExtension(_g.Info.Path);
                return file.Length > 0 ? file : "graph";
            }

            /// <summary>The IR version that introduced an opset (ONNX's Versioning.md table).</summary>
            private static long IrVersionFor(long opset) =>
                opset <= 8 ? 3 : opset <= 9 ? 4 : opset <= 10 ? 5 : opset <= 11 ? 6 : opset <= 13 ? 7 : opset <= 17 ? 8 : opset <= 20 ? 9 : opset <= 22 ? 10 : 11;

            private static ValueInfoProto ValueInfoOf(string name, TensorType t)
            {
                var shape = new TensorShapeProto();
                foreach (int d in t.Shape.Dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
                return new ValueInfoProto
                {
                    Name = name,
                    Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)t.ElementType, Shape = shape } },
                };
            }

            internal static TensorProto TensorOf(string name, Tensor t)
            {
                var p = new TensorProto { Name = name, DataType = (int)t.ElementType };
                foreach (int d in t.Shape.Dims) p.Dims.Add(d);
                if (t.ElementType == DataType.String) p.StringData.AddRange(t.As<string>().Select(ByteString.CopyFromUtf8));
                else p.RawData = ByteString.CopyFrom(t.ToBytes());
                return p;
            }

            private static AttributeProto AttributeOf(string name, AttributeValue a)
            {
                var p = new AttributeProto { Name = name };
                switch (a.Kind)
                {
                    case AttributeKind.Float: p.Type = AttributeProto.Types.AttributeType.Float; p.F = a.F; break;
                    case AttributeKind.Int: p.Type = AttributeProto.Types.AttributeType.Int; p.I = a.I; break;
                    case AttributeKind.String: p.Type = AttributeProto.Types.AttributeType.String; p.S = ByteString.CopyFromUtf8(a.S); break;
                    case AttributeKind.Tensor: p.Type = AttributeProto.Types.AttributeType.Tensor; p.T = TensorOf("", a.T!); break;
                    case AttributeKind.Floats: p.Type = AttributeProto.Types.AttributeType.Floats; p.Floats.AddRange(a.Floats); break;
                    case AttributeKind.Ints: p.Type = AttributeProto.Types.AttributeType.Ints; p.Ints.AddRange(a.Ints); break;
                    case AttributeKind.Strings: p.Type = AttributeProto.Types.AttributeType.Strings; p.Strings.AddRange(a.Strings.Select(ByteString.CopyFromUtf8)); break;
                    default: throw new QcException(DiagnosticIds.OnnxExportUnsupported, $"attribute '{name}' is a subgraph, which the compiled graph does not keep");
                }
                return p;
            }
        }
    }

    /// <summary>How <see cref="OnnxWriter"/> writes a graph.</summary>
    public sealed class OnnxExportOptions
    {
        /// <summary>
        /// Write the int8 weights of QLinearConv / QLinearMatMul as uint8 (w + 128, zero point + 128; the same integer
        /// products). ONNX Runtime then runs its U8U8 kernels, which are exact on every CPU; with int8 weights it runs
        /// U8S8 kernels, which on x86 with AVX2 but without VNNI add pairs of u8·s8 products in saturating 16-bit lanes
        /// (vpmaddubsw) and so can differ from the exact result. Default false: the graph exactly as compiled.
        /// </summary>
        public bool UInt8Weights { get; set; }
    }
}
