using System;
using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QLinear
{
    /// <summary>
    /// DynamicQuantizeLinear (opset 11): float32 → uint8 with the scale and zero point computed from the data on every run.
    /// lo = min(0, min x), hi = max(0, max x), scale = (hi − lo) / 255, zero point = saturate(round_half_even(−lo / scale)),
    /// y = saturate(round_half_even(x / scale) + zero point), all in float32 as the ONNX reference does. All zeros give
    /// scale 0, zero point 0. Outputs: y, y_scale (float scalar), y_zero_point (uint8 scalar).
    /// </summary>
    public sealed class DynamicQuantizeLinearOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "DynamicQuantizeLinear" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float)
                throw QuantGranularity.TypeError(ctx, $"DynamicQuantizeLinear of {x.ElementType.ShortName()} data is not supported (float32)");
            return new[]
            {
                new TensorType(DataType.UInt8, x.Shape), new TensorType(DataType.Float, Shape.Scalar), new TensorType(DataType.UInt8, Shape.Scalar),
            };
        }

        /// <summary>The per-run parameters, exactly as the kernel computes them.</summary>
        public static (float Scale, int ZeroPoint) Parameters(float[] x)
        {
            float lo = 0, hi = 0;
            foreach (float v in x)
            {
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
            float scale = (hi - lo) / 255f;
            if (scale == 0) return (0f, 0);
            float z = -lo / scale;
            double zr = Math.Round((double)z, MidpointRounding.ToEven);
            return (scale, (int)Math.Max(0, Math.Min(255, zr)));
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!.ToFloats();
            var (scale, zp) = Parameters(x);
            var y = new byte[x.Length];
            for (int i = 0; i < x.Length; i++) y[i] = (byte)QuantMath.Quantize(x[i], scale, zp, 0, 255);
            return new[]
            {
                new Tensor(DataType.UInt8, ctx.Input(0).Shape, y), Tensor.Scalar(scale), new Tensor(DataType.UInt8, Shape.Scalar, new[] { (byte)zp }),
            };
        }

        public override void Lower(LowerContext ctx)
        {
            ctx.Describe("DynamicQuantizeLinear", "DynamicQuantize", $"{ctx.InputType(0)} → u8, parameters from the data",
                "scale = (max(0, max x) − min(0, min x)) / 255; zp = round(−min(0, min x) / scale); y = saturate(round(x / scale) + zp)");
            string y = ctx.HasOutput(0) ? ctx.Out(0) : ctx.Scratch("y", DataType.UInt8, ctx.InputType(0).Shape);
            string scale = ctx.HasOutput(1) ? ctx.Out(1) : ctx.Scratch("scale", DataType.Float, new Shape(1));
            string zp = ctx.HasOutput(2) ? ctx.Out(2) : ctx.Scratch("zero_point", DataType.UInt8, new Shape(1));
            ctx.Call("DynamicQuantizeLinear.ToUInt8", ctx.InArg(0), PlanArg.Out(y), PlanArg.Out(scale), PlanArg.Out(zp));
        }
    }
}
