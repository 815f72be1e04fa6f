using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Activation
{
    /// <summary>
    /// PRelu: y = x ≥ 0 ? x : slope·x, the slope broadcast to x's shape (typically one value per channel), float32.
    /// Before opset 7 a 1-D slope with one value per channel applies along axis 1, as old PyTorch exports expect.
    /// </summary>
    public sealed class PReluOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "PRelu" };

        /// <summary>The slope's shape as broadcast against x.</summary>
        private static Shape SlopeShape(OpContext ctx, Shape x, Shape s)
        {
            if (ctx.Opset < 7 && s.Rank == 1 && x.Rank > 2 && s[0] == x[1] && s[0] != x[x.Rank - 1])
                return new Shape(new[] { s[0] }.Concat(Enumerable.Repeat(1, x.Rank - 2)));
            return s;
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0); var s = ctx.Input(1).WithShape(SlopeShape(ctx, ctx.Input(0).Shape, ctx.Input(1).Shape));
            if (x.ElementType != DataType.Float || s.ElementType != DataType.Float)
                throw ctx.Unsupported($"PRelu on {x.ElementType.ShortName()} is not supported (float32 only)");
            var shape = Broadcast.Shapes(ctx, x.Shape, s.Shape);
            if (!shape.Equals(x.Shape)) throw ctx.ShapeError($"slope {s.Shape} does not broadcast to the input {x.Shape}");
            return new[] { x };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var xt = inputs[0]!; var st = inputs[1]!.Reshape(SlopeShape(ctx, inputs[0]!.Shape, inputs[1]!.Shape));
            var x = xt.ToDoubles(); var s = st.ToDoubles();
            var y = new double[x.Length];
            Broadcast.ForEach(xt.Shape, new[] { Broadcast.Strides(xt.Shape, xt.Shape), Broadcast.Strides(st.Shape, xt.Shape) },
                (f, o) => y[f] = x[o[0]] >= 0 ? x[o[0]] : s[o[1]] * x[o[0]]);
            return new[] { Tensor.FromDoubles(DataType.Float, xt.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0).Shape; var s = SlopeShape(ctx.Op, x, ctx.InputType(1).Shape);
            ctx.Describe("PRelu", "PRelu", $"{x}, slope {s}", "y = x ≥ 0 ? x : slope·x");
            var (dims, st) = Broadcast.Coalesce(x, Broadcast.Strides(x, x), Broadcast.Strides(s, x));
            ctx.Call("Elementwise.Binary<float, Elementwise.PRelu<float>>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0),
                PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
        }
    }
}
