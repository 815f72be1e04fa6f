using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Scatters with indices read at run time: MaxUnpool (values back to the positions MaxPool took them from, zeros
    /// elsewhere; an output_shape input must be known at build time) and TensorScatter (KV-cache update, linear or circular).
    /// </summary>
    public sealed class UnpoolCacheOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "MaxUnpool", "TensorScatter" };

        private static Shape UnpoolShape(OpContext ctx, Shape x)
        {
            if (ctx.HasInput(2))
            {
                var s = ctx.RequireConstant(2, "output_shape").ToLongs();
                if (s.Length != x.Rank || s.Any(d => d < 0 || d > int.MaxValue)) throw ctx.ShapeError($"output_shape [{string.Join(",", s)}] is invalid for {x}");
                return new Shape(s.Select(d => (int)d));
            }
            int spatial = x.Rank - 2;
            var k = ctx.Ints("kernel_shape") ?? throw ctx.ShapeError("kernel_shape is required");
            var st = ctx.Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
            var pads = ctx.Ints("pads") ?? new long[2 * spatial];
            if (spatial < 1 || k.Length != spatial || st.Length != spatial || pads.Length != 2 * spatial)
                throw ctx.ShapeError($"kernel_shape, strides and pads do not match the {spatial} spatial dimensions of {x}");
            var dims = x.ToArray();
            for (int d = 0; d < spatial; d++)
            {
                long v = (x[d + 2] - 1) * st[d] - pads[d] - pads[d + spatial] + k[d];
                if (v < 0 || v > int.MaxValue) throw ctx.ShapeError("the unpooled size is invalid");
                dims[d + 2] = (int)v;
            }
            return new Shape(dims);
        }

        /// <summary>TensorScatter: (axis, prefixes before it, batches, capacity, update steps, block after it).</summary>
        private static (int Axis, int Outer, int Batches, int Capacity, int Steps, int Inner) Cache(OpContext ctx, Shape past, Shape update)
        {
            int axis = ctx.Axis(ctx.Int("axis", -2), past.Rank);
            if (axis == 0) throw ctx.ShapeError("axis cannot be the batch dimension");
            if (update.Rank != past.Rank || Enumerable.Range(0, past.Rank).Any(d => d != axis && past[d] != update[d]) || update[axis] > past[axis])
                throw ctx.ShapeError($"update {update} does not fit cache {past} along axis {axis}");
            return (axis, past.Dims.Take(axis).Aggregate(1, (a, b) => a * b), past[0], past[axis], update[axis],
                past.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b));
        }

        private static bool Circular(OpContext ctx)
        {
            string mode = ctx.String("mode", "linear");
            return mode switch
            {
                "linear" => false, "circular" => true,
                _ => throw ctx.Unsupported($"mode '{mode}' is not supported (linear, circular)"),
            };
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType == DataType.String) throw ctx.Error(Diagnostics.DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            if (ctx.Node.OpType == "TensorScatter")
            {
                Cache(ctx, x.Shape, ctx.Input(1).Shape);
                Circular(ctx);
                return new[] { x };
            }
            if (ctx.Input(1).ElementType != DataType.Int64 || !ctx.Input(1).Shape.Equals(x.Shape)) throw ctx.ShapeError("indices must be int64 with X's shape");
            return new[] { x.WithShape(UnpoolShape(ctx, x.Shape)) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var x = inputs[0]!;
            // Sources: x's elements, then the update's (or a zero); the map says which one each output element takes.
            var extra = ctx.Node.OpType == "TensorScatter" ? inputs[1]! : Tensor.FromDoubles(x.ElementType, new Shape(1), new double[1]);
            var src = Array.CreateInstance(x.Data.GetType().GetElementType()!, x.Length + extra.Length);
            Array.Copy(x.Data, src, x.Length);
            Array.Copy(extra.Data, 0, src, x.Length, extra.Length);
            var map = new int[type.Shape.ElementCount];
            if (ctx.Node.OpType == "MaxUnpool")
            {
                for (int i = 0; i < map.Length; i++) map[i] = x.Length;
                var idx = inputs[1]!.ToLongs();
                for (int i = 0; i < idx.Length; i++)
                {
                    if (idx[i] < 0 || idx[i] >= map.Length) throw ctx.ShapeError($"index {idx[i]} is out of range");
                    map[idx[i]] = i;
                }
            }
            else
            {
                var (_, outer, batches, capacity, steps, inner) = Cache(ctx, x.Shape, extra.Shape);
                var w = inputs.Count > 2 && inputs[2] is not null ? inputs[2]!.ToLongs() : new long[batches];
                bool circular = Circular(ctx);
                for (int i = 0; i < map.Length; i++) map[i] = i;
                for (int o = 0; o < outer; o++)
                    for (int s = 0; s < steps; s++)
                    {
                        long pos = w[o / (outer / batches)] + s;
                        if (circular) pos = ((pos % capacity) + capacity) % capacity;
                        if (pos < 0 || pos >= capacity) throw ctx.ShapeError($"cache position {pos} is out of range");
                        for (int i = 0; i < inner; i++) map[(o * capacity + (int)pos) * inner + i] = x.Length + (o * steps + s) * inner + i;
                    }
            }
            return new[] { Strides.Take(new Tensor(x.ElementType, new Shape(src.Length), src), type.Shape, map) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            string t = x.ElementType.CSharpName();
            if (ctx.Node.OpType == "MaxUnpool")
            {
                ctx.Describe("MaxUnpool", "MaxUnpool", $"{x.Shape} → {ctx.OutputType(0).Shape}", "y = 0; y[indices[i]] = x[i]");
                if (Strides.EmptyOutput(ctx)) return;
                ctx.Call($"Scatter.Unpool<{t}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0));
                return;
            }
            var (axis, outer, batches, capacity, steps, inner) = Cache(ctx.Op, x.Shape, ctx.InputType(1).Shape);
            bool circular = Circular(ctx.Op);
            ctx.Describe("TensorScatter", "TensorScatter", $"{x.Shape} ← {ctx.InputType(1).Shape}, axis {axis}, {(circular ? "circular" : "linear")}",
                "y = past; y[b, …, w_b + s, …] = update[b, …, s, …]");
            if (Strides.EmptyOutput(ctx)) return;
            var w = ctx.Op.HasInput(2) ? ctx.InArg(2) : PlanArg.In(ctx.Constant("write_indices", Tensor.FromLongs(new Shape(batches), new long[batches])));
            ctx.Call($"Scatter.Cache<{t}>", ctx.InArg(0), ctx.InArg(1), w, ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(batches),
                PlanArg.Int(capacity), PlanArg.Int(steps), PlanArg.Int(inner), PlanArg.Bool(circular));
        }
    }
}
