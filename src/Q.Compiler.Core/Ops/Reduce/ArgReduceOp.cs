using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Reduce
{
    /// <summary>ArgMax and ArgMin along one axis (keepdims, select_last_index), float32 input, int64 indices.</summary>
    public sealed class ArgReduceOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "ArgMax", "ArgMin" };

        private static (int Outer, int R, int Inner, Shape Out) Resolve(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported (float32 only)");
            if (x.Shape.Rank == 0) throw ctx.ShapeError($"{ctx.Node.OpType} needs an input of rank 1 or more");
            int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            if (x.Shape[axis] == 0) throw ctx.ShapeError($"axis {axis} is empty, so there is no {ctx.Node.OpType}");
            bool keep = ctx.Int("keepdims", 1) != 0;
            int outer = x.Shape.Dims.Take(axis).Aggregate(1, (a, b) => a * b);
            int inner = x.Shape.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
            var dims = x.Shape.Dims.Select((d, i) => i == axis ? (keep ? 1 : -1) : d).Where(d => d >= 0);
            return (outer, x.Shape[axis], inner, new Shape(dims));
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(DataType.Int64, Resolve(ctx).Out) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var (outer, r, inner, outShape) = Resolve(ctx);
            bool max = ctx.Node.OpType == "ArgMax", last = ctx.Int("select_last_index", 0) != 0;
            var x = inputs[0]!.ToDoubles();
            var y = new long[outer * inner];
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                {
                    int best = 0;
                    double bv = x[o * r * inner + j];
                    for (int k = 1; k < r; k++)
                    {
                        double v = x[(o * r + k) * inner + j];
                        if (max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv))) { best = k; bv = v; }
                    }
                    y[o * inner + j] = best;
                }
            return new[] { Tensor.FromLongs(outShape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var (outer, r, inner, _) = Resolve(ctx.Op);
            bool max = ctx.Node.OpType == "ArgMax", last = ctx.Op.Int("select_last_index", 0) != 0;
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, $"{ctx.InputType(0).Shape} → {ctx.OutputType(0).Shape}, {(last ? "last" : "first")} index of ties",
                max ? "y = index of the largest x along the axis" : "y = index of the smallest x along the axis");
            ctx.Call("Reduce.ArgExtreme", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(r), PlanArg.Int(inner), PlanArg.Bool(max), PlanArg.Bool(last));
        }
    }
}
