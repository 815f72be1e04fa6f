using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Ops.Float16;
using Q.Compiler.Ops.QDynamic;
using Q.Compiler.Passes;

namespace Q.Compiler.Quantization
{
    /// <summary>Options of <see cref="DynamicQuantizer"/> (the QModel metadata that concern Quantize="Dynamic").</summary>
    public sealed class DynamicQuantizerOptions
    {
        /// <summary>ONNX node names that stay float32 (matched against every fused node's source nodes).</summary>
        public IReadOnlyList<string> KeepFloat { get; set; } = Array.Empty<string>();
        /// <summary>
        /// A layer is quantized only if its multiply-accumulates are at least this many times the elements it quantizes on
        /// entry (DynamicQuantizeLinear: two passes) and converts back on exit (the float epilogue: one pass). The same
        /// rule and default as the static quantizer's segments (<see cref="QuantizerOptions.MinMacsPerBoundaryElement"/>).
        /// </summary>
        public double MinMacsPerBoundaryElement { get; set; } = 8;
        /// <summary>
        /// A Conv is quantized only if each output element sums at least this many products (K = C/group · kh · kw, the
        /// length of the patch the int8 kernel copies per output pixel). Below it the patch copy and the int32 round trip
        /// cost more than the int8 products save: measured with <c>--profile</c>, mnist-8's first Conv (K = 25) takes
        /// 40 µs as ConvInteger against 8 µs in float, kws-m's (K = 64) 122 µs against 92 µs, while kws-m's K = 192 and
        /// K = 576 Convs are faster in int8 (see docs/quantization.md, "Dynamic").
        /// </summary>
        public int MinConvPatchLength { get; set; } = 128;
    }

    /// <summary>The result of <see cref="DynamicQuantizer.Quantize"/>.</summary>
    public sealed class DynamicQuantizedGraph
    {
        internal DynamicQuantizedGraph(Graph graph, QuantizationReport report, int quantizedLayers)
        {
            Graph = graph; Report = report; QuantizedLayers = quantizedLayers;
        }

        /// <summary>The rewritten graph (the input graph itself when no layer was quantized).</summary>
        public Graph Graph { get; }
        /// <summary>Per layer scheme and weight scales; weight and scratch bytes are filled in by the caller after lowering.</summary>
        public QuantizationReport Report { get; }
        /// <summary>How many layers run in int8.</summary>
        public int QuantizedLayers { get; }
    }

    /// <summary>
    /// Quantize="Dynamic", as ONNX Runtime's dynamic quantization does it: weights int8 at build time, activation ranges
    /// computed on every run, no calibration data. Each Conv (2-D), Gemm and MatMul with constant float32 weights becomes
    /// <code>
    /// x ─ DynamicQuantizeLinear ─ x_q (u8), x_scale, x_zp
    ///     MatMulInteger(x_q, W_q, x_zp) or ConvInteger(x_q, W_q, x_zp) ─ acc (int32)
    ///     DynamicDequantize(acc, x_scale, w_scale, bias) + fused activation ─ y (float32)
    /// </code>
    /// W_q is int8, symmetric, per output channel (Conv: per output channel; Gemm/MatMul: per column), from
    /// <see cref="WeightQuantizer.PerChannel"/>; Gemm's alpha is folded into W_q's scales and beta into the bias, and its
    /// B is stored K×N (transposed when transB). DynamicDequantize is Q.Compiler's one-pass float epilogue
    /// (<see cref="DynamicDequantizeOp"/>) in place of ORT's Cast → Mul → Mul → Add. Layers that read the same float value
    /// share one DynamicQuantizeLinear. A layer stays float32 when KeepFloat names it, when its multiply-accumulates do
    /// not pay for quantizing its input and dequantizing its output (<see cref="DynamicQuantizerOptions.MinMacsPerBoundaryElement"/>),
    /// when it is a Conv with short patches (<see cref="DynamicQuantizerOptions.MinConvPatchLength"/>: depthwise and
    /// single-channel-input convolutions),
    /// or when its form has no integer kernel (weights computed at run time, a Gemm with transA or a full-matrix C,
    /// K above the int8 GEMM's limit). A pure function of its inputs.
    /// </summary>
    public static class DynamicQuantizer
    {
        private static readonly HashSet<string> s_candidates = new HashSet<string>(StringComparer.Ordinal) { "Conv", "Gemm", "MatMul" };

        /// <summary>Rewrites <paramref name="graph"/> (an optimized float32 graph) for dynamic int8.</summary>
        public static DynamicQuantizedGraph Quantize(Graph graph, DynamicQuantizerOptions options, DiagnosticBag diagnostics) =>
            new Run(graph, options).Quantize(diagnostics);

