using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes.Quantized
{
    /// <summary>
    /// Where a quantized op keeps each quantized tensor's scale and zero point: for an input, the slot of the tensor,
    /// of its scale and of its zero point; for an output, the output index and the input slots of its scale and zero point.
    /// </summary>
    internal sealed class QuantizedSlot
    {
        public QuantizedSlot(int tensor, int scale, int zeroPoint, bool isOutput, bool isWeight)
        {
            Tensor = tensor; Scale = scale; ZeroPoint = zeroPoint; IsOutput = isOutput; IsWeight = isWeight;
        }

        /// <summary>Input slot of the tensor, or output index when <see cref="IsOutput"/>.</summary>
        public int Tensor { get; }
        /// <summary>Input slot of the scale (-1 when the op has none for this tensor).</summary>
        public int Scale { get; }
        /// <summary>Input slot of the zero point (-1 when the op has none).</summary>
        public int ZeroPoint { get; }
        public bool IsOutput { get; }
        /// <summary>
        /// The operand of a mixed-type op that keeps its own element type (QLinearConv's and QLinearMatMul's B,
        /// ConvInteger's and MatMulInteger's weights): it is not turned into uint8 when it is constant.
        /// </summary>
        public bool IsWeight { get; }
    }

    /// <summary>
    /// The quantized ops of the internal IR (standard ONNX and com.microsoft QOperator ops) and the type-generic ops
    /// that run unchanged on quantized tensors, with the slots of their quantized tensors.
    /// </summary>
    internal static class QuantizedSlots
    {
        public const string Microsoft = "com.microsoft";

        private static QuantizedSlot In(int t, int s, int z, bool weight = false) => new QuantizedSlot(t, s, z, false, weight);
        private static QuantizedSlot Out(int o, int s, int z) => new QuantizedSlot(o, s, z, true, false);

        private static readonly Dictionary<(string, string), QuantizedSlot[]> s_fixed = new Dictionary<(string, string), QuantizedSlot[]>
        {
            [("", "QuantizeLinear")] = new[] { Out(0, 1, 2) },
            [("", "DequantizeLinear")] = new[] { In(0, 1, 2) },
            [("", "QLinearConv")] = new[] { In(0, 1, 2), In(3, 4, 5, weight: true), Out(0, 6, 7) },
            [("", "QLinearMatMul")] = new[] { In(0, 1, 2), In(3, 4, 5, weight: true), Out(0, 6, 7) },
            [("", "ConvInteger")] = new[] { In(0, -1, 2), In(1, -1, 3, weight: true) },
            [("", "MatMulInteger")] = new[] { In(0, -1, 2), In(1, -1, 3, weight: true) },
            [(Microsoft, "QLinearAdd")] = new[] { In(0, 1, 2), In(3, 4, 5), Out(0, 6, 7) },
            [(Microsoft, "QLinearMul")] = new[] { In(0, 1, 2), In(3, 4, 5), Out(0, 6, 7) },
            [(Microsoft, "QLinearAveragePool")] = new[] { In(0, 1, 2), Out(0, 3, 4) },
            [(Microsoft, "QLinearGlobalAveragePool")] = new[] { In(0, 1, 2), Out(0, 3, 4) },
            [(Microsoft, "QLinearSoftmax")] = new[] { In(0, 1, 2), Out(0, 3, 4) },
            [(Microsoft, "QLinearLeakyRelu")] = new[] { In(0, 1, 2), Out(0, 3, 4) },
            [(Microsoft, "QLinearSigmoid")] = new[] { In(0, 1, 2), Out(0, 3, 4) },
        };

        /// <summary>
        /// Ops that move or select elements without arithmetic, so they give the same result on q and on q + 128
        /// (shifted by 128): the data inputs listed, every output. Pad's constant value (input 2) is data too.
        /// </summary>
        private static readonly Dictionary<string, int[]?> s_generic = new Dictionary<string, int[]?>
        {
            ["MaxPool"] = new[] { 0 }, ["Reshape"] = new[] { 0 }, ["Flatten"] = new[] { 0 }, ["Squeeze"] = new[] { 0 },
            ["Unsqueeze"] = new[] { 0 }, ["Transpose"] = new[] { 0 }, ["Identity"] = new[] { 0 }, ["Slice"] = new[] { 0 },
            ["Split"] = new[] { 0 }, ["Gather"] = new[] { 0 }, ["Expand"] = new[] { 0 }, ["Tile"] = new[] { 0 },
            ["DepthToSpace"] = new[] { 0 }, ["SpaceToDepth"] = new[] { 0 }, ["Pad"] = new[] { 0, 2 },
            ["Concat"] = null, // every input
        };

        /// <summary>The op types that make a graph "quantized" (it then goes through the quantized passes).</summary>
        public static bool IsQuantizedOp(Node n) =>
            s_fixed.ContainsKey((n.Domain, n.OpType)) || n.Domain == Microsoft && n.OpType == "QLinearConcat"
            || n.Domain.Length == 0 && n.OpType == "DynamicQuantizeLinear";

        /// <summary>The quantized tensors of a quantized op, or null for any other op.</summary>
        public static IReadOnlyList<QuantizedSlot>? Of(Node n)
        {
            if (s_fixed.TryGetValue((n.Domain, n.OpType), out var slots)) return slots;
            if (n.Domain == Microsoft && n.OpType == "QLinearConcat")
            {
                // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input.
                var l = new List<QuantizedSlot> { Out(0, 0, 1) };
                for (int i = 2; i + 2 < n.Inputs.Count; i += 3) l.Add(In(i, i + 1, i + 2));
                return l;
            }
            return null;
        }

        /// <summary>The data inputs of a type-generic op (null when <paramref name="n"/> is not one).</summary>
        public static IReadOnlyList<int>? GenericDataInputs(Node n)
        {
            if (n.Domain.Length != 0 || !s_generic.TryGetValue(n.OpType, out var slots)) return null;
            return slots ?? Enumerable.Range(0, n.Inputs.Count).ToArray();
        }
    }
}
