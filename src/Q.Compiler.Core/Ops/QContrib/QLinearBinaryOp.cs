using System;
using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// com.microsoft QLinearAdd and QLinearMul: inputs A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale,
    /// C_zero_point?; uint8 or int8 (A, B, C alike), numpy broadcasting; a fused Relu/Clip (Node.Activation) narrows the
    /// output clamp.
    /// </summary>
    /// <remarks>
    /// <para><b>Add</b>: C = zc + round(rA·(A − za) + rB·(B − zb)) with rA = sA/sC, rB = sB/sC as integers over a common
    /// power of two: ma = round(rA·2^s), mb = round(rB·2^s) with the larger below 2^21, so the whole sum stays within int32 on
    /// every path (ties round toward +∞). ONNX Runtime's MLAS computes the same in float32 (an FMA per operand, then
    /// round-half-even) on x86 and in its own fixed point on Arm: the results differ from ours by at most one quantization
    /// step, on values within about 2^−20 of a rounding tie.</para>
    /// <para><b>Mul</b>: C = zc + round((A − za)(B − zb) · sA·sB/sC), the multiplier as a 31-bit fixed-point pair
    /// (<see cref="QFixedMultiplier"/>, 64-bit product). MLAS computes it in float32; again at most one step apart, near ties.</para>
    /// </remarks>
    public sealed class QLinearBinaryOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearAdd", "QLinearMul" };
        public override string Domain => QContribMath.Domain;

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var t = QContribMath.CheckQuantInput(ctx, 0);
            QContribMath.CheckQuantInput(ctx, 3, t);
            QContribMath.CheckParams(ctx, 1, 2, t);
            QContribMath.CheckParams(ctx, 4, 5, t);
            QContribMath.CheckParams(ctx, 6, 7, t);
            return new[] { new TensorType(t, Broadcast.Shapes(ctx, ctx.Input(0).Shape, ctx.Input(3).Shape)) };
        }

        /// <summary>The integer parameters of QLinearAdd: ma, mb (each below 2^21) and the shift s in [1, 31].</summary>
        public static (int Ma, int Mb, int Shift) AddMultipliers(OpContext ctx, float sa, float sb, float sc)
        {
            double ra = (double)sa / sc, rb = (double)sb / sc, max = Math.Max(ra, rb);
            if (!(max < (1 << 20))) throw ctx.Error(Diagnostics.DiagnosticIds.QuantMultiplierOutOfRange,
                $"the input/output scale ratios {ra} and {rb} are too large (at most 2^20)");
            int s = 31;
            while (s > 1 && Math.Round(max * Math.Pow(2, s), MidpointRounding.AwayFromZero) >= (1 << 21)) s--;
            int ma = (int)Math.Round(ra * Math.Pow(2, s), MidpointRounding.AwayFromZero);
            int mb = (int)Math.Round(rb * Math.Pow(2, s), MidpointRounding.AwayFromZero);
            return (ma, mb, s);
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var (sa, za) = QContribMath.Params(ctx, inputs, 1, 2);
            var (sb, zb) = QContribMath.Params(ctx, inputs, 4, 5);
            var (sc, zc) = QContribMath.Params(ctx, inputs, 6, 7);
            var (lo, hi) = QContribMath.ClampBounds(ctx, sc, zc, type.ElementType);
            var a = QContribMath.Values(inputs[0]!); var b = QContribMath.Values(inputs[3]!);
            var y = new int[type.Shape.ElementCount];
            var st = new[] { Broadcast.Strides(inputs[0]!.Shape, type.Shape), Broadcast.Strides(inputs[3]!.Shape, type.Shape) };
            if (ctx.Node.OpType == "QLinearAdd")
            {
                var (ma, mb, s) = AddMultipliers(ctx, sa, sb, sc);
                Broadcast.ForEach(type.Shape, st, (f, o) =>
                {
                    long v = (((long)(a[o[0]] - za) * ma + (long)(b[o[1]] - zb) * mb + (1L << (s - 1))) >> s) + zc;
                    y[f] = (int)Math.Max(lo, Math.Min(hi, v));
                });
            }
            else
            {
                var m = QContribMath.Multiplier(ctx, (double)sa * sb / sc, "A·B/C");
                Broadcast.ForEach(type.Shape, st, (f, o) =>
                {
                    long v = m.Apply((a[o[0]] - za) * (b[o[1]] - zb)) + zc;
                    y[f] = (int)Math.Max(lo, Math.Min(hi, v));
                });
            }
            return new[] { QContribMath.ToTensor(type.ElementType, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var outType = ctx.OutputType(0);
            QContribMath.RequireUInt8(ctx, outType.ElementType);
            var op = ctx.Op;
            var (sa, za) = QContribMath.ConstParams(op, 1, 2);
            var (sb, zb) = QContribMath.ConstParams(op, 4, 5);
            var (sc, zc) = QContribMath.ConstParams(op, 6, 7);
            var (lo, hi) = QContribMath.ClampBounds(op, sc, zc, outType.ElementType);
            Shape shA = ctx.InputType(0).Shape, shB = ctx.InputType(3).Shape;
            var (dims, st) = Broadcast.Coalesce(outType.Shape, Broadcast.Strides(shA, outType.Shape), Broadcast.Strides(shB, outType.Shape));
            bool add = ctx.Node.OpType == "QLinearAdd";
            ctx.Describe(ctx.Node.OpType + ctx.ActivationSuffix, ctx.Node.OpType, $"{shA} ⊙ {shB} → {outType.Shape} u8",
                add ? "c = zc + round(sa/sc·(a − za) + sb/sc·(b − zb)), integer fixed point" : "c = zc + round(sa·sb/sc·(a − za)(b − zb)), integer fixed point");
            if (outType.Shape.ElementCount == 0) return;
            if (add)
            {
                var (ma, mb, s) = AddMultipliers(op, sa, sb, sc);
                ctx.Call("QLinearBinary.Add", ctx.InArg(0), ctx.InArg(3), ctx.OutArg(0), PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]),
                    PlanArg.Int(za), PlanArg.Int(zb), PlanArg.Int(ma), PlanArg.Int(mb), PlanArg.Int(s), PlanArg.Int(zc), PlanArg.Int(lo), PlanArg.Int(hi));
            }
            else
            {
                var m = QContribMath.Multiplier(op, (double)sa * sb / sc, "A·B/C");
                ctx.Call("QLinearBinary.Mul", ctx.InArg(0), ctx.InArg(3), ctx.OutArg(0), PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]),
                    PlanArg.Int(za), PlanArg.Int(zb), PlanArg.Int(m.Multiplier), PlanArg.Int(m.Shift), PlanArg.Int(m.AccLimit),
                    PlanArg.Int(zc), PlanArg.Int(lo), PlanArg.Int(hi));
            }
        }
    }
}
