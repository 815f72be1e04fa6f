using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Activation;
using Q.Compiler.Ops.Float16;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// QLinearHardSwish, QLinearHardSigmoid and QLinearTanh in Q.Compiler's own domain (ai.q-compiler): the activations
    /// that have no com.microsoft QLinear form, with QLinearSigmoid's interface (X, X_scale, X_zero_point?, Y_scale,
    /// Y_zero_point?; HardSigmoid's alpha, default 0.2, and beta, default 0.5). Only the calibrated quantizer creates them
    /// (they never appear in an ONNX file): y = table[x], a 256-entry table of quantize(f(dequantize(x))) built at compile
    /// time with the float activation of <see cref="ActivationReference"/>, as <see cref="QLinearLookupOp"/> does.
    /// </summary>
    public sealed class QLinearActivationOp : OpDefinition
    {
        public const string HardSwish = "QLinearHardSwish", HardSigmoid = "QLinearHardSigmoid", Tanh = "QLinearTanh";

        public override IEnumerable<string> OpTypes => new[] { HardSwish, HardSigmoid, Tanh };
        public override string Domain => HalfConvertOp.InternalDomain;

        /// <summary>The op type that applies float activation <paramref name="activation"/> on uint8, or null if none does.</summary>
        public static string? For(string activation) => activation switch
        {
            "HardSwish" => HardSwish,
            "HardSigmoid" => HardSigmoid,
            "Tanh" => Tanh,
            _ => null,
        };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var t = QContribMath.CheckQuantInput(ctx, 0);
            QContribMath.CheckParams(ctx, 1, 2, t);
            QContribMath.CheckParams(ctx, 3, 4, t);
            return new[] { new TensorType(t, ctx.Input(0).Shape) };
        }

        private static int[] Table(OpContext ctx, float sx, int zx, float sy, int zy, DataType t)
        {
            string op = ctx.Node.OpType.Substring("QLinear".Length);
            float alpha = ctx.Float("alpha", 0.2f), beta = ctx.Float("beta", 0.5f);
            return QLookupTable.Build(v => ActivationReference.Apply(v, op, alpha, beta), sx, zx, sy, zy, t);
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var t = InferTypes(ctx)[0].ElementType;
            var (sx, zx) = QContribMath.Params(ctx, inputs, 1, 2);
            var (sy, zy) = QContribMath.Params(ctx, inputs, 3, 4);
            return new[] { QLookupTable.Apply(Table(ctx, sx, zx, sy, zy, t), inputs[0]!) };
        }

        public override void Lower(LowerContext ctx)
        {
            var xt = ctx.InputType(0);
            QContribMath.RequireUInt8(ctx, xt.ElementType);
            var (sx, zx) = QContribMath.ConstParams(ctx.Op, 1, 2);
            var (sy, zy) = QContribMath.ConstParams(ctx.Op, 3, 4);
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType.Substring("QLinear".Length), $"{xt.Shape} u8",
                "y = table[x], table = quantize(f(dequantize(0..255))) built at compile time");
            if (xt.Shape.ElementCount == 0) return;
            string table = ctx.Constant("table", QLookupTable.ToUInt8(Table(ctx.Op, sx, zx, sy, zy, xt.ElementType)));
            ctx.Call("QLookup.Run", ctx.InArg(0), PlanArg.In(table), ctx.OutArg(0));
        }
    }
}
