using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>Transpose: y[i_perm(0), …] = x[i_0, …]; perm defaults to reversing the axes.</summary>
    public sealed class TransposeOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Transpose" };

        internal static int[] Perm(OpContext ctx, int rank)
        {
            var attr = ctx.Ints("perm");
            if (attr is null) return Enumerable.Range(0, rank).Reverse().ToArray();
            if (attr.Length != rank) throw ctx.ShapeError($"perm has {attr.Length} entries but the input has rank {rank}");
            var perm = attr.Select(p => ctx.Axis(p, rank, "perm entry")).ToArray();
            if (perm.Distinct().Count() != rank) throw ctx.ShapeError($"perm [{string.Join(",", attr)}] is not a permutation");
            return perm;
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            var perm = Perm(ctx, x.Shape.Rank);
            return new[] { x.WithShape(new Shape(perm.Select(p => x.Shape[p]))) };
        }

        /// <summary>Output dims and the input strides each output dimension walks.</summary>
        private static (int[] Dims, int[] Strides) Walk(Shape x, int[] perm)
        {
            var st = x.Strides();
            return (perm.Select(p => x[p]).ToArray(), perm.Select(p => st[p]).ToArray());
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (dims, strides) = Walk(x.Shape, Perm(ctx, x.Shape.Rank));
            return new[] { Strides.Take(x, new Shape(dims), Strides.Map(dims, strides, 0)) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var perm = Perm(ctx.Op, x.Shape.Rank);
            var (dims, strides) = Walk(x.Shape, perm);
            ctx.Describe("Transpose", "Transpose", $"{x.Shape} → {ctx.OutputType(0).Shape}, perm [{string.Join(",", perm)}]",
                "y[i_perm] = x[i]");
            if (Strides.EmptyOutput(ctx)) return;
            var (d, s) = Strides.Coalesce(dims, strides);
            if (d.Length == 1 && s[0] <= 1)
            {
                // Only size-1 dimensions move: the data is already in output order.
                ctx.ViewOf(0, 0);
                return;
            }
            ctx.Call($"Transpose.Run<{x.ElementType.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Ints(d), PlanArg.Ints(s));
        }
    }
}
