using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// ReverseSequence (lengths read at run time) and Compress (the condition must be known at build time, since it
    /// decides the output's shape; the kept positions then become a Gather).
    /// </summary>
    public sealed class SequenceOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "ReverseSequence", "Compress" };

        /// <summary>ReverseSequence: steps, batches, and the strides and block size of the [time, batch, inner] walk.</summary>
        private static (int Steps, int Batches, int TimeStride, int BatchStride, int Inner) Walk(OpContext ctx, Shape x)
        {
            if (x.Rank < 2) throw ctx.ShapeError($"the input must have rank 2 or more, it is {x}");
            int batchAxis = ctx.Axis(ctx.Int("batch_axis", 1), x.Rank), timeAxis = ctx.Axis(ctx.Int("time_axis", 0), x.Rank);
            if (batchAxis + timeAxis != 1) throw ctx.ShapeError("batch_axis and time_axis must be 0 and 1");
            var st = x.Strides();
            return (x[timeAxis], x[batchAxis], st[timeAxis], st[batchAxis], st[1]);
        }

        /// <summary>Compress: the kept indices along the axis (or of the flattened input) and the (outer, dim, inner) view.</summary>
        private static (long[] Kept, int Outer, int Dim, int Inner, Shape Out) Kept(OpContext ctx, Shape x, Tensor? condition)
        {
            var c = condition ?? ctx.RequireConstant(1, "condition");
            var kept = c.ToDoubles().Select((v, i) => (v, i)).Where(p => p.v != 0).Select(p => (long)p.i).ToArray();
            if (!ctx.Has("axis"))
            {
                if (kept.Any(k => k >= x.ElementCount)) throw ctx.ShapeError("the condition is longer than the input");
                return (kept, 1, x.ElementCount, 1, new Shape(kept.Length));
            }
            int axis = ctx.Axis(ctx.Int("axis"), x.Rank);
            if (kept.Any(k => k >= x[axis])) throw ctx.ShapeError($"the condition is longer than dimension {axis} of {x}");
            var dims = x.ToArray();
            dims[axis] = kept.Length;
            return (kept, x.Dims.Take(axis).Aggregate(1, (a, b) => a * b), x[axis], x.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b), new Shape(dims));
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (ctx.Node.OpType == "Compress") return new[] { x.WithShape(Kept(ctx, x.Shape, null).Out) };
            Walk(ctx, x.Shape);
            var lens = ctx.Input(1);
            if (lens.Shape.Rank != 1 || lens.Shape[0] != Walk(ctx, x.Shape).Batches) throw ctx.ShapeError($"sequence_lens {lens.Shape} does not match the batch size");
            return new[] { x };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var map = new int[x.Shape.ElementCount];
            if (ctx.Node.OpType == "Compress")
            {
                var (kept, outer, dim, inner, shape) = Kept(ctx, x.Shape, inputs[1]);
                map = new int[shape.ElementCount];
                int f = 0;
                for (int o = 0; o < outer; o++) foreach (long k in kept) for (int i = 0; i < inner; i++) map[f++] = (int)((o * dim + k) * inner + i);
                return new[] { Strides.Take(x, shape, map) };
            }
            var (steps, batches, ts, bs, blk) = Walk(ctx, x.Shape);
            var lens = inputs[1]!.ToLongs();
            for (int b = 0; b < batches; b++)
            {
                long len = Math.Max(0, Math.Min(steps, lens[b]));
                for (int t = 0; t < steps; t++)
                {
                    int src = t < len ? (int)len - 1 - t : t;
                    for (int i = 0; i < blk; i++) map[t * ts + b * bs + i] = src * ts + b * bs + i;
                }
            }
            return new[] { Strides.Take(x, x.Shape, map) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            string t = x.ElementType.CSharpName();
            if (ctx.Node.OpType == "Compress")
            {
                var (kept, outer, dim, inner, shape) = Kept(ctx.Op, x.Shape, null);
                ctx.Describe("Compress", "Compress", $"{x.Shape} → {shape}, keeping {kept.Length} of {dim}", "y = x[…, kept, …]");
                if (Strides.EmptyOutput(ctx)) return;
                var indices = ctx.Constant("kept", Tensor.FromLongs(new Shape(kept.Length), kept));
                ctx.Call($"Gather.Run<{t}, long>", ctx.InArg(0), PlanArg.In(indices), ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(dim), PlanArg.Int(inner));
                return;
            }
            var (steps, batches, ts, bs, blk) = Walk(ctx.Op, x.Shape);
            ctx.Describe("ReverseSequence", "ReverseSequence", $"{x.Shape}, {steps} steps × {batches} sequences", "y[t, b] = x[len_b − 1 − t, b] for t < len_b");
            if (Strides.EmptyOutput(ctx)) return;
            ctx.Call($"ReverseSequence.Run<{t}, {ctx.InputType(1).ElementType.CSharpName()}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0),
                PlanArg.Int(steps), PlanArg.Int(batches), PlanArg.Int(ts), PlanArg.Int(bs), PlanArg.Int(blk));
        }
    }
}
