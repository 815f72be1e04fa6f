using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Logic
{
    /// <summary>
    /// Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual) on numbers (and Equal on bools), and the
    /// boolean And, Or, Xor, Not; all broadcast and produce bools. Kernel: Logic.Binary&lt;T, predicate&gt;.
    /// </summary>
    public sealed class LogicOps : OpDefinition
    {
        private static readonly string[] s_compare = { "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual" };
        private static readonly string[] s_boolean = { "And", "Or", "Xor" };

        public override IEnumerable<string> OpTypes => s_compare.Concat(s_boolean).Concat(new[] { "Not" });

        private static bool IsBoolean(string op) => s_boolean.Contains(op) || op == "Not";

        public override TensorType[] InferTypes(OpContext ctx)
        {
            string op = ctx.Node.OpType;
            var a = ctx.Input(0);
            if (op == "Not")
            {
                if (a.ElementType != DataType.Bool) throw ctx.ShapeError($"Not takes bool, not {a.ElementType.ShortName()}");
                return new[] { a };
            }
            var b = ctx.Input(1);
            if (a.ElementType != b.ElementType)
                throw ctx.ShapeError($"inputs have different element types ({a.ElementType.ShortName()}, {b.ElementType.ShortName()})");
            if (a.ElementType == DataType.String) throw ctx.Error(DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            if (IsBoolean(op) && a.ElementType != DataType.Bool) throw ctx.ShapeError($"{op} takes bools, not {a.ElementType.ShortName()}");
            if (!IsBoolean(op) && op != "Equal" && a.ElementType == DataType.Bool) throw ctx.ShapeError($"{op} does not take bools");
            if (ctx.Has("axis")) throw ctx.Unsupported("the legacy 'axis' broadcast attribute (opset < 7) is not supported");
            return new[] { new TensorType(DataType.Bool, Broadcast.Shapes(ctx, a.Shape, b.Shape)) };
        }

        /// <summary>Exact values for comparison: doubles for floats, decimals (which hold any 64-bit integer) otherwise.</summary>
        private static IComparable[] Values(Tensor t)
        {
            if (t.ElementType.IsFloat()) return t.ToDoubles().Select(v => (IComparable)v).ToArray();
            if (t.ElementType == DataType.UInt64) return t.As<ulong>().Select(v => (IComparable)(decimal)v).ToArray();
            return t.ToLongs().Select(v => (IComparable)(decimal)v).ToArray();
        }

        public static bool Apply(string op, double a, double b) => op switch
        {
            "Equal" => a == b, "Less" => a < b, "LessOrEqual" => a <= b, "Greater" => a > b, "GreaterOrEqual" => a >= b,
            "And" => a != 0 && b != 0, "Or" => a != 0 || b != 0, "Xor" => (a != 0) != (b != 0),
            _ => throw new ArgumentException(op),
        };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            string op = ctx.Node.OpType;
            var a = inputs[0]!;
            if (op == "Not") return new[] { new Tensor(DataType.Bool, a.Shape, a.As<bool>().Select(v => !v).ToArray()) };
            var b = inputs[1]!;
            var y = new bool[type.Shape.ElementCount];
            var sa = Broadcast.Strides(a.Shape, type.Shape); var sb = Broadcast.Strides(b.Shape, type.Shape);
            if (a.ElementType.IsFloat() || a.ElementType == DataType.Bool)
            {
                var va = a.ToDoubles(); var vb = b.ToDoubles();
                Broadcast.ForEach(type.Shape, new[] { sa, sb }, (f, o) => y[f] = Apply(op, va[o[0]], vb[o[1]]));
            }
            else
            {
                var va = Values(a); var vb = Values(b);
                Broadcast.ForEach(type.Shape, new[] { sa, sb }, (f, o) =>
                {
                    int c = va[o[0]].CompareTo(vb[o[1]]);
                    y[f] = op switch { "Equal" => c == 0, "Less" => c < 0, "LessOrEqual" => c <= 0, "Greater" => c > 0, _ => c >= 0 };
                });
            }
            return new[] { new Tensor(DataType.Bool, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            string op = ctx.Node.OpType;
            var outType = ctx.OutputType(0);
            var a = ctx.InputType(0);
            if (op == "Not")
            {
                ctx.Describe("Not", "Not", $"{a.Shape}", "y = ¬x");
                if (Layout.Strides.EmptyOutput(ctx)) return;
                ctx.Call("Logic.Not", ctx.InArg(0), ctx.OutArg(0));
                return;
            }
            var b = ctx.InputType(1);
            string math = op switch
            {
                "Equal" => "y = a == b", "Less" => "y = a < b", "LessOrEqual" => "y = a ≤ b", "Greater" => "y = a > b",
                "GreaterOrEqual" => "y = a ≥ b", "And" => "y = a ∧ b", "Or" => "y = a ∨ b", _ => "y = a ⊕ b",
            };
            ctx.Describe(op, op, $"{a.Shape} ⊙ {b.Shape} → {outType.Shape}", math);
            if (Layout.Strides.EmptyOutput(ctx)) return;
            string t = a.ElementType.CSharpName();
            string pred = IsBoolean(op) ? "Logic." + op : op == "Equal" && a.ElementType == DataType.Bool ? "Logic.Same" : $"Logic.{op}<{t}>";
            var (dims, st) = Broadcast.Coalesce(outType.Shape, Broadcast.Strides(a.Shape, outType.Shape), Broadcast.Strides(b.Shape, outType.Shape));
            ctx.Call($"Logic.Binary<{t}, {pred}>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0), PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
        }
    }
}
