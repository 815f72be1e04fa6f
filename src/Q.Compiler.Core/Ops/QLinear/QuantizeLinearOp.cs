using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QLinear
{
    /// <summary>
    /// QuantizeLinear (y = saturate(round_half_even(x / scale) + zero_point)) and DequantizeLinear
    /// (y = (x − zero_point) · scale), opsets 10 to 25: per tensor, per axis and blocked; quantized types uint8, int8, uint16,
    /// int16 (and int32 input for DequantizeLinear). Division and product are in float32 (the ONNX reference's precision
    /// for float32 scales); float16 data or scales are evaluated at build time but have no generated code (QC2015).
    /// Scales and zero points may be constants or computed at run time.
    /// </summary>
    public sealed class QuantizeLinearOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QuantizeLinear", "DequantizeLinear" };

        private static bool IsQuantize(OpContext ctx) => ctx.Node.OpType == "QuantizeLinear";

        private sealed class Problem
        {
            public DataType Quantized, Output;
            public QuantGranularity G = null!;
        }

        private static Problem Resolve(OpContext ctx)
        {
            var x = ctx.Input(0);
            var scale = ctx.Input(1);
            if (!scale.ElementType.IsFloat())
                throw QuantGranularity.TypeError(ctx, $"scale of type {scale.ElementType.ShortName()} is not supported (float32 or float16)");
            if (ctx.HasInput(2) && ctx.Input(2).Shape.ElementCount != scale.Shape.ElementCount)
                throw ctx.ShapeError($"zero point {ctx.Input(2).Shape} and scale {scale.Shape} must have the same shape");
            var p = new Problem { G = QuantGranularity.Resolve(ctx, x.Shape, scale.Shape) };
            long outputDtype = ctx.Int("output_dtype", 0);
            if (IsQuantize(ctx))
            {
                if (!x.ElementType.IsFloat() && x.ElementType != DataType.Int32)
                    throw QuantGranularity.TypeError(ctx, $"QuantizeLinear of {x.ElementType.ShortName()} data is not supported");
                p.Quantized = outputDtype != 0 ? (DataType)outputDtype : ctx.HasInput(2) ? ctx.Input(2).ElementType : DataType.UInt8;
                if (ctx.HasInput(2) && ctx.Input(2).ElementType != p.Quantized)
                    throw ctx.ShapeError($"output_dtype {p.Quantized.ShortName()} differs from the zero point's type {ctx.Input(2).ElementType.ShortName()}");
                if (!QuantGranularity.IsQuantized(p.Quantized))
                    throw QuantGranularity.TypeError(ctx, $"quantizing to {p.Quantized.ShortName()} is not supported (uint8, int8, uint16, int16)");
                p.Output = p.Quantized;
            }
            else
            {
                p.Quantized = x.ElementType;
                if (!QuantGranularity.IsQuantized(p.Quantized) && p.Quantized != DataType.Int32)
                    throw QuantGranularity.TypeError(ctx, $"dequantizing {p.Quantized.ShortName()} is not supported (uint8, int8, uint16, int16, int32)");
                if (ctx.HasInput(2) && ctx.Input(2).ElementType != p.Quantized)
                    throw ctx.ShapeError($"zero point type {ctx.Input(2).ElementType.ShortName()} differs from x's {p.Quantized.ShortName()}");
                p.Output = outputDtype != 0 ? (DataType)outputDtype : scale.ElementType;
                if (!p.Output.IsFloat())
                    throw QuantGranularity.TypeError(ctx, $"dequantizing to {p.Output.ShortName()} is not supported");
            }
            return p;
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(Resolve(ctx).Output, ctx.Input(0).Shape) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var p = Resolve(ctx);
            var shape = ctx.Input(0).Shape;
            var scale = inputs[1]!.ToFloats();
            var zp = inputs.Count > 2 && inputs[2] is not null ? inputs[2]!.ToLongs() : new long[scale.Length];
            if (IsQuantize(ctx))
            {
                var x = inputs[0]!.ToFloats();
                int qmin = QuantGranularity.QMin(p.Quantized), qmax = QuantGranularity.QMax(p.Quantized);
                var y = new long[x.Length];
                for (int i = 0; i < x.Length; i++)
                {
                    int s = p.G.IndexOf(i);
                    y[i] = QuantMath.Quantize(x[i], scale[s], (int)zp[s], qmin, qmax);
                }
                return new[] { Tensor.FromLongs(p.Output, shape, y) };
            }
            var q = inputs[0]!.ToLongs();
            var r = new double[q.Length];
            for (int i = 0; i < q.Length; i++)
            {
                int s = p.G.IndexOf(i);
                r[i] = (float)(q[i] - zp[s]) * scale[s];
            }
            return new[] { Tensor.FromDoubles(p.Output, shape, r) };
        }

        public override void Lower(LowerContext ctx)
        {
            var p = Resolve(ctx.Op);
            var g = p.G;
            bool quantize = IsQuantize(ctx.Op);
            var floatSide = quantize ? ctx.InputType(0).ElementType : p.Output;
            if (floatSide != DataType.Float)
                throw QuantGranularity.TypeError(ctx.Op, $"{ctx.Node.OpType} with {floatSide.ShortName()} {(quantize ? "input" : "output")} has no generated code (float32 only); convert the data to float32 first");
            // Read only by a convolution that quantizes its float input itself (QConvFloatInput): no code here.
            if (quantize && QConvFloatInput.Resolve(ctx, ctx.Node) is not null) return;
            string q = p.Quantized.CSharpName();
            string scale = ScaleBuffer(ctx);
            string zp = ctx.Op.HasInput(2) ? ctx.In(2) : ctx.Constant("zero_point", Tensor.Zeros(p.Quantized, new Shape(g.ScaleCount)));
            ctx.Describe(ctx.Node.OpType, quantize ? "Quantize" : "Dequantize",
                $"{ctx.InputType(0)} → {p.Output.ShortName()}, {g.Describe()}",
                quantize ? $"y = saturate(round_half_even(x / scale) + zero_point) in {p.Quantized.ShortName()}" : "y = (x − zero_point) · scale");
            if (ctx.InputType(0).Shape.ElementCount == 0) return;
            bool bytes = p.Quantized == DataType.UInt8 || p.Quantized == DataType.Int8;
            if (bytes && !g.Blocked)
            {
                int channels = g.PerAxis ? g.AxisLength : 1;
                string method = quantize ? (p.Quantized == DataType.UInt8 ? "QuantizeLinear.ToUInt8" : "QuantizeLinear.ToInt8")
                    : (p.Quantized == DataType.UInt8 ? "DequantizeLinear.FromUInt8" : "DequantizeLinear.FromInt8");
                ctx.Call(method, ctx.InArg(0), PlanArg.In(scale), PlanArg.In(zp), ctx.OutArg(0), PlanArg.Int(channels), PlanArg.Int(g.Inner));
                return;
            }
            var args = new List<PlanArg>
            {
                ctx.InArg(0), PlanArg.In(scale), PlanArg.In(zp), ctx.OutArg(0), PlanArg.Int(g.Outer), PlanArg.Int(g.AxisLength), PlanArg.Int(g.Inner),
                PlanArg.Int(g.BlockSize), PlanArg.Int(g.Blocked ? g.ScaleAxis : 0), PlanArg.Bool(g.PerAxis),
            };
            if (quantize)
            {
                args.Add(PlanArg.Int(QuantGranularity.QMin(p.Quantized)));
                args.Add(PlanArg.Int(QuantGranularity.QMax(p.Quantized)));
            }
            ctx.Call($"{(quantize ? "QuantizeLinear" : "DequantizeLinear")}.Blocked<{q}>", args.ToArray());
        }

        /// <summary>The scale as float32: the input itself, or a float16 constant converted at build time.</summary>
        private static string ScaleBuffer(LowerContext ctx)
        {
            var t = ctx.InputType(1).ElementType;
            if (t == DataType.Float) return ctx.In(1);
            var c = ctx.Op.Constant(1);
            if (c is null)
                throw QuantGranularity.TypeError(ctx.Op, $"a {t.ShortName()} scale computed at run time has no generated code (float32 only)");
            return ctx.Constant("scale_f32", Tensor.FromFloats(c.Shape, c.ToFloats()));
        }
    }
}
