using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Elementwise
{
    /// <summary>
    /// Arithmetic with broadcasting: Add, Sub, Mul, Div, Pow, and the variadic Max, Min, Sum, Mean (chained pairwise).
    /// The kernel is Elementwise.Binary&lt;T, Op&gt; over coalesced dimensions.
    /// </summary>
    public sealed class BinaryOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean" };

        private static readonly HashSet<DataType> s_numeric = new HashSet<DataType>
        {
            DataType.Float, DataType.Double, DataType.Int8, DataType.UInt8, DataType.Int16, DataType.UInt16,
            DataType.Int32, DataType.UInt32, DataType.Int64, DataType.UInt64,
        };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var present = Enumerable.Range(0, ctx.InputCount).Where(ctx.HasInput).Select(ctx.Input).ToList();
            if (present.Count == 0) throw ctx.ShapeError("needs at least one input");
            var t = present[0].ElementType;
            if (!s_numeric.Contains(t)) throw ctx.Unsupported($"{ctx.Node.OpType} on {t.ShortName()} is not supported");
            if (ctx.Node.OpType != "Pow" && present.Any(p => p.ElementType != t))
                throw ctx.ShapeError($"inputs have different element types ({string.Join(", ", present.Select(p => p.ElementType.ShortName()))})");
            if (ctx.Node.OpType == "Pow" && (!present[1].ElementType.IsFloat() && present[1].ElementType != t))
                throw ctx.Unsupported($"Pow with a {present[1].ElementType.ShortName()} exponent on {t.ShortName()} is not supported");
            return new[] { new TensorType(t, Broadcast.Shapes(ctx, present.Select(p => p.Shape).ToArray())) };
        }

        public static double Apply(string op, double a, double b, bool integer) => op switch
        {
            "Add" or "Sum" or "Mean" => a + b,
            "Sub" => a - b,
            "Mul" => a * b,
            "Div" => integer ? (b == 0 ? 0 : Math.Truncate(a / b)) : a / b,
            "Pow" => Math.Pow(a, b),
            "Max" => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(a, b),
            "Min" => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Min(a, b),
            _ => throw new ArgumentException(op),
        };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var present = inputs.Where(t => t is not null).Select(t => t!).ToList();
            bool integer = type.ElementType.IsInteger();
            string op = ctx.Node.OpType;
            Tensor acc = present[0];
            if (present.Count == 1) acc = Tensor.FromDoubles(type.ElementType, type.Shape, BroadcastTo(acc, type.Shape));
            for (int i = 1; i < present.Count; i++)
            {
                var outShape = Broadcast.Shapes(ctx, acc.Shape, present[i].Shape);
                var a = acc.ToDoubles(); var b = present[i].ToDoubles();
                var sa = Broadcast.Strides(acc.Shape, outShape); var sb = Broadcast.Strides(present[i].Shape, outShape);
                var y = new double[outShape.ElementCount];
                Broadcast.ForEach(outShape, new[] { sa, sb }, (f, o) => y[f] = Apply(op, a[o[0]], b[o[1]], integer));
                acc = Tensor.FromDoubles(type.ElementType, outShape, y);
            }
            if (op == "Mean")
            {
                var d = acc.ToDoubles();
                for (int i = 0; i < d.Length; i++) d[i] /= present.Count;
                acc = Tensor.FromDoubles(type.ElementType, acc.Shape, d);
            }
            return new[] { acc };
        }

        private static double[] BroadcastTo(Tensor t, Shape s)
        {
            var d = t.ToDoubles(); var st = Broadcast.Strides(t.Shape, s);
            var y = new double[s.ElementCount];
            Broadcast.ForEach(s, new[] { st }, (f, o) => y[f] = d[o[0]]);
            return y;
        }

        public override void Lower(LowerContext ctx)
        {
            var outType = ctx.OutputType(0);
            string t = outType.ElementType.CSharpName();
            string op = ctx.Node.OpType switch { "Sum" or "Mean" => "Add", var o => o };
            var inputs = Enumerable.Range(0, ctx.Node.Inputs.Count).Where(ctx.Op.HasInput).ToList();
            string math = ctx.Node.OpType switch
            {
                "Add" => "y = a + b", "Sub" => "y = a − b", "Mul" => "y = a · b", "Div" => "y = a / b", "Pow" => "y = a ^ b",
                "Max" => "y = max(a, b, …)", "Min" => "y = min(a, b, …)", "Sum" => "y = Σ inputs", _ => "y = (Σ inputs) / n",
            };
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, $"{string.Join(" ⊙ ", inputs.Select(i => ctx.InputType(i).Shape.ToString()))} → {outType.Shape}", math);
            if (inputs.Count == 1)
            {
                EmitBinary(ctx, "Add", t, ctx.In(inputs[0]), ctx.InputType(inputs[0]).Shape, ctx.Constant("zero", Tensor.FromDoubles(outType.ElementType, Shape.Scalar, new double[1])), Shape.Scalar, outType.Shape);
            }
            else
            {
                string powType = ctx.Node.OpType == "Pow" ? ctx.InputType(inputs[1]).ElementType.CSharpName() : t;
                string acc = ctx.In(inputs[0]);
                Shape accShape = ctx.InputType(inputs[0]).Shape;
                for (int k = 1; k < inputs.Count; k++)
                {
                    var bShape = ctx.InputType(inputs[k]).Shape;
                    var outShape = Broadcast.Shapes(ctx.Op, accShape, bShape);
                    if (ctx.Node.OpType == "Pow" && powType != t)
                        EmitPowMixed(ctx, t, powType, acc, accShape, ctx.In(inputs[k]), bShape, outShape);
                    else
                        EmitBinary(ctx, op, t, acc, accShape, ctx.In(inputs[k]), bShape, outShape);
                    acc = ctx.Out(0); accShape = outShape;
                }
            }
            if (ctx.Node.OpType == "Mean")
                EmitBinary(ctx, "Div", t, ctx.Out(0), outType.Shape,
                    ctx.Constant("count", Tensor.FromDoubles(outType.ElementType, Shape.Scalar, new double[] { inputs.Count })), Shape.Scalar, outType.Shape);
        }

        private static void EmitBinary(LowerContext ctx, string op, string t, string a, Shape sa, string b, Shape sb, Shape outShape)
        {
            var (dims, st) = Broadcast.Coalesce(outShape, Broadcast.Strides(sa, outShape), Broadcast.Strides(sb, outShape));
            ctx.Call($"Elementwise.Binary<{t}, Elementwise.{op}<{t}>>", PlanArg.In(a), PlanArg.In(b), ctx.OutArg(0),
                PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
        }

        private static void EmitPowMixed(LowerContext ctx, string t, string te, string a, Shape sa, string b, Shape sb, Shape outShape)
        {
            var (dims, st) = Broadcast.Coalesce(outShape, Broadcast.Strides(sa, outShape), Broadcast.Strides(sb, outShape));
            ctx.Call($"Elementwise.PowMixed<{t}, {te}>", PlanArg.In(a), PlanArg.In(b), ctx.OutArg(0),
                PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
        }
    }
}
