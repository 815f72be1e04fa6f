using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Ops.Layout;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Logic
{
    /// <summary>
    /// Bitwise and modular arithmetic with broadcasting: BitwiseAnd/Or/Xor/Not, BitShift (unsigned integers), and Mod
    /// (fmod=0: integers, result with the divisor's sign; fmod=1: C fmod, also for floats). They run through
    /// Elementwise.Binary's loop with the operations of the Bitwise kernel.
    /// </summary>
    public sealed class IntegerOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift", "Mod" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            string op = ctx.Node.OpType;
            var a = ctx.Input(0);
            var t = a.ElementType;
            bool fmod = op == "Mod" && ctx.Int("fmod", 0) != 0;
            if (op == "Mod" && !t.IsInteger() && !(fmod && (t == DataType.Float || t == DataType.Double)))
                throw ctx.Unsupported(t.IsFloat() && !fmod ? "Mod of floats needs fmod=1" : $"Mod on {t.ShortName()} is not supported");
            if (op != "Mod" && !t.IsInteger()) throw ctx.ShapeError($"{op} takes integers, not {t.ShortName()}");
            if (op == "BitShift")
            {
                if (t != DataType.UInt8 && t != DataType.UInt16 && t != DataType.UInt32 && t != DataType.UInt64)
                    throw ctx.ShapeError($"BitShift takes unsigned integers, not {t.ShortName()}");
                string dir = ctx.String("direction", "");
                if (dir != "LEFT" && dir != "RIGHT") throw ctx.ShapeError($"direction '{dir}' is not LEFT or RIGHT");
            }
            if (op == "BitwiseNot") return new[] { a };
            var b = ctx.Input(1);
            if (b.ElementType != t) throw ctx.ShapeError($"inputs have different element types ({t.ShortName()}, {b.ElementType.ShortName()})");
            return new[] { a.WithShape(Broadcast.Shapes(ctx, a.Shape, b.Shape)) };
        }

        private static long Apply(string op, long a, long b, OpContext ctx, DataType t)
        {
            int bits = t.SizeOf() * 8;
            switch (op)
            {
                case "BitwiseAnd": return a & b;
                case "BitwiseOr": return a | b;
                case "BitwiseXor": return a ^ b;
                case "BitShift":
                {
                    ulong ua = Unsigned(a, bits), ub = Unsigned(b, bits);
                    if (ub >= (ulong)bits) return 0;
                    return unchecked((long)(ctx.String("direction", "") == "LEFT" ? ua << (int)ub : ua >> (int)ub));
                }
                default:
                {
                    if (b == 0) return 0;
                    if (t == DataType.UInt64) return unchecked((long)((ulong)a % (ulong)b));
                    long r = a % b;
                    return ctx.Int("fmod", 0) == 0 && r != 0 && (r < 0) != (b < 0) ? r + b : r;
                }
            }
        }

        private static ulong Unsigned(long v, int bits) => bits == 64 ? unchecked((ulong)v) : unchecked((ulong)v) & ((1UL << bits) - 1);

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            string op = ctx.Node.OpType;
            var a = inputs[0]!;
            if (op == "BitwiseNot") return new[] { CastOp.FromBits(type.ElementType, a.Shape, a.ToLongs().Select(v => ~v).ToArray()) };
            var b = inputs[1]!;
            var sa = Broadcast.Strides(a.Shape, type.Shape); var sb = Broadcast.Strides(b.Shape, type.Shape);
            if (type.ElementType.IsFloat())
            {
                var fa = a.ToDoubles(); var fb = b.ToDoubles();
                var y = new double[type.Shape.ElementCount];
                Broadcast.ForEach(type.Shape, new[] { sa, sb }, (f, o) => y[f] = fa[o[0]] % fb[o[1]]);
                return new[] { Tensor.FromDoubles(type.ElementType, type.Shape, y) };
            }
            var la = a.ToLongs(); var lb = b.ToLongs();
            var r = new long[type.Shape.ElementCount];
            Broadcast.ForEach(type.Shape, new[] { sa, sb }, (f, o) => r[f] = Apply(op, la[o[0]], lb[o[1]], ctx, type.ElementType));
            return new[] { CastOp.FromBits(type.ElementType, type.Shape, r) };
        }

        public override void Lower(LowerContext ctx)
        {
            string op = ctx.Node.OpType;
            var y = ctx.OutputType(0);
            string t = y.ElementType.CSharpName();
            if (op == "BitwiseNot")
            {
                ctx.Describe(op, op, y.Shape.ToString(), "y = ~x");
                if (Strides.EmptyOutput(ctx)) return;
                ctx.Call($"Bitwise.Not<{t}>", ctx.InArg(0), ctx.OutArg(0));
                return;
            }
            string kernel = op switch
            {
                "BitwiseAnd" => "And", "BitwiseOr" => "Or", "BitwiseXor" => "Xor",
                "BitShift" => ctx.Op.String("direction", "") == "LEFT" ? "ShiftLeft" : "ShiftRight",
                _ => ctx.Op.Int("fmod", 0) != 0 ? "FMod" : "Mod",
            };
            string math = kernel switch
            {
                "And" => "y = a & b", "Or" => "y = a | b", "Xor" => "y = a ^ b", "ShiftLeft" => "y = a << b", "ShiftRight" => "y = a >> b",
                "FMod" => "y = fmod(a, b) (sign of a)", _ => "y = a mod b (sign of b)",
            };
            var a = ctx.InputType(0); var b = ctx.InputType(1);
            ctx.Describe(op, op, $"{a.Shape} ⊙ {b.Shape} → {y.Shape}", math);
            if (Strides.EmptyOutput(ctx)) return;
            var (dims, st) = Broadcast.Coalesce(y.Shape, Broadcast.Strides(a.Shape, y.Shape), Broadcast.Strides(b.Shape, y.Shape));
            ctx.Call($"Bitwise.Binary<{t}, Bitwise.{kernel}<{t}>>", ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0),
                PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]));
        }
    }
}