        /// <summary>One Conv/Gemm/MatMul that may be quantized: its weights as [channels, inner] int8 with scales and its float bias.</summary>
        private sealed class Candidate
        {
            public Candidate(Node node) { Node = node; }
            public Node Node { get; }
            public string? Reason;
            public long Macs, BoundaryElements;
            public QuantizedWeights? Weights;
            public Shape WeightShape = Shape.Scalar;
            public float[]? Bias;
        }

        private sealed class Run
        {
            private readonly Graph _g;
            private readonly DynamicQuantizerOptions _o;
            private readonly Dictionary<string, Tensor> _constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            private readonly Dictionary<string, TensorType> _types = new Dictionary<string, TensorType>(StringComparer.Ordinal);
            private readonly HashSet<string> _names = new HashSet<string>(StringComparer.Ordinal);
            /// <summary>Float value → its DynamicQuantizeLinear outputs (x_q, x_scale, x_zp), created once.</summary>
            private readonly Dictionary<string, (string Q, string Scale, string Zero)> _quantized = new Dictionary<string, (string, string, string)>(StringComparer.Ordinal);
            private readonly List<Node> _nodes = new List<Node>();

            public Run(Graph g, DynamicQuantizerOptions o)
            {
                _g = g; _o = o;
                foreach (var kv in g.Constants) _constants[kv.Key] = kv.Value;
                foreach (var kv in g.Types) _types[kv.Key] = kv.Value;
                _names.UnionWith(g.Types.Keys);
                _names.UnionWith(g.Constants.Keys);
                _names.UnionWith(g.Nodes.Select(n => n.Name));
                _names.UnionWith(g.Inputs.Select(i => i.Name));
            }

            private Shape ShapeOf(string v) => _g.TypeOf(v).Shape;
            private bool IsFloat(string v) => v.Length > 0 && _g.TypeOf(v).ElementType == DataType.Float;
            private static float Flt(Node n, string name, float dflt) => n.Attributes.TryGetValue(name, out var a) ? a.F : dflt;

            public DynamicQuantizedGraph Quantize(DiagnosticBag bag)
            {
                var keep = new HashSet<string>(_o.KeepFloat.Where(s => s.Length > 0), StringComparer.Ordinal);
                var matched = new HashSet<string>(StringComparer.Ordinal);
                var report = new QuantizationReport { Mode = "Dynamic" };
                int quantized = 0;
                foreach (var n in _g.Nodes)
                {
                    if (n.Domain.Length != 0 || !s_candidates.Contains(n.OpType)) { _nodes.Add(n); continue; }
                    var c = Prepare(n);
                    var named = n.SourceNodes.Concat(new[] { n.Name }).Where(keep.Contains).ToList();
                    matched.UnionWith(named);
                    if (c.Reason is null && named.Count > 0)
                    {
                        c.Reason = "KeepFloat";
                        bag.Info(DiagnosticIds.LayerKeptFloatByUser, string.Format(CultureInfo.InvariantCulture,
                            "{0} stays float32: KeepFloat names '{1}'", n.Describe(), named[0]), n.Name);
                    }
                    if (c.Reason is null && c.Macs < _o.MinMacsPerBoundaryElement * c.BoundaryElements)
                        c.Reason = string.Format(CultureInfo.InvariantCulture,
                            "too small: {0:N0} multiply-accumulates for {1:N0} elements quantized on entry and dequantized on exit (below {2}×)",
                            c.Macs, c.BoundaryElements, _o.MinMacsPerBoundaryElement);
                    var layer = new LayerQuantization { Name = n.Name, OpType = n.OpType + (n.Activation is null ? "" : " + " + n.Activation.Op) };
                    if (c.Reason is null)
                    {
                        Rewrite(c);
                        quantized++;
                        layer.Quantized = true;
                        layer.Scheme = (n.OpType == "Conv" ? "ConvInteger" : "MatMulInteger") + ": dynamic u8 × s8 per-channel → f32";
                        layer.WeightScaleMin = c.Weights!.Scales.Min();
                        layer.WeightScaleMax = c.Weights.Scales.Max();
                    }
                    else
                    {
                        _nodes.Add(n);
                        layer.Scheme = "float32";
                        layer.KeptFloatReason = c.Reason;
                    }
                    report.Layers.Add(layer);
                }
                foreach (var name in keep.Where(k => !matched.Contains(k)).OrderBy(k => k, StringComparer.Ordinal))
                    bag.Warning(DiagnosticIds.KeepFloatUnknownNode, string.Format(CultureInfo.InvariantCulture,
                        "KeepFloat names '{0}', but the model has no Conv, Gemm or MatMul node of that name", name));
                report.Notes.Add("activation ranges are computed on every run (DynamicQuantizeLinear, per tensor, uint8); there is no calibration set, so no SQNR is measured");
                if (quantized == 0)
                {
                    bag.Info(DiagnosticIds.DynamicNothingToQuantize, report.Layers.Count == 0
                        ? "Quantize=\"Dynamic\": the model has no Conv, Gemm or MatMul layer; it is built as float32"
                        : string.Format(CultureInfo.InvariantCulture,
                            "Quantize=\"Dynamic\": none of the {0} Conv, Gemm or MatMul layers is quantized ({1}); the model is built as float32",
                            report.Layers.Count, report.Layers[0].Name + ": " + report.Layers[0].KeptFloatReason));
                    return new DynamicQuantizedGraph(_g, report, 0);
                }
                return new DynamicQuantizedGraph(Build(), report, quantized);
            }

