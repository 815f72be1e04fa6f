using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Shape (with opset 15's start/end) and Size: shapes are static, so both always fold to constants from the
    /// input's type, even when its data is computed at run time. This is what lets Shape → Gather → Concat → Reshape
    /// chains fold away completely at build time.
    /// </summary>
    public sealed class ShapeOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Shape", "Size" };

        private static Tensor Compute(OpContext ctx, Shape x)
        {
            if (ctx.Node.OpType == "Size") return Tensor.FromLongs(Shape.Scalar, new long[] { x.ElementCount });
            int rank = x.Rank;
            long start = ctx.Int("start", 0), end = ctx.Int("end", rank);
            if (start < 0) start += rank;
            if (end < 0) end += rank;
            start = Math.Max(0, Math.Min(rank, start));
            end = Math.Max(start, Math.Min(rank, end));
            var dims = x.Dims.Skip((int)start).Take((int)(end - start)).Select(d => (long)d).ToArray();
            return Tensor.FromLongs(new Shape(dims.Length), dims);
        }

        public override Tensor[]? TryFold(OpContext ctx) => new[] { Compute(ctx, ctx.Input(0).Shape) };

        public override TensorType[] InferTypes(OpContext ctx) => new[] { Compute(ctx, ctx.Input(0).Shape).Type };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs) => new[] { Compute(ctx, inputs[0]!.Shape) };

        public override void Lower(LowerContext ctx)
        {
            // Normally folded at import; kept correct should a pass ever leave one behind.
            var value = Compute(ctx.Op, ctx.InputType(0).Shape);
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, value.Shape.ToString(), "y = the input's shape (known at build time)");
            ctx.Call("Copy.Run<long>", PlanArg.In(ctx.Constant("value", value)), ctx.OutArg(0));
        }
    }
}
