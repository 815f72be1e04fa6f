using System;
using System.Collections.Generic;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// com.microsoft QLinearSoftmax (X, X_scale, x_zero_point?, y_scale, y_zero_point; attributes opset (required) and
    /// axis): with opset &lt; 13 the input is seen as 2-D [N, D] split at axis (default 1), with 13 the softmax runs along
    /// the one axis (default −1), as ONNX Softmax of those opsets.
    /// </summary>
    /// <remarks>
    /// Computed exactly as ONNX Runtime's CPU kernel (the kws-m QOperator twins' reference outputs are its results): a
    /// 256-entry float table t[k] = exp((k − 255 + c)·sx) with c = max(0, ln(FLT_MAX / D) − 5) / sx; per row
    /// e_i = t[x_i − max(x) + 255] (the same index for int8 and uint8), s = Σ e_i in float32 in element order, and
    /// y_i = round_half_even(e_i · floor(1/y_scale) / s) + zy in float32. The table depends only on the scale and D, so it is
    /// built at compile time. One deliberate difference: ONNX Runtime's int8 path wraps a result above 127 (for example
    /// y = 128 → −128, a probability of 1 read as 0); we saturate to 127. The two agree whenever ONNX Runtime does not wrap.
    /// Note y_scale enters only through floor(1/y_scale), so outputs are exact for scales 1/256, 1/255, ….
    /// </remarks>
    public sealed class QLinearSoftmaxOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearSoftmax" };
        public override string Domain => QContribMath.Domain;

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var t = QContribMath.CheckQuantInput(ctx, 0);
            QContribMath.CheckParams(ctx, 1, 2, t);
            QContribMath.CheckParams(ctx, 3, 4, t);
            if (!ctx.Has("opset")) throw ctx.Error(DiagnosticIds.MalformedGraph, "attribute 'opset' is required");
            Geometry(ctx, ctx.Input(0).Shape);
            return new[] { new TensorType(t, ctx.Input(0).Shape) };
        }

        /// <summary>(outer, D, inner): rows of D elements with stride inner.</summary>
        public static (int Outer, int D, int Inner) Geometry(OpContext ctx, Shape s)
        {
            long opset = ctx.Int("opset");
            int rank = s.Rank;
            if (rank == 0) throw ctx.ShapeError("QLinearSoftmax needs an input of rank 1 or more");
            int axis = ctx.Axis(ctx.Int("axis", opset < 13 ? 1 : -1), rank);
            int outer = 1, d = 1, inner = 1;
            for (int i = 0; i < axis; i++) outer *= s[i];
            if (opset < 13) { for (int i = axis; i < rank; i++) d *= s[i]; }
            else { d = s[axis]; for (int i = axis + 1; i < rank; i++) inner *= s[i]; }
            return (outer, d, inner);
        }

        /// <summary>ONNX Runtime's exp table for an input scale and row length D (float, built in double as it does).</summary>
        public static float[] Table(float xScale, int d)
        {
            double bitShift = Math.Log(float.MaxValue / (float)d);
            bitShift = Math.Max(0.0, bitShift - 5) / xScale;
            var t = new float[256];
            for (int i = 0; i < 256; i++) t[i] = (float)Math.Exp((i - 255 + bitShift) * xScale);
            return t;
        }

        /// <summary>floor(1 / y_scale) in float, the factor ONNX Runtime scales probabilities by.</summary>
        public static float OutputFactor(float yScale) => (float)Math.Floor(1.0f / yScale);

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var (sx, _) = QContribMath.Params(ctx, inputs, 1, 2);
            var (sy, zy) = QContribMath.Params(ctx, inputs, 3, 4);
            var (outer, d, inner) = Geometry(ctx, type.Shape);
            int qmin = QContribMath.QMin(type.ElementType), qmax = QContribMath.QMax(type.ElementType);
            var x = QContribMath.Values(inputs[0]!);
            var y = new int[x.Length];
            if (x.Length == 0) return new[] { QContribMath.ToTensor(type.ElementType, type.Shape, y) };
            var table = Table(sx, d);
            float ys = OutputFactor(sy);
            var e = new float[d];
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                {
                    int b = o * d * inner + j, max = int.MinValue;
                    for (int k = 0; k < d; k++) max = Math.Max(max, x[b + k * inner]);
                    float sum = 0;
                    for (int k = 0; k < d; k++) { e[k] = table[x[b + k * inner] - max + 255]; sum = (float)(sum + e[k]); }
                    for (int k = 0; k < d; k++)
                    {
                        float q = (float)((float)(e[k] * ys) / sum);
                        double r = Math.Round((double)q, MidpointRounding.ToEven) + zy;
                        y[b + k * inner] = (int)Math.Max(qmin, Math.Min(qmax, r));
                    }
                }
            return new[] { QContribMath.ToTensor(type.ElementType, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var xt = ctx.InputType(0);
            QContribMath.RequireUInt8(ctx, xt.ElementType);
            var (sx, _) = QContribMath.ConstParams(ctx.Op, 1, 2);
            var (sy, zy) = QContribMath.ConstParams(ctx.Op, 3, 4);
            var (outer, d, inner) = Geometry(ctx.Op, xt.Shape);
            ctx.Describe("QLinearSoftmax", "QSoftmax", $"{outer * inner} rows of {d}{(inner > 1 ? $" (stride {inner})" : "")}, u8",
                "y = zy + round(t[x − max + 255] · floor(1/sy) / Σ t[·]), t = exp table of sx (as ONNX Runtime)");
            if (xt.Shape.ElementCount == 0) return;
            string table = ctx.Constant("exp", Tensor.FromFloats(new Shape(256), Table(sx, d)));
            string e = ctx.Scratch("e", DataType.Float, new Shape(d));
            ctx.Call("QLinearSoftmax.Run", ctx.InArg(0), PlanArg.In(table), ctx.OutArg(0), PlanArg.Out(e), PlanArg.Int(outer), PlanArg.Int(d),
                PlanArg.Int(inner), PlanArg.Float(OutputFactor(sy)), PlanArg.Int(zy));
        }
    }
}
