using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Normalization
{
    /// <summary>
    /// LRN (local response normalisation across channels): y = x / (bias + α/size · Σ x²)^β, the sum over the channels
    /// c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉, float32.
    /// </summary>
    public sealed class LrnOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "LRN" };

        private static (int Size, float Alpha, float Beta, float Bias) Params(OpContext ctx)
        {
            long size = ctx.Int("size");
            if (size <= 0) throw ctx.ShapeError($"size {size} must be positive");
            return ((int)size, ctx.Float("alpha", 1e-4f), ctx.Float("beta", 0.75f), ctx.Float("bias", 1f));
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"LRN on {x.ElementType.ShortName()} is not supported (float32 only)");
            if (x.Shape.Rank < 3) throw ctx.ShapeError($"input {x.Shape} needs a channel and a spatial dimension");
            Params(ctx);
            return new[] { x };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var (size, alpha, beta, bias) = Params(ctx);
            var xt = inputs[0]!;
            var x = xt.ToDoubles();
            int n = xt.Shape[0], c = xt.Shape[1], plane = xt.Shape.Dims.Skip(2).Aggregate(1, (p, d) => p * d);
            int lo = (size - 1) / 2, hi = size - 1 - lo;
            var y = new double[x.Length];
            for (int b = 0; b < n; b++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < plane; i++)
                    {
                        double sq = 0;
                        for (int k = Math.Max(0, ch - lo); k <= Math.Min(c - 1, ch + hi); k++) { double v = x[(b * c + k) * plane + i]; sq += v * v; }
                        int at = (b * c + ch) * plane + i;
                        y[at] = x[at] / Math.Pow(bias + alpha / size * sq, beta);
                    }
            return new[] { Tensor.FromDoubles(DataType.Float, xt.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var (size, alpha, beta, bias) = Params(ctx.Op);
            var x = ctx.InputType(0).Shape;
            int plane = x.Dims.Skip(2).Aggregate(1, (p, d) => p * d);
            ctx.Describe("LRN", "Lrn" + size, $"{x[1]} channels, window {size}, α {alpha}, β {beta}, bias {bias}", "y = x / (bias + α/size · Σ_window x²)^β");
            ctx.Call("Lrn.Run", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(x[0]), PlanArg.Int(x[1]), PlanArg.Int(plane),
                PlanArg.Int(size), PlanArg.Float(alpha), PlanArg.Float(beta), PlanArg.Float(bias));
        }
    }
}
