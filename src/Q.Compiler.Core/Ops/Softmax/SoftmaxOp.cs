using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Softmax
{
    /// <summary>
    /// Softmax and LogSoftmax, float32. Before opset 13 the input is coerced to 2-D at <c>axis</c> (default 1) and the
    /// normalisation runs over everything from <c>axis</c> on; from opset 13 it runs over the one axis <c>axis</c> (default −1).
    /// Either way the problem is [outer, n, inner] with the reduction over n.
    /// </summary>
    public sealed class SoftmaxOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Softmax", "LogSoftmax" };

        /// <summary>The [outer, n, inner] view of the input.</summary>
        internal static (int Outer, int N, int Inner) Geometry(OpContext ctx, Shape x)
        {
            if (x.Rank == 0) throw ctx.ShapeError($"{ctx.Node.OpType} needs an input of rank 1 or more");
            bool perAxis = ctx.Opset >= 13;
            int axis = ctx.Axis(ctx.Int("axis", perAxis ? -1 : 1), x.Rank);
            int outer = 1, n = 1, inner = 1;
            for (int i = 0; i < x.Rank; i++)
            {
                if (i < axis) outer *= x[i];
                else if (i == axis || !perAxis) n *= x[i];
                else inner *= x[i];
            }
            return (outer, n, inner);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported (float32 only)");
            Geometry(ctx, x.Shape);
            return new[] { x };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var t = inputs[0]!;
            var (outer, n, inner) = Geometry(ctx, t.Shape);
            bool log = ctx.Node.OpType == "LogSoftmax";
            var x = t.ToDoubles();
            var y = new float[x.Length];
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                {
                    int b = o * n * inner + j;
                    double max = double.NegativeInfinity, sum = 0;
                    for (int k = 0; k < n; k++) max = Math.Max(max, x[b + k * inner]);
                    for (int k = 0; k < n; k++) sum += Math.Exp(x[b + k * inner] - max);
                    for (int k = 0; k < n; k++)
                    {
                        double d = x[b + k * inner] - max;
                        y[b + k * inner] = (float)(log ? d - Math.Log(sum) : Math.Exp(d) / sum);
                    }
                }
            return new[] { Tensor.FromFloats(t.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0).Shape;
            var (outer, n, inner) = Geometry(ctx.Op, x);
            bool log = ctx.Node.OpType == "LogSoftmax";
            string over = inner == 1 ? $"rows of {n}" : $"{n} values {inner} apart";
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType + n, $"{outer * inner} × {over}",
                log ? "y = x − max − ln Σ e^(x − max)" : "y = e^(x − max) / Σ e^(x − max)");
            if (inner == 1)
                ctx.Call("Softmax.Rows", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(n), PlanArg.Bool(log));
            else
            {
                string stats = ctx.Scratch("stats", DataType.Float, new Shape(2 * inner));
                ctx.Call("Softmax.Strided", ctx.InArg(0), ctx.OutArg(0), PlanArg.Out(stats), PlanArg.Int(outer), PlanArg.Int(n), PlanArg.Int(inner), PlanArg.Bool(log));
            }
        }
    }
}
