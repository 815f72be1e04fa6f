using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Reshape, Flatten, Squeeze, Unsqueeze and Identity: the data does not move, so lowering makes the output a view of
    /// the input (no kernel call) unless the output is a graph output.
    /// </summary>
    public sealed class ViewOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (ctx.Node.OpType == "Dropout") CheckInference(ctx);
            var shape = OutputShape(ctx, x.Shape);
            if (shape.ElementCount != x.Shape.ElementCount)
                throw ctx.ShapeError($"cannot view {x.Shape} ({x.Shape.ElementCount} elements) as {shape} ({shape.ElementCount} elements)");
            var t = new TensorType(x.ElementType, shape);
            if (ctx.Node.OpType == "Dropout" && ctx.Node.Outputs.Count > 1 && ctx.Node.Outputs[1].Length > 0)
                return new[] { t, new TensorType(DataType.Bool, shape) };
            return new[] { t };
        }

        /// <summary>Dropout in training mode with a ratio above 0 is random: refused rather than computed differently.</summary>
        private static void CheckInference(OpContext ctx)
        {
            // Before opset 12 there is no training input (opset < 7's is_test is ignored, as inference runtimes do).
            bool training = ctx.Opset >= 12 && ctx.HasInput(2) && ctx.RequireConstant(2, "training_mode").ToDoubles()[0] != 0;
            if (!training) return;
            double ratio = ctx.HasInput(1) ? ctx.RequireConstant(1, "ratio").ToDoubles()[0] : 0.5;
            if (ratio != 0) throw ctx.Unsupported($"Dropout in training mode (ratio {ratio}) is random; only inference (or ratio 0) is supported");
        }

        private static Shape OutputShape(OpContext ctx, Shape x)
        {
            switch (ctx.Node.OpType)
            {
                case "Reshape":
                {
                    long[] spec = ctx.Opset < 5 ? (ctx.Ints("shape") ?? throw ctx.ShapeError("shape attribute is required"))
                                                : ctx.RequireConstant(1, "shape").ToLongs();
                    bool allowZero = ctx.Int("allowzero", 0) != 0;
                    var dims = new long[spec.Length];
                    int infer = -1;
                    long known = 1;
                    for (int i = 0; i < spec.Length; i++)
                    {
                        long d = spec[i];
                        if (d == 0 && !allowZero)
                        {
                            if (i >= x.Rank) throw ctx.ShapeError($"shape entry {i} is 0 (copy) but the input has rank {x.Rank}");
                            d = x[i];
                        }
                        if (d == -1)
                        {
                            if (infer >= 0) throw ctx.ShapeError("shape has more than one -1");
                            infer = i; dims[i] = -1; continue;
                        }
                        if (d < 0) throw ctx.ShapeError($"shape entry {d} is invalid");
                        dims[i] = d; known *= d;
                        if (known > int.MaxValue) throw ctx.Error(Diagnostics.DiagnosticIds.TensorTooLarge, "target shape is too large");
                    }
                    if (infer >= 0)
                    {
                        if (known == 0 || x.ElementCount % known != 0)
                            throw ctx.ShapeError($"cannot infer the -1 dimension: {x.ElementCount} elements into [{string.Join(",", spec)}]");
                        dims[infer] = x.ElementCount / known;
                    }
                    return new Shape(dims.Select(d => (int)d));
                }
                case "Flatten":
                {
                    // Flatten's axis is in [-r, r]: a negative one counts from r, not r + 1.
                    long a0 = ctx.Int("axis", 1);
                    int axis = a0 < 0 ? ctx.Axis(a0, x.Rank) : ctx.Axis(a0, x.Rank + 1);
                    int a = x.Dims.Take(axis).Aggregate(1, (p, d) => p * d);
                    int b = x.Dims.Skip(axis).Aggregate(1, (p, d) => p * d);
                    return new Shape(a, b);
                }
                case "Squeeze":
                {
                    long[]? axes = ctx.Opset >= 13 ? (ctx.HasInput(1) ? ctx.RequireConstant(1, "axes").ToLongs() : null) : ctx.Ints("axes");
                    if (axes is null) return new Shape(x.Dims.Where(d => d != 1));
                    var set = new HashSet<int>(axes.Select(a => ctx.Axis(a, x.Rank)));
                    foreach (var a in set) if (x[a] != 1) throw ctx.ShapeError($"cannot squeeze axis {a} of size {x[a]}");
                    return new Shape(x.Dims.Where((d, i) => !set.Contains(i)));
                }
                case "Unsqueeze":
                {
                    long[] axes = ctx.Opset >= 13 ? ctx.RequireConstant(1, "axes").ToLongs() : (ctx.Ints("axes") ?? throw ctx.ShapeError("axes is required"));
                    int rank = x.Rank + axes.Length;
                    var set = new HashSet<int>(axes.Select(a => ctx.Axis(a, rank)));
                    if (set.Count != axes.Length) throw ctx.ShapeError("axes has duplicates");
                    var dims = new List<int>();
                    int k = 0;
                    for (int i = 0; i < rank; i++) dims.Add(set.Contains(i) ? 1 : x[k++]);
                    return new Shape(dims);
                }
                default: return x;
            }
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var types = InferTypes(ctx);
            var y = inputs[0]!.Reshape(types[0].Shape);
            if (types.Length > 1) return new[] { y, new Tensor(DataType.Bool, types[1].Shape, Enumerable.Repeat(true, types[1].Shape.ElementCount).ToArray()) };
            return new[] { y };
        }

        public override void Lower(LowerContext ctx)
        {
            ctx.Describe(ctx.Node.OpType, "Copy", $"{ctx.InputType(0).Shape} as {ctx.OutputType(0).Shape}", "y = x (same data, new shape)");
            ctx.ViewOf(0, 0);
            if (ctx.OutputCount > 1 && ctx.HasOutput(1))
            {
                // Dropout's mask outside training: every element kept.
                var mask = ctx.OutputType(1);
                if (mask.Shape.ElementCount == 0) { ctx.Out(1); return; }
                ctx.Call("Copy.Run<bool>", Plan.PlanArg.In(ctx.Constant("mask", new Tensor(DataType.Bool, mask.Shape, Enumerable.Repeat(true, mask.Shape.ElementCount).ToArray()))), ctx.OutArg(1));
            }
        }
    }
}
