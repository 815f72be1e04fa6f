using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Concat along one axis. Seen as [outer, axis·inner] rows, each input is a block of every output row,
    /// so the kernel copies contiguous blocks (one Strided.CopyRows call per input).
    /// </summary>
    public sealed class ConcatOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Concat" };

        private static List<int> Present(OpContext ctx) => Enumerable.Range(0, ctx.InputCount).Where(ctx.HasInput).ToList();

        private static int Axis(OpContext ctx, int rank) =>
            ctx.Axis(ctx.Opset < 4 ? ctx.Int("axis", 1) : ctx.Int("axis"), rank);

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var ins = Present(ctx).Select(ctx.Input).ToList();
            if (ins.Count == 0) throw ctx.ShapeError("needs at least one input");
            var first = ins[0];
            int rank = first.Shape.Rank;
            if (rank == 0) throw ctx.ShapeError("cannot concatenate scalars");
            int axis = Axis(ctx, rank);
            long total = 0;
            foreach (var t in ins)
            {
                if (t.ElementType != first.ElementType)
                    throw ctx.ShapeError($"inputs have different element types ({string.Join(", ", ins.Select(i => i.ElementType.ShortName()))})");
                if (t.Shape.Rank != rank || Enumerable.Range(0, rank).Any(d => d != axis && t.Shape[d] != first.Shape[d]))
                    throw ctx.ShapeError($"input shapes {string.Join(", ", ins.Select(i => i.Shape.ToString()))} differ outside axis {axis}");
                total += t.Shape[axis];
            }
            if (total > int.MaxValue) throw ctx.Error(Diagnostics.DiagnosticIds.TensorTooLarge, "the result is too large");
            var dims = first.Shape.ToArray();
            dims[axis] = (int)total;
            return new[] { first.WithShape(new Shape(dims)) };
        }

        /// <summary>(product of the dimensions before the axis, product of those after it).</summary>
        private static (int Outer, int Inner) Around(Shape s, int axis) =>
            (s.Dims.Take(axis).Aggregate(1, (a, b) => a * b), s.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b));

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            int axis = Axis(ctx, type.Shape.Rank);
            var (outer, inner) = Around(type.Shape, axis);
            int row = type.Shape[axis] * inner;
            var y = Array.CreateInstance(type.ElementType.ClrType(), type.Shape.ElementCount);
            int at = 0;
            foreach (var x in inputs.Where(t => t is not null).Select(t => t!))
            {
                int block = x.Shape[axis] * inner;
                for (int r = 0; r < outer; r++) Array.Copy(x.Data, r * block, y, r * row + at, block);
                at += block;
            }
            return new[] { new Tensor(type.ElementType, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var outType = ctx.OutputType(0);
            int axis = Axis(ctx.Op, outType.Shape.Rank);
            var present = Present(ctx.Op);
            ctx.Describe("Concat", "Concat", $"{string.Join(" ‖ ", present.Select(i => ctx.InputType(i).Shape.ToString()))} → {outType.Shape}, axis {axis}",
                "y = [x0 ‖ x1 ‖ …] along the axis");
            if (Strides.EmptyOutput(ctx)) return;
            var (outer, inner) = Around(outType.Shape, axis);
            int row = outType.Shape[axis] * inner;
            int at = 0;
            foreach (int i in present)
            {
                int block = ctx.InputType(i).Shape[axis] * inner;
                if (block == 0) continue;
                if (block == row)
                {
                    // The only non-empty part: the output is that input.
                    ctx.ViewOf(0, i);
                    return;
                }
                ctx.Call($"Strided.CopyRows<{outType.ElementType.CSharpName()}>", ctx.InArg(i), PlanArg.Int(0), PlanArg.Int(block),
                    ctx.OutArg(0), PlanArg.Int(at), PlanArg.Int(row), PlanArg.Int(outer), PlanArg.Int(block));
                at += block;
            }
        }
    }
}
