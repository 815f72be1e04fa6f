using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Logic
{
    /// <summary>Where(condition, a, b) = condition ? a : b, all three broadcast.</summary>
    public sealed class WhereOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Where" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var c = ctx.Input(0); var a = ctx.Input(1); var b = ctx.Input(2);
            if (c.ElementType != DataType.Bool) throw ctx.ShapeError($"the condition is {c.ElementType.ShortName()}, not bool");
            if (a.ElementType != b.ElementType) throw ctx.ShapeError($"the branches have different element types ({a.ElementType.ShortName()}, {b.ElementType.ShortName()})");
            if (a.ElementType == DataType.String) throw ctx.Error(Diagnostics.DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            return new[] { a.WithShape(Broadcast.Shapes(ctx, c.Shape, a.Shape, b.Shape)) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var c = inputs[0]!.As<bool>();
            var a = inputs[1]!; var b = inputs[2]!;
            // Pick from a source that is a followed by b: index i in a, or a.Length + i in b.
            var src = System.Array.CreateInstance(a.Data.GetType().GetElementType()!, a.Length + b.Length);
            System.Array.Copy(a.Data, src, a.Length);
            System.Array.Copy(b.Data, 0, src, a.Length, b.Length);
            var map = new int[type.Shape.ElementCount];
            var strides = new[] { Broadcast.Strides(inputs[0]!.Shape, type.Shape), Broadcast.Strides(a.Shape, type.Shape), Broadcast.Strides(b.Shape, type.Shape) };
            Broadcast.ForEach(type.Shape, strides, (f, o) => map[f] = c[o[0]] ? o[1] : a.Length + o[2]);
            return new[] { Layout.Strides.Take(new Tensor(a.ElementType, new Shape(src.Length), src), type.Shape, map) };
        }

        public override void Lower(LowerContext ctx)
        {
            var y = ctx.OutputType(0);
            ctx.Describe("Where", "Where", $"{ctx.InputType(0).Shape} ? {ctx.InputType(1).Shape} : {ctx.InputType(2).Shape} → {y.Shape}", "y = c ? a : b");
            if (Layout.Strides.EmptyOutput(ctx)) return;
            var (dims, st) = Broadcast.Coalesce(y.Shape, Broadcast.Strides(ctx.InputType(0).Shape, y.Shape),
                Broadcast.Strides(ctx.InputType(1).Shape, y.Shape), Broadcast.Strides(ctx.InputType(2).Shape, y.Shape));
            ctx.Call($"Where.Run<{y.ElementType.CSharpName()}>", ctx.InArg(0), ctx.InArg(1), ctx.InArg(2), ctx.OutArg(0),
                PlanArg.Ints(dims), PlanArg.Ints(st[0]), PlanArg.Ints(st[1]), PlanArg.Ints(st[2]));
        }
    }
}
