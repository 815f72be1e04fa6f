using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// ScatterElements (and its opset 9–10 name Scatter) and ScatterND, with the none/add/mul/max/min reductions,
    /// on numeric data. Indices are read at run time (checked at build time when constant).
    /// </summary>
    public sealed class ScatterOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Scatter", "ScatterElements", "ScatterND" };

        private static int Reduction(OpContext ctx)
        {
            string r = ctx.String("reduction", "none");
            return r switch
            {
                "none" => 0, "add" => 1, "mul" => 2, "max" => 3, "min" => 4,
                _ => throw ctx.Unsupported($"reduction '{r}' is not supported"),
            };
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0); var idx = ctx.Input(1); var upd = ctx.Input(2);
            if (x.ElementType == DataType.Bool || x.ElementType == DataType.String || x.ElementType == DataType.Float16)
                throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported");
            if (upd.ElementType != x.ElementType) throw ctx.ShapeError("updates and data have different element types");
            Reduction(ctx);
            if (ctx.Node.OpType == "ScatterND")
            {
                if (idx.ElementType != DataType.Int64) throw ctx.ShapeError("indices must be int64");
                int k = idx.Shape.Rank == 0 ? 0 : idx.Shape[idx.Shape.Rank - 1];
                if (idx.Shape.Rank < 1 || k > x.Shape.Rank) throw ctx.ShapeError($"indices {idx.Shape} do not index data {x.Shape}");
                var expect = idx.Shape.Dims.Take(idx.Shape.Rank - 1).Concat(x.Shape.Dims.Skip(k)).ToArray();
                if (!upd.Shape.Equals(new Shape(expect))) throw ctx.ShapeError($"updates are {upd.Shape}, expected {new Shape(expect)}");
            }
            else
            {
                if (idx.ElementType != DataType.Int64 && idx.ElementType != DataType.Int32) throw ctx.ShapeError("indices must be int32 or int64");
                if (!idx.Shape.Equals(upd.Shape) || idx.Shape.Rank != x.Shape.Rank) throw ctx.ShapeError($"indices {idx.Shape} and updates {upd.Shape} must have the same shape and data's rank");
                ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
            }
            return new[] { x };
        }

        private static double Combine(double a, double b, int reduction) => reduction switch
        {
            1 => a + b, 2 => a * b, 3 => Math.Max(a, b), 4 => Math.Min(a, b), _ => b,
        };

        private static int Norm(long i, int n, OpContext ctx)
        {
            long k = i < 0 ? i + n : i;
            if (k < 0 || k >= n) throw ctx.ShapeError($"index {i} is out of range for a dimension of size {n}");
            return (int)k;
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            InferTypes(ctx);
            var x = inputs[0]!; var idx = inputs[1]!.ToLongs(); var upd = inputs[2]!;
            int red = Reduction(ctx);
            var y = x.ToDoubles(); var u = upd.ToDoubles();
            if (ctx.Node.OpType == "ScatterND")
            {
                var (count, dims, strides, slice) = NdGeometry(x.Shape, inputs[1]!.Shape);
                for (int c = 0; c < count; c++)
                {
                    int off = 0;
                    for (int j = 0; j < dims.Length; j++) off += Norm(idx[c * dims.Length + j], dims[j], ctx) * strides[j];
                    for (int i = 0; i < slice; i++) y[off + i] = Combine(y[off + i], u[c * slice + i], red);
                }
            }
            else
            {
                int axis = ctx.Axis(ctx.Int("axis", 0), x.Shape.Rank);
                var st = x.Shape.Strides();
                var shape = upd.Shape;
                var p = new int[shape.Rank];
                for (int f = 0; f < u.Length; f++)
                {
                    int off = 0;
                    for (int d = 0; d < shape.Rank; d++) off += (d == axis ? Norm(idx[f], x.Shape[axis], ctx) : p[d]) * st[d];
                    y[off] = Combine(y[off], u[f], red);
                    for (int d = shape.Rank - 1; d >= 0; d--) { if (++p[d] < shape[d]) break; p[d] = 0; }
                }
            }
            return new[] { x.ElementType.IsInteger() ? CastOp.FromBits(x.ElementType, x.Shape, y.Select(v => (long)v).ToArray()) : Tensor.FromDoubles(x.ElementType, x.Shape, y) };
        }

        /// <summary>ScatterND: number of index tuples, the dimensions and strides they index, and the block each selects.</summary>
        private static (int Count, int[] Dims, int[] Strides, int Slice) NdGeometry(Shape x, Shape indices)
        {
            int k = indices[indices.Rank - 1];
            int count = indices.Dims.Take(indices.Rank - 1).Aggregate(1, (a, b) => a * b);
            var st = x.Strides();
            int slice = x.Dims.Skip(k).Aggregate(1, (a, b) => a * b);
            return (count, x.Dims.Take(k).ToArray(), st.Take(k).ToArray(), slice);
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0); var idx = ctx.InputType(1);
            int red = Reduction(ctx.Op);
            string math = red switch { 1 => "y[idx] += u", 2 => "y[idx] *= u", 3 => "y[idx] = max(y[idx], u)", 4 => "y[idx] = min(y[idx], u)", _ => "y = x; y[idx] = u" };
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, $"{x.Shape} with updates {ctx.InputType(2).Shape}", math);
            if (Strides.EmptyOutput(ctx)) return;
            string t = x.ElementType.CSharpName();
            if (ctx.Node.OpType == "ScatterND")
            {
                var (count, dims, strides, slice) = NdGeometry(x.Shape, idx.Shape);
                ctx.Call($"Scatter.ND<{t}>", ctx.InArg(0), ctx.InArg(1), ctx.InArg(2), ctx.OutArg(0),
                    PlanArg.Int(count), PlanArg.Ints(dims), PlanArg.Ints(strides), PlanArg.Int(slice), PlanArg.Int(red));
                return;
            }
            int axis = ctx.Op.Axis(ctx.Op.Int("axis", 0), x.Shape.Rank);
            ctx.Call($"Scatter.Elements<{t}, {idx.ElementType.CSharpName()}>", ctx.InArg(0), ctx.InArg(1), ctx.InArg(2), ctx.OutArg(0),
                PlanArg.Ints(idx.Shape.ToArray()), PlanArg.Ints(x.Shape.Strides()), PlanArg.Int(axis), PlanArg.Int(x.Shape[axis]), PlanArg.Int(red));
        }
    }
}