            private Graph Build()
            {
                // The model's opsets stay as they are: the float ops left in the graph read their attributes by them (Clip
                // before opset 11 takes min/max as attributes), and the integer ops have one version each.
                var info = _g.Info;
                var g = DeadCodePass.Run(new Graph(info, _g.Inputs, _g.Outputs, _nodes, _constants, _types));
                var used = new HashSet<string>(g.Nodes.SelectMany(n => n.Inputs.Concat(n.Outputs)).Concat(g.Inputs.Select(i => i.Name)).Concat(g.Outputs.Select(o => o.Name)), StringComparer.Ordinal);
                var types = new Dictionary<string, TensorType>(StringComparer.Ordinal);
                foreach (var kv in _types) if (used.Contains(kv.Key)) types[kv.Key] = kv.Value;
                return new Graph(info, g.Inputs, g.Outputs, g.Nodes, g.Constants, types);
            }

            // ---------------------------------------------------------------- classification and weights

            private Candidate Prepare(Node n)
            {
                var c = new Candidate(n);
                c.Reason = Unsupported(n);
                if (c.Reason is not null) return c;
                var x = ShapeOf(n.Inputs[0]);
                var wt = _g.Constants[n.Inputs[1]];
                var w = wt.ToFloats();
                float[]? bias = n.HasInput(2) ? _g.Constants[n.Inputs[2]].ToFloats() : null;
                long outElems = ShapeOf(n.Outputs[0]).ElementCount;
                int channels, k;
                switch (n.OpType)
                {
                    case "Conv":
                        channels = wt.Shape[0];
                        k = w.Length / channels;
                        c.Weights = WeightQuantizer.PerChannel(w, channels, k);
                        c.WeightShape = wt.Shape;
                        break;
                    case "Gemm":
                    {
                        bool transB = WeightLayers.Int(n, "transB", 0) != 0;
                        k = transB ? wt.Shape[1] : wt.Shape[0];
                        channels = transB ? wt.Shape[0] : wt.Shape[1];
                        float alpha = Flt(n, "alpha", 1), beta = Flt(n, "beta", 1);
                        var t = new float[w.Length]; // [K, N]
                        for (int i = 0; i < k; i++)
                            for (int o = 0; o < channels; o++)
                                t[i * channels + o] = alpha * (transB ? w[o * k + i] : w[i * channels + o]);
                        c.Weights = WeightQuantizer.PerChannel(t, channels, 1);
                        c.WeightShape = new Shape(k, channels);
                        if (bias is not null) bias = Enumerable.Range(0, channels).Select(o => beta * bias[bias.Length == 1 ? 0 : o]).ToArray();
                        break;
                    }
                    default: // MatMul: B [K, N], the channel is the column
                        k = wt.Shape[0];
                        channels = wt.Shape[1];
                        c.Weights = WeightQuantizer.PerChannel(w, channels, 1);
                        c.WeightShape = wt.Shape;
                        break;
                }
                if (n.OpType == "Conv" && k < _o.MinConvPatchLength)
                {
                    c.Reason = string.Format(CultureInfo.InvariantCulture,
                        "patch too short: {0} products per output element (C/group·kh·kw) is below {1}, where ConvInteger is slower than float", k, _o.MinConvPatchLength);
                    return c;
                }
                if (k > PackedQGemmWeights.MaxK)
                {
                    c.Reason = string.Format(CultureInfo.InvariantCulture, "K = {0} is above the int8 GEMM's limit {1}", k, PackedQGemmWeights.MaxK);
                    return c;
                }
                c.Bias = bias;
                c.Macs = outElems * k;
                c.BoundaryElements = x.ElementCount + outElems;
                return c;
            }

