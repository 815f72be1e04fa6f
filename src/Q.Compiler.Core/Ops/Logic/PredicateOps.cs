using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Logic
{
    /// <summary>IsNaN and IsInf (detect_negative, detect_positive) on float, double and float16: bool results.</summary>
    public sealed class PredicateOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "IsNaN", "IsInf" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (!x.ElementType.IsFloat()) throw ctx.ShapeError($"{ctx.Node.OpType} takes floats, not {x.ElementType.ShortName()}");
            return new[] { new TensorType(DataType.Bool, x.Shape) };
        }

        private static (bool Negative, bool Positive) Which(OpContext ctx) =>
            (ctx.Int("detect_negative", 1) != 0, ctx.Int("detect_positive", 1) != 0);

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (neg, pos) = Which(ctx);
            var y = x.ToDoubles().Select(v => ctx.Node.OpType == "IsNaN" ? double.IsNaN(v)
                : neg && double.IsNegativeInfinity(v) || pos && double.IsPositiveInfinity(v)).ToArray();
            return new[] { new Tensor(DataType.Bool, x.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            string t = x.ElementType.CSharpName();
            if (ctx.Node.OpType == "IsNaN")
            {
                ctx.Describe("IsNaN", "IsNaN", x.Shape.ToString(), "y = x is NaN");
                if (Layout.Strides.EmptyOutput(ctx)) return;
                ctx.Call($"Logic.IsNaN<{t}>", ctx.InArg(0), ctx.OutArg(0));
                return;
            }
            var (neg, pos) = Which(ctx.Op);
            ctx.Describe("IsInf", "IsInf", x.Shape.ToString(), neg && pos ? "y = x is ±∞" : neg ? "y = x is −∞" : pos ? "y = x is +∞" : "y = false");
            if (Layout.Strides.EmptyOutput(ctx)) return;
            ctx.Call($"Logic.IsInf<{t}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Bool(neg), PlanArg.Bool(pos));
        }
    }
}
