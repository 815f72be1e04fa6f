using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Slice (numpy-style, with steps, negative indices and clamping as the spec describes): a strided read,
    /// offset = Σ start_d·stride_d and strides step_d·stride_d (negative for reversed axes).
    /// Opset 1–9 take starts/ends/axes as attributes; opset 10+ as inputs, which must be known at build time.
    /// </summary>
    public sealed class SliceOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Slice" };

        /// <summary>Per input dimension: first index, number of elements, step.</summary>
        internal static (int Start, int Count, int Step)[] Ranges(OpContext ctx, Shape x)
        {
            long[] starts, ends;
            long[]? axes, steps = null;
            if (ctx.Opset < 10)
            {
                starts = ctx.Ints("starts") ?? throw ctx.ShapeError("attribute 'starts' is required");
                ends = ctx.Ints("ends") ?? throw ctx.ShapeError("attribute 'ends' is required");
                axes = ctx.Ints("axes");
            }
            else
            {
                starts = ctx.RequireConstant(1, "starts").ToLongs();
                ends = ctx.RequireConstant(2, "ends").ToLongs();
                axes = ctx.HasInput(3) ? ctx.RequireConstant(3, "axes").ToLongs() : null;
                steps = ctx.HasInput(4) ? ctx.RequireConstant(4, "steps").ToLongs() : null;
            }
            int rank = x.Rank;
            axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps ??= Enumerable.Repeat(1L, starts.Length).ToArray();
            if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
                throw ctx.ShapeError($"starts, ends, axes and steps have different lengths ({starts.Length}, {ends.Length}, {axes.Length}, {steps.Length})");

            var r = Enumerable.Range(0, rank).Select(d => (Start: 0, Count: x[d], Step: 1)).ToArray();
            var seen = new HashSet<int>();
            for (int i = 0; i < starts.Length; i++)
            {
                int a = ctx.Axis(axes[i], rank, "axis");
                if (!seen.Add(a)) throw ctx.ShapeError($"axis {a} is sliced twice");
                long dim = x[a], step = steps[i];
                if (step == 0) throw ctx.ShapeError("a step is 0");
                if (step > int.MaxValue || step < -int.MaxValue) step = step > 0 ? dim + 1 : -(dim + 1);
                long s = starts[i] < 0 ? starts[i] + dim : starts[i];
                long e = ends[i] < 0 ? ends[i] + dim : ends[i];
                long count;
                if (step > 0)
                {
                    s = Clamp(s, 0, dim); e = Clamp(e, 0, dim);
                    count = e > s ? (e - s + step - 1) / step : 0;
                }
                else
                {
                    s = Clamp(s, 0, dim - 1); e = Clamp(e, -1, dim - 1);
                    count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
                }
                r[a] = ((int)Math.Max(s, 0), (int)count, (int)step);
            }
            return r;
        }

        private static long Clamp(long v, long lo, long hi) => v < lo ? lo : v > hi ? hi : v;

        private static (int[] Dims, int[] Strides, int Offset) Walk(OpContext ctx, Shape x)
        {
            var ranges = Ranges(ctx, x);
            var st = x.Strides();
            int offset = 0;
            for (int d = 0; d < x.Rank; d++) if (ranges[d].Count > 0) offset += ranges[d].Start * st[d];
            return (ranges.Select(r => r.Count).ToArray(), ranges.Select((r, d) => r.Step * st[d]).ToArray(), offset);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            return new[] { x.WithShape(new Shape(Ranges(ctx, x.Shape).Select(r => r.Count))) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (dims, strides, offset) = Walk(ctx, x.Shape);
            var shape = new Shape(dims);
            return new[] { Strides.Take(x, shape, shape.ElementCount == 0 ? new int[0] : Strides.Map(dims, strides, offset)) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var ranges = Ranges(ctx.Op, x.Shape);
            var (dims, strides, offset) = Walk(ctx.Op, x.Shape);
            string detail = string.Join(", ", ranges.Select((r, d) => r.Step == 1 ? $"{r.Start}:{r.Start + r.Count}" : $"{r.Start}:{r.Start + r.Count * r.Step}:{r.Step}"));
            ctx.Describe("Slice", "Slice", $"{x.Shape} → {ctx.OutputType(0).Shape}, [{detail}]", "y = x[start : end : step] per axis");
            Strides.EmitCopy(ctx, 0, 0, dims, strides, offset);
        }
    }
}
