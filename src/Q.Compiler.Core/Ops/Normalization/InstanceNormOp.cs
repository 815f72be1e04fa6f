using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Normalization
{
    /// <summary>
    /// InstanceNormalization: each [n, c] plane is normalised by its own mean and variance,
    /// y = γ[c]·(x − μ) / √(σ² + ε) + β[c], float32.
    /// </summary>
    public sealed class InstanceNormOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "InstanceNormalization" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"InstanceNormalization on {x.ElementType.ShortName()} is not supported (float32 only)");
            if (x.Shape.Rank < 3) throw ctx.ShapeError($"input {x.Shape} needs a channel and a spatial dimension");
            int c = x.Shape[1];
            if (ctx.Input(1).Shape.ElementCount != c || ctx.Input(2).Shape.ElementCount != c)
                throw ctx.ShapeError($"scale {ctx.Input(1).Shape} and bias {ctx.Input(2).Shape} must have {c} values");
            return new[] { x };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var xt = inputs[0]!;
            var x = xt.ToDoubles(); var g = inputs[1]!.ToDoubles(); var b = inputs[2]!.ToDoubles();
            double eps = ctx.Float("epsilon", 1e-5f);
            int c = xt.Shape[1], plane = xt.Shape.Dims.Skip(2).Aggregate(1, (p, d) => p * d);
            var y = new double[x.Length];
            for (int p = 0; p < x.Length / Math.Max(plane, 1); p++)
            {
                int ch = p % c, off = p * plane;
                double mean = 0, var_ = 0;
                for (int i = 0; i < plane; i++) mean += x[off + i];
                mean /= plane;
                for (int i = 0; i < plane; i++) var_ += (x[off + i] - mean) * (x[off + i] - mean);
                var_ /= plane;
                double s = g[ch] / Math.Sqrt(var_ + eps);
                for (int i = 0; i < plane; i++) y[off + i] = (x[off + i] - mean) * s + b[ch];
            }
            return new[] { Tensor.FromDoubles(DataType.Float, xt.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0).Shape;
            int c = x[1], plane = x.Dims.Skip(2).Aggregate(1, (p, d) => p * d);
            ctx.Describe("InstanceNormalization", "InstanceNorm", $"{x[0] * c} planes of {plane} values",
                "y = γ[c]·(x − μ) / √(σ² + ε) + β[c], μ and σ² per plane");
            ctx.Call("InstanceNorm.Run", ctx.InArg(0), ctx.InArg(1), ctx.InArg(2), ctx.OutArg(0),
                PlanArg.Int(x[0]), PlanArg.Int(c), PlanArg.Int(plane), PlanArg.Float(ctx.Op.Float("epsilon", 1e-5f)));
        }
    }
}
