using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Activation;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Elementwise
{
    /// <summary>Float activations and unary math: Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Clip (constant bounds), Exp, Log, Sqrt, Neg, Abs, Reciprocal.</summary>
    public sealed class UnaryOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Erf", "Softplus", "Elu", "Selu" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            bool intOk = ctx.Node.OpType is "Relu" or "Neg" or "Abs" or "Clip";
            if (x.ElementType != DataType.Float && !(intOk && (x.ElementType.IsInteger() || x.ElementType == DataType.Double)) && x.ElementType != DataType.Double)
                throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported");
            return new[] { x };
        }

        private static (float A, float B) Params(OpContext ctx)
        {
            switch (ctx.Node.OpType)
            {
                case "LeakyRelu": return (ctx.Float("alpha", 0.01f), 0);
                case "HardSigmoid": return (ctx.Float("alpha", 0.2f), ctx.Float("beta", 0.5f));
                case "Elu": return (ctx.Float("alpha", 1f), 0);
                case "Selu": return (ctx.Float("alpha", 1.67326319217681884765625f), ctx.Float("gamma", 1.05070102214813232421875f));
                case "Clip":
                {
                    float lo = float.NegativeInfinity, hi = float.PositiveInfinity;
                    if (ctx.Opset < 11) { lo = ctx.Float("min", lo); hi = ctx.Float("max", hi); }
                    if (ctx.HasInput(1)) lo = (float)ctx.RequireConstant(1, "min").ToDoubles()[0];
                    if (ctx.HasInput(2)) hi = (float)ctx.RequireConstant(2, "max").ToDoubles()[0];
                    return (lo, hi);
                }
                default: return (0, 0);
            }
        }

        public static double Apply(string op, double v, float a, float b) => op switch
        {
            "Relu" => v > 0 ? v : 0,
            "LeakyRelu" => v >= 0 ? v : v * a,
            "Sigmoid" => 1.0 / (1.0 + Math.Exp(-v)),
            "HardSigmoid" => Math.Max(0, Math.Min(1, a * v + b)),
            "HardSwish" => v * Math.Max(0, Math.Min(1, v / 6 + 0.5)),
            "Tanh" => Math.Tanh(v),
            "Clip" => Math.Min(Math.Max(v, a), b), // ONNX: min(max(x, lo), hi), so hi wins when lo > hi
            "Exp" => Math.Exp(v),
            "Log" => Math.Log(v),
            "Sqrt" => Math.Sqrt(v),
            "Neg" => -v,
            "Abs" => Math.Abs(v),
            "Reciprocal" => 1 / v,
            "Floor" => Math.Floor(v),
            "Ceil" => Math.Ceiling(v),
            "Erf" => Erf(v),
            "Softplus" => Math.Log(1 + Math.Exp(v)),
            "Elu" => v >= 0 ? v : a * (Math.Exp(v) - 1),
            "Selu" => v > 0 ? b * v : b * (a * Math.Exp(v) - a),
            _ => throw new ArgumentException(op),
        };

        /// <summary>Abramowitz–Stegun 7.1.26 is too coarse for a reference; this uses the series / continued fraction split.</summary>
        public static double Erf(double x)
        {
            double ax = Math.Abs(x);
            if (ax < 2.5)
            {
                double sum = x, term = x, x2 = x * x;
                for (int n = 1; n < 200; n++) { term *= -x2 / n; double t = term / (2 * n + 1); sum += t; if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break; }
                return 2 / Math.Sqrt(Math.PI) * sum;
            }
            // erfc continued fraction (Lentz) for large |x|.
            double f = ax, c = ax, d = 0, tiny = 1e-300;
            for (int i = 1; i < 300; i++)
            {
                double an = i / 2.0;
                d = ax + an * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
                c = ax + an / c; c = Math.Abs(c) < tiny ? tiny : c;
                double delta = c * d; f *= delta;
                if (Math.Abs(delta - 1) < 1e-16) break;
            }
            double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
            return x >= 0 ? 1 - erfc : erfc - 1;
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var (a, b) = Params(ctx);
            var x = inputs[0]!;
            var d = x.ToDoubles();
            for (int i = 0; i < d.Length; i++) d[i] = Apply(ctx.Node.OpType, d[i], a, b);
            return new[] { Tensor.FromDoubles(x.ElementType, x.Shape, d) };
        }

        public override void Lower(LowerContext ctx)
        {
            if (ctx.Node.OpType == "Clip" && Enumerable.Range(1, 2).Any(i => ctx.Op.HasInput(i) && ctx.Op.Constant(i) is null))
            {
                LowerClipWithRuntimeBounds(ctx);
                return;
            }
            var (a, b) = Params(ctx.Op);
            var x = ctx.InputType(0);
            string t = x.ElementType.CSharpName();
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, $"{x.Shape.ElementCount} elements",
                ctx.Node.OpType switch
                {
                    "Relu" => "y = max(x, 0)", "Clip" => $"y = clamp(x, {a}, {b})", "LeakyRelu" => $"y = x ≥ 0 ? x : {a}·x",
                    "Sigmoid" => "y = 1 / (1 + e^−x)", "HardSigmoid" => $"y = clamp({a}·x + {b}, 0, 1)", "HardSwish" => "y = x · clamp(x/6 + 1/2, 0, 1)",
                    "Tanh" => "y = tanh(x)", "Exp" => "y = e^x", "Log" => "y = ln x", "Sqrt" => "y = √x", "Neg" => "y = −x", "Abs" => "y = |x|",
                    "Reciprocal" => "y = 1/x", _ => "y = " + ctx.Node.OpType.ToLowerInvariant() + "(x)",
                });
            ctx.Call($"Elementwise.Unary<{t}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(UnaryCode(ctx.Node.OpType)), PlanArg.Float(a), PlanArg.Float(b));
        }

        /// <summary>
        /// Clip whose min or max is computed at run time (e.g. clamp(x, max(x) − 80) in audio front ends):
        /// y = min(max(x, lo), hi) as broadcast Max and Min, the second one in place.
        /// </summary>
        private static void LowerClipWithRuntimeBounds(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            if (x.ElementType != DataType.Float) throw ctx.Op.Unsupported($"Clip on {x.ElementType.ShortName()} with run-time bounds is not supported");
            string t = x.ElementType.CSharpName();
            ctx.Describe("Clip", "Clip", $"{x.Shape.ElementCount} elements, bounds computed at run time", "y = min(max(x, lo), hi)");
            string src = ctx.In(0);
            foreach (var (i, op) in new[] { (1, "Max"), (2, "Min") })
            {
                if (!ctx.Op.HasInput(i)) continue;
                var bound = ctx.InputType(i).Shape;
                if (bound.ElementCount != 1) throw ctx.Op.ShapeError($"Clip bound {bound} must be a single value");
                var (dims, st) = Broadcast.Coalesce(x.Shape, Broadcast.Strides(x.Shape, x.Shape), Broadcast.Strides(bound, x.Shape));
                ctx.Call($"Elementwise.Binary<{t}, Elementwise.{op}<{t}>>", PlanArg.In(src), ctx.InArg(i), ctx.OutArg(0),
                    PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
                src = ctx.Out(0);
            }
            if (src != ctx.Out(0)) ctx.Call($"Copy.Run<{t}>", ctx.InArg(0), ctx.OutArg(0));
        }

        /// <summary>Codes understood by Elementwise.Unary (shared with Activation codes 1..7).</summary>
        public static int UnaryCode(string op) => op switch
        {
            "Relu" => 1, "Clip" => 2, "LeakyRelu" => 3, "Sigmoid" => 4, "HardSigmoid" => 5, "HardSwish" => 6, "Tanh" => 7,
            "Exp" => 10, "Log" => 11, "Sqrt" => 12, "Neg" => 13, "Abs" => 14, "Reciprocal" => 15, "Floor" => 16, "Ceil" => 17,
            "Erf" => 18, "Softplus" => 19, "Elu" => 20, "Selu" => 21,
            _ => throw new ArgumentException(op),
        };
    }
}
