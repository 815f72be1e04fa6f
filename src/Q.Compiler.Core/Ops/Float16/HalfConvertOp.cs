using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Float16
{
    /// <summary>
    /// The float16 ↔ float32 conversions that <see cref="Passes.Float16ToFloat32Pass"/> puts at the graph's float16 inputs
    /// and outputs, so that a float16 model runs in float32 inside while its Run method keeps Half spans. They live in
    /// Q.Compiler's own domain (they never appear in an ONNX file) and lower to HalfConvert.ToSingle / ToHalf.
    /// </summary>
    public sealed class HalfConvertOp : OpDefinition
    {
        /// <summary>The domain of ops that only Q.Compiler's passes create.</summary>
        public const string InternalDomain = "ai.q-compiler";

        public const string HalfToFloat = "HalfToFloat", FloatToHalf = "FloatToHalf";

        public override IEnumerable<string> OpTypes => new[] { HalfToFloat, FloatToHalf };

        public override string Domain => InternalDomain;

        private static (DataType From, DataType To) Types(OpContext ctx) =>
            ctx.Node.OpType == HalfToFloat ? (DataType.Float16, DataType.Float) : (DataType.Float, DataType.Float16);

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var (from, to) = Types(ctx);
            var x = ctx.Input(0);
            if (x.ElementType != from) throw ctx.ShapeError($"expects {from.ShortName()}, got {x.ElementType.ShortName()}");
            return new[] { new TensorType(to, x.Shape) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            return new[] { Tensor.FromDoubles(Types(ctx).To, x.Shape, x.ToDoubles()) };
        }

        public override void Lower(LowerContext ctx)
        {
            bool toFloat = ctx.Node.OpType == HalfToFloat;
            ctx.Describe("Cast", toFloat ? "HalfToFloat" : "FloatToHalf",
                $"{ctx.InputType(0).Shape.ElementCount} elements, graph {(toFloat ? "input" : "output")} of the float16 model",
                toFloat ? "y = (float)x" : "y = (Half)x, rounded to nearest even");
            ctx.Call(toFloat ? "HalfConvert.ToSingle" : "HalfConvert.ToHalf", ctx.InArg(0), ctx.OutArg(0));
        }
    }
}
