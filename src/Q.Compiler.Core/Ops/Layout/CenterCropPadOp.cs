using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// CenterCropPad: each listed axis is cropped (window start rounded down) or zero-padded (the odd pixel on the right)
    /// to the target size, which must be known at build time. It is a constant Pad with negative pads for the crops.
    /// </summary>
    public sealed class CenterCropPadOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "CenterCropPad" };

        private static (int[] Begins, int[] Ends) Pads(OpContext ctx, Shape x)
        {
            var target = ctx.RequireConstant(1, "shape").ToLongs();
            var axes = ctx.Ints("axes")?.Select(a => ctx.Axis(a, x.Rank)).ToArray() ?? Enumerable.Range(0, x.Rank).ToArray();
            if (target.Length != axes.Length) throw ctx.ShapeError($"shape has {target.Length} sizes for {axes.Length} axes");
            var begins = new int[x.Rank]; var ends = new int[x.Rank];
            for (int i = 0; i < axes.Length; i++)
            {
                int a = axes[i];
                if (target[i] < 0 || target[i] > int.MaxValue) throw ctx.ShapeError($"target size {target[i]} is invalid");
                int diff = (int)target[i] - x[a];
                if (diff >= 0) { begins[a] = diff / 2; ends[a] = diff - diff / 2; }
                else { int start = -diff / 2; begins[a] = -start; ends[a] = diff + start; }
            }
            return (begins, ends);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            var (b, e) = Pads(ctx, x.Shape);
            return new[] { x.WithShape(new Shape(Enumerable.Range(0, x.Shape.Rank).Select(d => x.Shape[d] + b[d] + e[d]))) };
        }

        private static Tensor Zero(DataType t) => Tensor.FromDoubles(t, Shape.Scalar, new double[1]);

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (b, e) = Pads(ctx, x.Shape);
            return new[] { PadOp.Reference(x, b, e, 0, Zero(x.ElementType)) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var (b, e) = Pads(ctx.Op, x.Shape);
            ctx.Describe("CenterCropPad", "CenterCropPad", $"{x.Shape} → {ctx.OutputType(0).Shape}", "y = x centered in the target shape (crop or zero pad)");
            PadOp.EmitPad(ctx, b, 0, PlanArg.In(ctx.Constant("zero", Zero(x.ElementType))));
        }
    }
}
