using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Gather (any axis), GatherElements and GatherND (with batch_dims); indices are int32 or int64 (GatherND: int64),
    /// negative ones count from the end.
    /// Indices known at build time are checked then; indices computed at run time are checked by the kernel.
    /// </summary>
    public sealed class GatherOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Gather", "GatherElements", "GatherND" };

        private static bool Elements(OpContext ctx) => ctx.Node.OpType == "GatherElements";

        /// <summary>GatherND: batches, index tuples per batch, x elements per batch, indexed dims and strides, block size, output shape.</summary>
        private static (int Batches, int PerBatch, int XBatch, int[] Dims, int[] Strides, int Slice, Shape Out) Nd(OpContext ctx, Shape x, Shape idx)
        {
            int b = (int)ctx.Int("batch_dims", 0);
            if (idx.Rank < 1 || b < 0 || b >= Math.Min(x.Rank, idx.Rank)) throw ctx.ShapeError($"batch_dims {b} is invalid for data {x} and indices {idx}");
            int k = idx[idx.Rank - 1];
            if (k < 1 || b + k > x.Rank) throw ctx.ShapeError($"indices {idx} select {k} coordinates, data {x} has {x.Rank - b} after the batch dimensions");
            for (int d = 0; d < b; d++) if (x[d] != idx[d]) throw ctx.ShapeError($"batch dimensions of data {x} and indices {idx} differ");
            int Prod(IEnumerable<int> ds) => ds.Aggregate(1, (p, q) => p * q);
            var st = x.Strides();
            var outShape = new Shape(idx.Dims.Take(idx.Rank - 1).Concat(x.Dims.Skip(b + k)));
            return (Prod(x.Dims.Take(b)), Prod(idx.Dims.Skip(b).Take(idx.Rank - 1 - b)), Prod(x.Dims.Skip(b)),
                x.Dims.Skip(b).Take(k).ToArray(), st.Skip(b).Take(k).ToArray(), Prod(x.Dims.Skip(b + k)), outShape);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            var idx = ctx.Input(1);
            if (ctx.Node.OpType == "GatherND")
            {
                if (idx.ElementType != DataType.Int64) throw ctx.ShapeError($"indices are {idx.ElementType.ShortName()}; int64 is required");
                return new[] { x.WithShape(Nd(ctx, x.Shape, idx.Shape).Out) };
            }
            if (idx.ElementType != DataType.Int64 && idx.ElementType != DataType.Int32)
                throw ctx.ShapeError($"indices are {idx.ElementType.ShortName()}; int32 or int64 are required");
            if (x.Shape.Rank == 0) throw ctx.ShapeError("cannot gather from a scalar");
            int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            if (Elements(ctx))
            {
                if (idx.Shape.Rank != x.Shape.Rank) throw ctx.ShapeError($"indices {idx.Shape} and data {x.Shape} have different ranks");
                for (int d = 0; d < x.Shape.Rank; d++)
                    if (d != axis && idx.Shape[d] > x.Shape[d]) throw ctx.ShapeError($"indices {idx.Shape} are larger than data {x.Shape} outside axis {axis}");
                CheckConstantIndices(ctx, x.Shape[axis]);
                return new[] { x.WithShape(idx.Shape) };
            }
            CheckConstantIndices(ctx, x.Shape[axis]);
            var dims = x.Shape.Dims.Take(axis).Concat(idx.Shape.Dims).Concat(x.Shape.Dims.Skip(axis + 1));
            return new[] { x.WithShape(new Shape(dims)) };
        }

        private static void CheckConstantIndices(OpContext ctx, int n)
        {
            var c = ctx.Constant(1);
            if (c is null) return;
            foreach (long i in c.ToLongs())
                if (i < -n || i >= n) throw ctx.ShapeError($"index {i} is out of range for a dimension of size {n}");
        }

        private static long Norm(long i, int n) => i < 0 ? i + n : i;

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var x = inputs[0]!;
            var indices = inputs[1]!.ToLongs();
            var map = new int[type.Shape.ElementCount];
            if (ctx.Node.OpType == "GatherND")
            {
                var g = Nd(ctx, x.Shape, inputs[1]!.Shape);
                int t = 0, f = 0;
                for (int b = 0; b < g.Batches; b++)
                    for (int m = 0; m < g.PerBatch; m++, t++)
                    {
                        int off = b * g.XBatch;
                        for (int j = 0; j < g.Dims.Length; j++)
                        {
                            long v = indices[t * g.Dims.Length + j];
                            if (v < -g.Dims[j] || v >= g.Dims[j]) throw ctx.ShapeError($"index {v} is out of range for a dimension of size {g.Dims[j]}");
                            off += (int)Norm(v, g.Dims[j]) * g.Strides[j];
                        }
                        for (int i = 0; i < g.Slice; i++) map[f++] = off + i;
                    }
                return new[] { Strides.Take(x, type.Shape, map) };
            }
            int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            int n = x.Shape[axis];
            if (Elements(ctx))
            {
                var st = x.Shape.Strides();
                var dims = type.Shape;
                var idx = new int[dims.Rank];
                for (int f = 0; f < map.Length; f++)
                {
                    int off = 0;
                    for (int d = 0; d < dims.Rank; d++) off += (d == axis ? (int)Norm(indices[f], n) : idx[d]) * st[d];
                    map[f] = off;
                    for (int d = dims.Rank - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
                }
            }
            else
            {
                int outer = x.Shape.Dims.Take(axis).Aggregate(1, (a, b) => a * b);
                int inner = x.Shape.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
                int f = 0;
                for (int o = 0; o < outer; o++)
                    foreach (long k in indices)
                        for (int i = 0; i < inner; i++) map[f++] = (int)((o * n + Norm(k, n)) * inner + i);
            }
            return new[] { Strides.Take(x, type.Shape, map) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var idx = ctx.InputType(1);
            var y = ctx.OutputType(0);
            if (ctx.Node.OpType == "GatherND")
            {
                var g = Nd(ctx.Op, x.Shape, idx.Shape);
                ctx.Describe("GatherND", "GatherND", $"{x.Shape} by {idx.Shape} → {y.Shape}, batch_dims {ctx.Op.Int("batch_dims", 0)}", "y[b, m] = x[b, indices[b, m]]");
                if (Strides.EmptyOutput(ctx)) return;
                ctx.Call($"Gather.ND<{x.ElementType.CSharpName()}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0), PlanArg.Int(g.Batches), PlanArg.Int(g.PerBatch),
                    PlanArg.Int(g.XBatch), PlanArg.Ints(g.Dims), PlanArg.Ints(g.Strides), PlanArg.Int(g.Slice));
                return;
            }
            int axis = ctx.Op.Axis(ctx.Op.Int("axis", 0), x.Shape.Rank);
            string types = $"{x.ElementType.CSharpName()}, {idx.ElementType.CSharpName()}";
            if (Elements(ctx.Op))
            {
                ctx.Describe("GatherElements", "GatherElements", $"{x.Shape} by {idx.Shape}, axis {axis}", "y[i] = x[i with i_axis = indices[i]]");
                if (Strides.EmptyOutput(ctx)) return;
                ctx.Call($"Gather.Elements<{types}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0),
                    PlanArg.Ints(idx.Shape.Rank == 0 ? new[] { 1 } : idx.Shape.ToArray()), PlanArg.Ints(x.Shape.Strides()), PlanArg.Int(axis), PlanArg.Int(x.Shape[axis]));
                return;
            }
            ctx.Describe("Gather", "Gather", $"{x.Shape} by {idx.Shape} → {y.Shape}, axis {axis}", "y[…, k, …] = x[…, indices[k], …]");
            if (Strides.EmptyOutput(ctx)) return;
            int outer = x.Shape.Dims.Take(axis).Aggregate(1, (a, b) => a * b);
            int inner = x.Shape.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
            ctx.Call($"Gather.Run<{types}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(x.Shape[axis]), PlanArg.Int(inner));
        }
    }
}
