using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Pixel
{
    /// <summary>
    /// DepthToSpace (modes DCR and CRD) and SpaceToDepth: blocks of b×b pixels move between the channel axis and the spatial
    /// axes of an [N, C, H, W] tensor (the "pixel shuffle" of super-resolution networks). Any element type.
    /// </summary>
    public sealed class PixelShuffleOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "DepthToSpace", "SpaceToDepth" };

        private sealed class Geometry
        {
            public int N, C, H, W, B;
            public bool Crd, ToSpace;
            public Shape Out = Shape.Scalar;
        }

        private static Geometry Resolve(OpContext ctx)
        {
            var x = ctx.Input(0).Shape;
            if (x.Rank != 4) throw ctx.ShapeError($"{ctx.Node.OpType} needs a 4-D input, got {x}");
            long b = ctx.Int("blocksize");
            if (b <= 0) throw ctx.ShapeError($"blocksize {b} must be positive");
            var g = new Geometry { N = x[0], B = (int)b, ToSpace = ctx.Node.OpType == "DepthToSpace" };
            if (g.ToSpace)
            {
                string mode = ctx.String("mode", "DCR");
                if (mode != "DCR" && mode != "CRD") throw ctx.Unsupported($"mode '{mode}' is not DCR or CRD");
                g.Crd = mode == "CRD";
                if (x[1] % (g.B * g.B) != 0) throw ctx.ShapeError($"{x[1]} channels are not divisible by blocksize² = {g.B * g.B}");
                g.C = x[1] / (g.B * g.B); g.H = x[2]; g.W = x[3];
                g.Out = new Shape(g.N, g.C, g.H * g.B, g.W * g.B);
            }
            else
            {
                if (x[2] % g.B != 0 || x[3] % g.B != 0) throw ctx.ShapeError($"spatial size {x[2]}x{x[3]} is not divisible by blocksize {g.B}");
                g.C = x[1]; g.H = x[2] / g.B; g.W = x[3] / g.B;
                g.Out = new Shape(g.N, g.C * g.B * g.B, g.H, g.W);
            }
            return g;
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(ctx.Input(0).ElementType, Resolve(ctx).Out) };

        /// <summary>
        /// For each element of the space-side tensor [N, C, H·B, W·B], the flat index of the matching element of the depth-side
        /// tensor [N, C·B², H, W].
        /// </summary>
        private static int DepthIndex(Geometry g, int n, int c, int y, int x)
        {
            int h = y / g.B, i = y % g.B, w = x / g.B, j = x % g.B;
            int ch = g.Crd ? (c * g.B + i) * g.B + j : (i * g.B + j) * g.C + c;
            return ((n * g.C * g.B * g.B + ch) * g.H + h) * g.W + w;
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var g = Resolve(ctx);
            var x = inputs[0]!.ToDoubles();
            var y = new double[x.Length];
            int sh = g.H * g.B, sw = g.W * g.B, f = 0;
            for (int n = 0; n < g.N; n++)
                for (int c = 0; c < g.C; c++)
                    for (int yy = 0; yy < sh; yy++)
                        for (int xx = 0; xx < sw; xx++, f++)
                        {
                            int d = DepthIndex(g, n, c, yy, xx);
                            if (g.ToSpace) y[f] = x[d]; else y[d] = x[f];
                        }
            return new[] { Tensor.FromDoubles(inputs[0]!.ElementType, g.Out, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var g = Resolve(ctx.Op);
            string t = ctx.InputType(0).ElementType.CSharpName();
            string mode = g.ToSpace ? (g.Crd ? "CRD" : "DCR") : "";
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType + mode, $"{ctx.InputType(0).Shape} → {g.Out}, blocks of {g.B}x{g.B}",
                g.ToSpace
                    ? (g.Crd ? "y[c, h·b+i, w·b+j] = x[(c·b + i)·b + j, h, w]" : "y[c, h·b+i, w·b+j] = x[(i·b + j)·C + c, h, w]")
                    : "y[(i·b + j)·C + c, h, w] = x[c, h·b+i, w·b+j]");
            ctx.Call($"PixelShuffle.Run<{t}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(g.N), PlanArg.Int(g.C), PlanArg.Int(g.H), PlanArg.Int(g.W),
                PlanArg.Int(g.B), PlanArg.Bool(g.Crd), PlanArg.Bool(g.ToSpace));
        }
    }
}
