using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Elementwise;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Expand (broadcast to a shape, both ways as numpy does) and Tile (repeat along each axis). Both are strided reads
    /// with stride 0 where data repeats: Expand reads x with broadcast strides; Tile walks [r0, d0, r1, d1, …] with strides [0, s0, 0, s1, …].
    /// The shape and repeats must be known at build time.
    /// </summary>
    public sealed class ExpandTileOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Expand", "Tile" };

        private static (Shape Out, int[] Dims, int[] Strides) Walk(OpContext ctx, Shape x)
        {
            if (ctx.Node.OpType == "Expand")
            {
                var target = ctx.RequireConstant(1, "shape").ToLongs();
                if (target.Any(d => d < 0 || d > int.MaxValue)) throw ctx.ShapeError($"shape [{string.Join(",", target)}] has an invalid dimension");
                var outShape = Broadcast.Shapes(ctx, x, new Shape(target.Select(d => (int)d)));
                return (outShape, outShape.ToArray(), Broadcast.Strides(x, outShape));
            }
            if (ctx.Opset < 6) throw ctx.Unsupported("Tile before opset 6 (tiles and axis inputs) is not supported");
            var repeats = ctx.RequireConstant(1, "repeats").ToLongs();
            if (repeats.Length != x.Rank) throw ctx.ShapeError($"repeats has {repeats.Length} entries but the input has rank {x.Rank}");
            if (repeats.Any(r => r < 0)) throw ctx.ShapeError($"repeats [{string.Join(",", repeats)}] has a negative entry");
            var st = x.Strides();
            var dims = new List<int>(); var strides = new List<int>(); var outDims = new long[x.Rank];
            for (int d = 0; d < x.Rank; d++)
            {
                outDims[d] = x[d] * repeats[d];
                if (outDims[d] > int.MaxValue) throw ctx.Error(Diagnostics.DiagnosticIds.TensorTooLarge, "the tiled tensor is too large");
                dims.Add((int)repeats[d]); strides.Add(0);
                dims.Add(x[d]); strides.Add(st[d]);
            }
            return (new Shape(outDims.Select(d => (int)d)), dims.ToArray(), strides.ToArray());
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            return new[] { x.WithShape(Walk(ctx, x.Shape).Out) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var (shape, dims, strides) = Walk(ctx, x.Shape);
            return new[] { Strides.Take(x, shape, shape.ElementCount == 0 ? new int[0] : Strides.Map(dims, strides, 0)) };
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var (shape, dims, strides) = Walk(ctx.Op, x.Shape);
            if (ctx.Node.OpType == "Expand")
                ctx.Describe("Expand", "Expand", $"{x.Shape} → {shape}", "y = x broadcast to the shape");
            else
                ctx.Describe("Tile", "Tile", $"{x.Shape} → {shape}, repeats [{string.Join(",", dims.Where((_, i) => i % 2 == 0))}]", "y[i] = x[i mod dims]");
            Strides.EmitCopy(ctx, 0, 0, dims, strides, 0);
        }
    }
}
