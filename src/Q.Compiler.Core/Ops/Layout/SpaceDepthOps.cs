using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// DepthToSpace (DCR and CRD modes) and SpaceToDepth on NCHW: each is a reshape to 6-D, a transpose and a reshape
    /// back, done as one strided read.
    /// </summary>
    public sealed class SpaceDepthOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "DepthToSpace", "SpaceToDepth" };

        /// <summary>The output shape, and the 6-D view of the input with the permutation that orders it as the output.</summary>
        private static (Shape Out, int[] Dims6, int[] Perm) Plan(OpContext ctx, Shape x)
        {
            if (x.Rank != 4) throw ctx.ShapeError($"the input must be 4-D (NCHW), it is {x}");
            long b = ctx.Int("blocksize");
            if (b <= 0 || b > 4096) throw ctx.ShapeError($"blocksize {b} is invalid");
            int bs = (int)b, n = x[0], c = x[1], h = x[2], w = x[3];
            if (ctx.Node.OpType == "SpaceToDepth")
            {
                if (h % bs != 0 || w % bs != 0) throw ctx.ShapeError($"height and width of {x} are not multiples of blocksize {bs}");
                return (new Shape(n, c * bs * bs, h / bs, w / bs), new[] { n, c, h / bs, bs, w / bs, bs }, new[] { 0, 3, 5, 1, 2, 4 });
            }
            if (c % (bs * bs) != 0) throw ctx.ShapeError($"channels of {x} are not a multiple of blocksize² = {bs * bs}");
            string mode = ctx.String("mode", "DCR");
            var outShape = new Shape(n, c / (bs * bs), h * bs, w * bs);
            return mode switch
            {
                "DCR" => (outShape, new[] { n, bs, bs, c / (bs * bs), h, w }, new[] { 0, 3, 4, 1, 5, 2 }),
                "CRD" => (outShape, new[] { n, c / (bs * bs), bs, bs, h, w }, new[] { 0, 1, 4, 2, 5, 3 }),
                _ => throw ctx.Unsupported($"mode '{mode}' is not supported (DCR, CRD)"),
            };
        }

        private static (int[] Dims, int[] Strides) Walk(int[] dims6, int[] perm)
        {
            var st = new Shape(dims6).Strides();
            return (perm.Select(p => dims6[p]).ToArray(), perm.Select(p => st[p]).ToArray());
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            return new[] { x.WithShape(Plan(ctx, x.Shape).Out) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (shape, dims6, perm) = Plan(ctx, x.Shape);
            var (dims, strides) = Walk(dims6, perm);
            return new[] { Strides.Take(x, shape, Strides.Map(dims, strides, 0)) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var (shape, dims6, perm) = Plan(ctx.Op, x.Shape);
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, $"{x.Shape} → {shape}, blocksize {ctx.Op.Int("blocksize")}" +
                (ctx.Node.OpType == "DepthToSpace" ? ", " + ctx.Op.String("mode", "DCR") : ""), "a 6-D transpose");
            var (dims, strides) = Walk(dims6, perm);
            Strides.EmitCopy(ctx, 0, 0, dims, strides, 0);
        }
    }
}
