using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Split along one axis: sizes from the 'split' input (opset 13+) or attribute (before), else equal parts
    /// (opset 18 'num_outputs': ceil-sized parts, the last one smaller). Each output is one Strided.CopyRows call.
    /// </summary>
    public sealed class SplitOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Split" };

        internal static int[] Sizes(OpContext ctx, Shape x, int axis)
        {
            int n = ctx.Node.Outputs.Count;
            int dim = x[axis];
            long[]? split = null;
            if (ctx.HasInput(1)) split = ctx.RequireConstant(1, "split").ToLongs();
            else if (ctx.Opset < 13) split = ctx.Ints("split");
            if (split is not null)
            {
                if (split.Length != n) throw ctx.ShapeError($"split has {split.Length} sizes for {n} outputs");
                if (split.Any(s => s < 0) || split.Sum() != dim)
                    throw ctx.ShapeError($"split sizes [{string.Join(",", split)}] do not add up to dimension {axis} of {x}");
                return split.Select(s => (int)s).ToArray();
            }
            if (ctx.Opset >= 18)
            {
                long parts = ctx.Int("num_outputs", n);
                if (parts != n) throw ctx.ShapeError($"num_outputs is {parts} but the node has {n} outputs");
                int chunk = (dim + n - 1) / n;
                return Enumerable.Range(0, n).Select(i => Math.Max(0, Math.Min(chunk, dim - i * chunk))).ToArray();
            }
            if (dim % n != 0) throw ctx.ShapeError($"dimension {axis} of {x} does not split into {n} equal parts");
            return Enumerable.Repeat(dim / n, n).ToArray();
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            return Sizes(ctx, x.Shape, axis).Select(s =>
            {
                var dims = x.Shape.ToArray();
                dims[axis] = s;
                return x.WithShape(new Shape(dims));
            }).ToArray();
        }

        private static (int Outer, int Inner) Around(Shape s, int axis) =>
            (s.Dims.Take(axis).Aggregate(1, (a, b) => a * b), s.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b));

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var types = InferTypes(ctx);
            int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            var (outer, inner) = Around(x.Shape, axis);
            int row = x.Shape[axis] * inner, at = 0;
            return types.Select(t =>
            {
                int block = t.Shape[axis] * inner;
                var y = Array.CreateInstance(x.Data.GetType().GetElementType()!, t.Shape.ElementCount);
                for (int r = 0; r < outer; r++) Array.Copy(x.Data, r * row + at, y, r * block, block);
                at += block;
                return new Tensor(t.ElementType, t.Shape, y);
            }).ToArray();
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            int axis = ctx.Op.Axis(ctx.Op.Int("axis", 0), x.Shape.Rank);
            var sizes = Sizes(ctx.Op, x.Shape, axis);
            ctx.Describe("Split", "Split", $"{x.Shape} → {string.Join(", ", sizes)} along axis {axis}",
                "y_k = x[…, offset_k : offset_k + size_k, …]");
            var (outer, inner) = Around(x.Shape, axis);
            int row = x.Shape[axis] * inner, at = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                int block = sizes[i] * inner;
                if (ctx.HasOutput(i) && !Strides.EmptyOutput(ctx, i))
                {
                    if (block == row) ctx.ViewOf(i, 0);
                    else
                        ctx.Call($"Strided.CopyRows<{x.ElementType.CSharpName()}>", ctx.InArg(0), PlanArg.Int(at), PlanArg.Int(row),
                            ctx.OutArg(i), PlanArg.Int(0), PlanArg.Int(block), PlanArg.Int(outer), PlanArg.Int(block));
                }
                at += block;
            }
        }
    }
}
