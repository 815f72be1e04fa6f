using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.QConv
{
    /// <summary>
    /// The fusion of a QuantizeLinear into the QLinearConv that reads it (typically the image input of a quantized model and
    /// its first convolution): Q.Compiler.Kernels.QConvNchw.GemmFloatInput quantizes the float input while it builds the
    /// convolution's padded image, so the uint8 tensor is never written and read back. A lowering-level decision only: the
    /// graph (and so Evaluate, constant folding and the ONNX export) keeps both nodes; the QuantizeLinear lowers to nothing
    /// and the convolution's layer does both, with the QuantizeLinear kernel's own rounding (bit-identical bytes).
    /// </summary>
    internal static class QConvFloatInput
    {
        /// <summary>The per-tensor scale and zero point of a fusable QuantizeLinear.</summary>
        internal readonly struct Quantization
        {
            public Quantization(float scale, int zeroPoint) { Scale = scale; ZeroPoint = zeroPoint; }

            public float Scale { get; }
            public int ZeroPoint { get; }
        }

        /// <summary>
        /// The quantization parameters when <paramref name="quantize"/> is fused into its consumer, else null: a QuantizeLinear
        /// of float32 data to uint8 with a constant float32 scalar scale and a constant (or absent) scalar zero point, whose
        /// output is not a graph output and is read by exactly one node, a QLinearConv taking it as x and lowering to
        /// QConvNchw through a padded image (<see cref="QConvLowering.PadsForNchw"/>). Both lowerings ask this, so they agree.
        /// </summary>
        internal static Quantization? Resolve(LowerContext ctx, Node quantize)
        {
            if (quantize.OpType != "QuantizeLinear" || quantize.Domain.Length != 0 || quantize.Outputs.Count != 1 || quantize.Inputs.Count < 2) return null;
            var q = ctx.ContextOf(quantize);
            string y = quantize.Outputs[0];
            if (q.Input(0).ElementType != DataType.Float || q.Input(0).Shape.ElementCount == 0 || ctx.IsGraphOutput(y)) return null;
            if (q.Constant(1) is not { } scale || scale.ElementType != DataType.Float || scale.Length != 1) return null;
            int zeroPoint = 0;
            if (q.HasInput(2))
            {
                if (q.Constant(2) is not { } zp || zp.ElementType != DataType.UInt8 || zp.Length != 1) return null;
                zeroPoint = (int)zp.ToLongs()[0];
            }
            var consumers = ctx.ConsumersOf(y);
            if (consumers.Count != 1) return null;
            var conv = consumers[0];
            if (conv.OpType != "QLinearConv" || conv.Inputs.Count(i => i == y) != 1 || conv.Inputs[QLinearConvOp.Slots.X] != y) return null;
            if (!QConvLowering.PadsForNchw(ctx.ContextOf(conv))) return null;
            return new Quantization(scale.ToFloats()[0], zeroPoint);
        }
    }
}