            private string? Unsupported(Node n)
            {
                if (n.Outputs.Count == 0 || !IsFloat(n.Outputs[0]) || n.Outputs.Skip(1).Any(o => o.Length > 0)) return "its output is not float32";
                if (!IsFloat(n.Inputs[0]) || _g.IsConstant(n.Inputs[0])) return "its input is not a float32 value computed at run time";
                if (n.Inputs.Count < 2 || !_g.IsConstant(n.Inputs[1])) return "its weights are computed at run time";
                var w = _g.Constants[n.Inputs[1]];
                if (w.ElementType != DataType.Float) return "its weights are not float32";
                if (w.ToFloats().Any(v => float.IsNaN(v) || float.IsInfinity(v))) return "its weights contain NaN or infinity";
                bool hasBias = n.HasInput(2);
                if (hasBias && (!_g.IsConstant(n.Inputs[2]) || _g.Constants[n.Inputs[2]].ElementType != DataType.Float)) return "its bias is computed at run time";
                var x = ShapeOf(n.Inputs[0]);
                return WeightLayers.ShapeProblem(_g, n, x, w.Shape, hasBias, "integer");
            }

            // ---------------------------------------------------------------- rewrite

            private string Fresh(string name)
            {
                string n = name;
                for (int i = 1; _names.Contains(n); i++) n = name + "_" + i.ToString(CultureInfo.InvariantCulture);
                _names.Add(n);
                return n;
            }

            private string AddConstant(string hint, Tensor t)
            {
                string name = Fresh(hint);
                _constants[name] = t;
                _types[name] = t.Type;
                return name;
            }

            private string AddValue(string hint, TensorType t)
            {
                string name = Fresh(hint);
                _types[name] = t;
                return name;
            }

            /// <summary>The DynamicQuantizeLinear outputs of float value <paramref name="x"/>, created before their first reader.</summary>
            private (string Q, string Scale, string Zero) Quantized(string x)
            {
                if (_quantized.TryGetValue(x, out var r)) return r;
                var shape = ShapeOf(x);
                r = (AddValue(x + "_dynamic_quantized", new TensorType(DataType.UInt8, shape)),
                     AddValue(x + "_dynamic_scale", new TensorType(DataType.Float, Shape.Scalar)),
                     AddValue(x + "_dynamic_zero_point", new TensorType(DataType.UInt8, Shape.Scalar)));
                _nodes.Add(new Node(Fresh(x + "_DynamicQuantizeLinear"), "DynamicQuantizeLinear", "", new[] { x }, new[] { r.Q, r.Scale, r.Zero }));
                _quantized[x] = r;
                return r;
            }

            private void Rewrite(Candidate c)
            {
                var n = c.Node;
                var qw = c.Weights!;
                var (xq, xs, xz) = Quantized(n.Inputs[0]);
                string w = AddConstant(n.Inputs[1] + "_quantized", new Tensor(DataType.Int8, c.WeightShape, qw.Values.ToArray()));
                string ws = AddConstant(n.Inputs[1] + "_scale", Tensor.FromFloats(new Shape(qw.Channels), qw.Scales.ToArray()));
                var y = n.Outputs[0];
                var yShape = ShapeOf(y);
                string acc = AddValue(y + "_accumulators", new TensorType(DataType.Int32, yShape));
                bool conv = n.OpType == "Conv";
                _nodes.Add(conv
                    ? new Node(n.Name, "ConvInteger", "", new[] { xq, w, xz }, new[] { acc }, n.Attributes, null, n.SourceNodes)
                    : new Node(n.Name, "MatMulInteger", "", new[] { xq, w, xz }, new[] { acc }, null, null, n.SourceNodes));
                var inputs = new List<string> { acc, xs, ws };
                if (c.Bias is not null)
                    inputs.Add(AddConstant((n.HasInput(2) ? n.Inputs[2] : n.Name + "_bias") + "_float", Tensor.FromFloats(new Shape(qw.Channels), c.Bias.ToArray())));
                var attrs = new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { ["axis"] = AttributeValue.Int(conv ? 1 : yShape.Rank - 1) };
                _nodes.Add(new Node(Fresh(n.Name + "_dequantize"), DynamicDequantizeOp.OpType, HalfConvertOp.InternalDomain, inputs, new[] { y },
                    attrs, n.Activation, n.SourceNodes));
            }
        }
    }
}
