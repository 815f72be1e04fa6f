using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Activation;
using Q.Compiler.Ops.Float16;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QDynamic
{
    /// <summary>
    /// The float epilogue of a dynamically quantized layer (Quantize="Dynamic"), in Q.Compiler's own domain: the int32
    /// accumulators of MatMulInteger or ConvInteger back to float32 in one pass, with the bias and the fused activation.
    /// <code>
    /// y[…, c, …] = act((float)acc[…, c, …] · (x_scale · w_scale[c]) + bias[c])
    /// </code>
    /// Inputs: acc (int32), x_scale (float32 scalar, DynamicQuantizeLinear's, computed at run time), w_scale (float32
    /// constant, one per channel), bias (float32 constant, one per channel; optional). Attribute <c>axis</c>: the channel
    /// axis of acc (the last for MatMul, 1 for NCHW Conv). The arithmetic is float32 with one rounding per operation, in
    /// this order and without fused multiply-add: s = x_scale · w_scale[c]; p = (float)acc · s; y = p + bias[c] (0 when
    /// absent); so Evaluate and every kernel path agree bit for bit before the activation. ONNX Runtime's dynamic
    /// quantization writes the same math as Cast → Mul → Mul → Add; this is that chain fused into one pass.
    /// </summary>
    public sealed class DynamicDequantizeOp : OpDefinition
    {
        public const string OpType = "DynamicDequantize";

        public override IEnumerable<string> OpTypes => new[] { OpType };

        public override string Domain => HalfConvertOp.InternalDomain;

        private static (int Outer, int Channels, int Inner) Layout(OpContext ctx)
        {
            var shape = ctx.Input(0).Shape;
            int axis = ctx.Axis(ctx.Int("axis", -1), shape.Rank);
            int outer = 1, inner = 1;
            for (int i = 0; i < axis; i++) outer *= shape[i];
            for (int i = axis + 1; i < shape.Rank; i++) inner *= shape[i];
            return (outer, shape[axis], inner);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var acc = ctx.Input(0);
            if (acc.ElementType != DataType.Int32) throw ctx.ShapeError($"acc is {acc.ElementType.ShortName()}, expected i32");
            if (acc.Shape.Rank == 0) throw ctx.ShapeError("acc must have a channel axis");
            var (_, channels, _) = Layout(ctx);
            if (ctx.Input(1).ElementType != DataType.Float || ctx.Input(1).Shape.ElementCount != 1)
                throw ctx.ShapeError($"x_scale {ctx.Input(1)} must be one float32");
            foreach (int i in new[] { 2, 3 })
            {
                if (!ctx.HasInput(i)) { if (i == 2) throw ctx.ShapeError("w_scale is required"); continue; }
                var t = ctx.Input(i);
                if (t.ElementType != DataType.Float || (t.Shape.ElementCount != channels && t.Shape.ElementCount != 1))
                    throw ctx.ShapeError($"input {i} {t} must be float32, one value or one per channel ({channels})");
            }
            return new[] { new TensorType(DataType.Float, acc.Shape) };
        }

        /// <summary>One element before the activation, exactly as the kernel computes it.</summary>
        public static float Apply(int acc, float xScale, float wScale, float bias)
        {
            float s = (float)(xScale * wScale);
            float p = (float)((float)acc * s);
            return (float)(p + bias);
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var (outer, channels, inner) = Layout(ctx);
            var acc = inputs[0]!.ToLongs();
            float xs = inputs[1]!.ToFloats()[0];
            var ws = inputs[2]!.ToFloats();
            var b = inputs.Count > 3 && inputs[3] is not null ? inputs[3]!.ToFloats() : new[] { 0f };
            var y = new float[acc.Length];
            for (int o = 0; o < outer; o++)
                for (int c = 0; c < channels; c++)
                {
                    float wc = ws[ws.Length == 1 ? 0 : c], bc = b[b.Length == 1 ? 0 : c];
                    for (int j = 0; j < inner; j++)
                    {
                        int i = (o * channels + c) * inner + j;
                        y[i] = Apply(unchecked((int)acc[i]), xs, wc, bc);
                    }
                }
            ActivationReference.Apply(y, ctx.Node.Activation);
            return new[] { Tensor.FromFloats(ctx.Input(0).Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var op = ctx.Op;
            var (outer, channels, inner) = Layout(op);
            // Per-tensor w_scale or bias are widened to one value per channel: the kernel reads one per channel.
            string PerChannel(int i, string hint)
            {
                var t = op.RequireConstant(i, hint);
                return t.Shape.ElementCount == channels ? ctx.In(i)
                    : ctx.Constant(hint, Tensor.FromFloats(new Shape(channels), Enumerable.Repeat(t.ToFloats()[0], channels).ToArray()));
            }
            string ws = PerChannel(2, "w_scale");
            var bias = op.HasInput(3) ? PlanArg.In(PerChannel(3, "bias")) : PlanArg.Floats(Array.Empty<float>());
            string act = ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op;
            ctx.Describe("DynamicDequantize" + ctx.ActivationSuffix, "DynamicDequantize" + act,
                string.Format(CultureInfo.InvariantCulture, "{0} channels{1}, int32 accumulators to float32{2}",
                    channels, inner == 1 ? "" : " × " + inner.ToString(CultureInfo.InvariantCulture) + " positions", op.HasInput(3) ? " with bias" : ""),
                "y[c] = (float)acc[c]·(x_scale·w_scale[c]) + bias[c]" + (ctx.Node.Activation is null ? "" : ", then " + ctx.Node.Activation.Op));
            var args = new List<PlanArg> { ctx.InArg(0), ctx.InArg(1), PlanArg.In(ws), bias, ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(channels), PlanArg.Int(inner) };
            args.AddRange(ctx.ActivationArgs());
            ctx.Call("DynamicDequantize.Run", args.ToArray());
        }
    }
}
