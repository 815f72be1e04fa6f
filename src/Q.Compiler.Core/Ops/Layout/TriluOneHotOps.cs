using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Trilu (upper or lower triangle of the last two dimensions, diagonal offset k known at build time) and
    /// OneHot (depth known at build time; off/on values and indices read at run time).
    /// </summary>
    public sealed class TriluOneHotOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Trilu", "OneHot" };

        /// <summary>The diagonal offset when known at build time (0 when omitted); null when computed at run time.</summary>
        private static long? K(OpContext ctx) => !ctx.HasInput(1) ? 0 : ctx.Constant(1)?.ToLongs()[0];

        private static int Depth(OpContext ctx)
        {
            double d = ctx.RequireConstant(1, "depth").ToDoubles()[0];
            if (d < 1 || d > int.MaxValue) throw ctx.ShapeError($"depth {d} is invalid");
            return (int)d;
        }

        /// <summary>OneHot: (axis in the output, outer, inner).</summary>
        private static (int Axis, int Outer, int Inner) OneHotGeometry(OpContext ctx, Shape indices)
        {
            int axis = ctx.Axis(ctx.Int("axis", -1), indices.Rank + 1);
            int outer = indices.Dims.Take(axis).Aggregate(1, (a, b) => a * b);
            int inner = indices.Dims.Skip(axis).Aggregate(1, (a, b) => a * b);
            return (axis, outer, inner);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (ctx.Node.OpType == "Trilu")
            {
                if (x.Shape.Rank < 2) throw ctx.ShapeError($"the input must have rank 2 or more, it is {x.Shape}");
                if (ctx.HasInput(1) && (ctx.Input(1).Shape.ElementCount != 1 || ctx.Input(1).ElementType != DataType.Int64))
                    throw ctx.ShapeError("k must be an int64 scalar");
                return new[] { x };
            }
            var values = ctx.Input(2);
            if (values.Shape.ElementCount != 2) throw ctx.ShapeError($"values must hold [off, on], it has shape {values.Shape}");
            if (x.ElementType == DataType.Bool || x.ElementType == DataType.String) throw ctx.ShapeError($"indices of {x.ElementType.ShortName()} are invalid");
            var (axis, _, _) = OneHotGeometry(ctx, x.Shape);
            var dims = x.Shape.ToArray().ToList();
            dims.Insert(axis, Depth(ctx));
            return new[] { new TensorType(values.ElementType, new Shape(dims)) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var x = inputs[0]!;
            var map = new int[type.Shape.ElementCount];
            if (ctx.Node.OpType == "Trilu")
            {
                // Read x where kept; else x's extra element, a zero.
                long k = K(ctx) ?? inputs[1]!.ToLongs()[0];
                bool upper = ctx.Int("upper", 1) != 0;
                int rows = x.Shape[x.Shape.Rank - 2], cols = x.Shape[x.Shape.Rank - 1];
                var ext = Array.CreateInstance(x.Data.GetType().GetElementType()!, x.Length + 1);
                Array.Copy(x.Data, ext, x.Length);
                for (int f = 0; f < map.Length; f++)
                {
                    int i = f / cols % rows, j = f % cols;
                    bool keep = upper ? j - i >= k : j - i <= k;
                    map[f] = keep ? f : x.Length;
                }
                return new[] { Strides.Take(new Tensor(x.ElementType, new Shape(ext.Length), ext), type.Shape, map) };
            }
            var values = inputs[2]!;
            int depth = Depth(ctx);
            var (_, outer, inner) = OneHotGeometry(ctx, x.Shape);
            var idx = x.ToDoubles();
            for (int o = 0; o < outer; o++)
                for (int d = 0; d < depth; d++)
                    for (int i = 0; i < inner; i++)
                    {
                        long v = (long)idx[o * inner + i];
                        if (v < 0) v += depth;
                        map[(o * depth + d) * inner + i] = v == d ? 1 : 0;
                    }
            return new[] { Strides.Take(values.Reshape(new Shape(2)), type.Shape, map) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var y = ctx.OutputType(0);
            if (ctx.Node.OpType == "Trilu")
            {
                long? k = K(ctx.Op);
                bool upper = ctx.Op.Int("upper", 1) != 0;
                ctx.Describe("Trilu", "Trilu", $"{x.Shape}, {(upper ? "upper" : "lower")}, k = {(k is null ? "input" : k.ToString())}",
                    upper ? "y = j − i ≥ k ? x : 0" : "y = j − i ≤ k ? x : 0");
                if (Strides.EmptyOutput(ctx)) return;
                var kArg = k is null ? ctx.InArg(1) : PlanArg.In(ctx.Constant("k", Tensor.FromLongs(new Shape(1), new[] { k.Value })));
                ctx.Call($"Trilu.Run<{x.ElementType.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0),
                    PlanArg.Int(x.Shape[x.Shape.Rank - 2]), PlanArg.Int(x.Shape[x.Shape.Rank - 1]), kArg, PlanArg.Bool(upper));
                return;
            }
            var (axis, outer, inner) = OneHotGeometry(ctx.Op, x.Shape);
            int depth = Depth(ctx.Op);
            ctx.Describe("OneHot", "OneHot", $"{x.Shape} → {y.Shape}, depth {depth}, axis {axis}", "y[…, d, …] = indices[…] == d ? on : off");
            if (Strides.EmptyOutput(ctx)) return;
            ctx.Call($"OneHot.Run<{x.ElementType.CSharpName()}, {y.ElementType.CSharpName()}>", ctx.InArg(0), ctx.InArg(2), ctx.OutArg(0),
                PlanArg.Int(outer), PlanArg.Int(depth), PlanArg.Int(inner));
        }
    }
}
