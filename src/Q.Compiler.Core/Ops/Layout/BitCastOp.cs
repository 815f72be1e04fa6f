using System.Collections.Generic;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>BitCast: the same bytes seen as another element type of the same width (little-endian).</summary>
    public sealed class BitCastOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "BitCast" };

        private static DataType Target(OpContext ctx)
        {
            long to = ctx.Int("to");
            var x = ctx.Input(0);
            if (to < 1 || to > 13 || to == (long)DataType.String)
                throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"bit-casting to type #{to} is not supported");
            var t = (DataType)to;
            if (x.ElementType == DataType.String) throw ctx.Error(DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            if (t.SizeOf() != x.ElementType.SizeOf())
                throw ctx.ShapeError($"{x.ElementType.ShortName()} and {t.ShortName()} have different widths");
            return t;
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(Target(ctx), ctx.Input(0).Shape) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            return new[] { Tensor.FromBytes(Target(ctx), x.Shape, x.ToBytes()) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var to = ctx.OutputType(0).ElementType;
            ctx.Describe("BitCast", "BitCast", $"{x} as {to.ShortName()}", "y = the bytes of x");
            if (Strides.EmptyOutput(ctx)) return;
            ctx.Call($"Cast.Bits<{x.ElementType.CSharpName()}, {to.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0));
        }
    }
}
