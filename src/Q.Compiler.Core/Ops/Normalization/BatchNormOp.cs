using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Normalization
{
    /// <summary>
    /// BatchNormalization in inference mode, when FoldBatchNormPass could not fold it into the op before it (for example after
    /// an Add or at a graph input). With s = γ / √(σ² + ε) and t = β − μ·s computed at build time, y[n, c, …] = s[c]·x[n, c, …] + t[c].
    /// </summary>
    public sealed class BatchNormOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "BatchNormalization" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"BatchNormalization on {x.ElementType.ShortName()} is not supported (float32 only)");
            if (x.Shape.Rank < 2) throw ctx.ShapeError($"input {x.Shape} needs a channel dimension");
            if (ctx.Int("training_mode", 0) != 0 || ctx.Node.Outputs.Skip(1).Any(o => o.Length > 0))
                throw ctx.Unsupported("training mode (running statistics outputs) is not supported; export the model for inference");
            if (ctx.Opset < 7 && ctx.Int("spatial", 1) == 0) throw ctx.Unsupported("spatial=0 (per-activation statistics) is not supported");
            int c = x.Shape[1];
            for (int i = 1; i <= 4; i++)
                if (ctx.Input(i).Shape.ElementCount != c)
                    throw ctx.ShapeError($"input {i} has {ctx.Input(i).Shape.ElementCount} values for {c} channels");
            return new[] { x };
        }

        /// <summary>Per-channel scale and shift in float64.</summary>
        internal static (double[] Scale, double[] Shift) Affine(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            double eps = ctx.Float("epsilon", 1e-5f);
            var gamma = inputs[1]!.ToDoubles(); var beta = inputs[2]!.ToDoubles();
            var mean = inputs[3]!.ToDoubles(); var var_ = inputs[4]!.ToDoubles();
            var s = new double[gamma.Length]; var t = new double[gamma.Length];
            for (int c = 0; c < s.Length; c++)
            {
                s[c] = gamma[c] / Math.Sqrt(var_[c] + eps);
                t[c] = beta[c] - mean[c] * s[c];
            }
            return (s, t);
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var xt = inputs[0]!;
            var (s, t) = Affine(ctx, inputs);
            int c = xt.Shape[1], plane = xt.Shape.Dims.Skip(2).Aggregate(1, (a, b) => a * b);
            var x = xt.ToDoubles();
            var y = new double[x.Length];
            for (int i = 0; i < x.Length; i++) { int ch = i / plane % c; y[i] = s[ch] * x[i] + t[ch]; }
            return new[] { Tensor.FromDoubles(DataType.Float, xt.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0).Shape;
            int c = x[1], plane = x.Dims.Skip(2).Aggregate(1, (a, b) => a * b);
            if (Enumerable.Range(1, 4).All(i => ctx.Op.Constant(i) is not null))
            {
                var (s, t) = Affine(ctx.Op, Enumerable.Range(0, 5).Select(i => ctx.Op.Constant(i)).ToArray());
                string scale = ctx.Constant("scale", Tensor.FromFloats(new Shape(c), s.Select(v => (float)v).ToArray()));
                string shift = ctx.Constant("shift", Tensor.FromFloats(new Shape(c), t.Select(v => (float)v).ToArray()));
                ctx.Describe("BatchNormalization", "BatchNorm", $"{c} channels of {plane} values (not folded: no Conv/Gemm before it)",
                    "y[c] = s[c]·x[c] + t[c], s = γ/√(σ²+ε), t = β − μ·s");
                ctx.Call("ChannelAffine.Run", ctx.InArg(0), PlanArg.In(scale), PlanArg.In(shift), ctx.OutArg(0),
                    PlanArg.Int(x[0]), PlanArg.Int(c), PlanArg.Int(plane));
                return;
            }
            // Statistics computed at run time: derive s and t per channel as the kernel goes.
            ctx.Describe("BatchNormalization", "BatchNorm", $"{c} channels of {plane} values, statistics known only at run time",
                "y[c] = s[c]·x[c] + β[c] − μ[c]·s[c], s = γ/√(σ²+ε)");
            ctx.Call("ChannelAffine.BatchNorm", ctx.InArg(0), ctx.InArg(1), ctx.InArg(2), ctx.InArg(3), ctx.InArg(4), ctx.OutArg(0),
                PlanArg.Int(x[0]), PlanArg.Int(c), PlanArg.Int(plane), PlanArg.Float(ctx.Op.Float("epsilon", 1e-5f)));
        }
    }
}
