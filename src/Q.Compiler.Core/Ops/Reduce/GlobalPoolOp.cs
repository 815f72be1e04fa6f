using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Reduce
{
    /// <summary>GlobalAveragePool and GlobalMaxPool: [N, C, spatial...] → [N, C, 1, ...], a mean or max over each plane.</summary>
    public sealed class GlobalPoolOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "GlobalAveragePool", "GlobalMaxPool" };

        private static int Code(OpContext ctx) => ctx.Node.OpType == "GlobalAveragePool" ? 1 : 2;

        private static bool[] Mask(Shape x) => Enumerable.Range(0, x.Rank).Select(i => i >= 2).ToArray();

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType != DataType.Float) throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported (float32 only)");
            if (x.Shape.Rank < 3) throw ctx.ShapeError($"input {x.Shape} needs at least one spatial dimension");
            return new[] { new TensorType(DataType.Float, new Shape(x.Shape.Dims.Select((d, i) => i < 2 ? d : 1))) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var t = inputs[0]!;
            var s = t.Shape;
            int planes = s[0] * s[1], size = s.ElementCount / System.Math.Max(planes, 1);
            var x = t.ToDoubles();
            var y = new double[planes];
            for (int p = 0; p < planes; p++) y[p] = ReduceOp.ReduceReference(Code(ctx), new System.ArraySegment<double>(x, p * size, size).ToArray());
            return new[] { Tensor.FromDoubles(DataType.Float, InferTypes(ctx)[0].Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            int code = Code(ctx.Op);
            string kind = code == 1 ? "GlobalAvgPool" : "GlobalMaxPool";
            ReduceOp.EmitReduce(ctx, x, Mask(x.Shape), code, kind, $"{x.Shape[1]} channels of {string.Join("x", x.Shape.Dims.Skip(2))}",
                code == 1 ? "y[c] = Σ x[c] / (H·W)" : "y[c] = max x[c]");
        }
    }
}
