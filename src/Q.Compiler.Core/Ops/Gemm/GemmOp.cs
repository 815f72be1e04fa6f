using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Activation;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Gemm
{
    /// <summary>
    /// Gemm (Y = alpha·A'·B' + beta·C) and MatMul (numpy semantics, batch broadcasting), float32.
    /// Constant weights are transposed, scaled by alpha and packed into the kernels' 16-column panels at build time.
    /// </summary>
    public sealed class GemmOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Gemm", "MatMul" };

        /// <summary>Bias modes understood by the Gemm kernel.</summary>
        public const int BiasNone = 0, BiasScalar = 1, BiasPerColumn = 2, BiasPerRow = 3, BiasFull = 4;

        private sealed class Problem
        {
            public int M, N, K;
            public bool TransA, TransB;
            public float Alpha = 1, Beta = 1;
            public Shape Out = Shape.Scalar;
            /// <summary>MatMul with batch dimensions: element offsets of each batch's A and B matrices.</summary>
            public int[]? AOffsets, BOffsets;
        }

        private static Problem Resolve(OpContext ctx)
        {
            var a = ctx.Input(0); var b = ctx.Input(1);
            if (a.ElementType != DataType.Float || b.ElementType != DataType.Float)
                throw ctx.Unsupported($"{ctx.Node.OpType} on {a.ElementType.ShortName()} is not supported (float32 only)");
            var p = new Problem();
            if (ctx.Node.OpType == "Gemm")
            {
                if (a.Shape.Rank != 2 || b.Shape.Rank != 2) throw ctx.ShapeError($"Gemm needs 2-D inputs, got {a.Shape} and {b.Shape}");
                p.TransA = ctx.Int("transA", 0) != 0; p.TransB = ctx.Int("transB", 0) != 0;
                p.Alpha = ctx.Float("alpha", 1); p.Beta = ctx.Float("beta", 1);
                p.M = p.TransA ? a.Shape[1] : a.Shape[0];
                p.K = p.TransA ? a.Shape[0] : a.Shape[1];
                int kb = p.TransB ? b.Shape[1] : b.Shape[0];
                p.N = p.TransB ? b.Shape[0] : b.Shape[1];
                if (kb != p.K) throw ctx.ShapeError($"A {a.Shape} and B {b.Shape} have inner sizes {p.K} and {kb}");
                if (ctx.HasInput(2) && BiasMode(ctx.Input(2).Shape, p.M, p.N) < 0)
                    throw ctx.ShapeError($"C {ctx.Input(2).Shape} does not broadcast to [{p.M},{p.N}]");
                p.Out = new Shape(p.M, p.N);
                return p;
            }
            var shape = MatMulShape.Resolve(ctx, a.Shape, b.Shape);
            p.M = shape.M; p.K = shape.K; p.N = shape.N; p.Out = shape.Output;
            // Every batch of A uses the same B: one Gemm with M·batch rows (A is contiguous).
            if (shape.BShared) { p.M *= shape.Batches; return p; }
            p.AOffsets = shape.AOffsets; p.BOffsets = shape.BOffsets;
            return p;
        }

        private static int BiasMode(Shape c, int m, int n)
        {
            var d = c.Dims;
            if (c.ElementCount == 1) return BiasScalar;
            if (d.Count == 1) return d[0] == n ? BiasPerColumn : -1;
            if (d.Count == 2)
            {
                if (d[0] == m && d[1] == n) return BiasFull;
                if (d[0] == 1 && d[1] == n) return BiasPerColumn;
                if (d[0] == m && d[1] == 1) return BiasPerRow;
            }
            return -1;
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(DataType.Float, Resolve(ctx).Out) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var p = Resolve(ctx);
            var a = inputs[0]!.ToFloats(); var b = inputs[1]!.ToFloats();
            var y = new float[p.Out.ElementCount];
            int batches = p.AOffsets?.Length ?? 1;
            for (int t = 0; t < batches; t++)
            {
                int oa = p.AOffsets?[t] ?? 0, ob = p.BOffsets?[t] ?? 0, oy = t * p.M * p.N;
                for (int i = 0; i < p.M; i++)
                    for (int j = 0; j < p.N; j++)
                    {
                        double acc = 0;
                        for (int k = 0; k < p.K; k++)
                        {
                            float av = p.TransA ? a[oa + k * p.M + i] : a[oa + i * p.K + k];
                            float bv = p.TransB ? b[ob + j * p.K + k] : b[ob + k * p.N + j];
                            acc += (double)av * bv;
                        }
                        y[oy + i * p.N + j] = (float)(acc * p.Alpha);
                    }
            }
            if (ctx.Node.OpType == "Gemm" && inputs.Count > 2 && inputs[2] is not null)
            {
                var c = inputs[2]!.ToFloats();
                int mode = BiasMode(inputs[2]!.Shape, p.M, p.N);
                for (int i = 0; i < p.M; i++)
                    for (int j = 0; j < p.N; j++)
                        y[i * p.N + j] += p.Beta * c[mode switch { BiasScalar => 0, BiasPerColumn => j, BiasPerRow => i, _ => i * p.N + j }];
            }
            return new[] { Tensor.FromFloats(p.Out, ActivationReference.Apply(y, ctx.Node.Activation)) };
        }

        /// <summary>Panel width of the kernels' packed B layout (Q.Compiler.Kernels.Gemm.PanelWidth).</summary>
        public const int PanelWidth = 16;

        /// <summary>
        /// Packs alpha·op(B) ([K, N] after transB) into the GEMM kernels' panel layout: panels of 16 columns, panel p holds
        /// rows k = 0..K−1 of 16 floats, element (k, j) at [p·K·16 + k·16 + j % 16], the last panel zero-padded. The layout
        /// is the same for every instruction set, so packing at build time does not tie the code to the build machine.
        /// </summary>
        public static float[] PackB(float[] b, int k, int n, bool transB, float alpha)
        {
            int panels = (n + PanelWidth - 1) / PanelWidth;
            var dst = new float[panels * k * PanelWidth];
            for (int p = 0; p < panels; p++)
                for (int kk = 0; kk < k; kk++)
                    for (int j = 0; j < PanelWidth && p * PanelWidth + j < n; j++)
                    {
                        int col = p * PanelWidth + j;
                        dst[(p * k + kk) * PanelWidth + j] = alpha * (transB ? b[col * k + kk] : b[kk * n + col]);
                    }
            return dst;
        }

        public override void Lower(LowerContext ctx)
        {
            var p = Resolve(ctx.Op);
            int biasMode = BiasNone;
            string bias;
            float beta = p.Beta;
            if (ctx.Node.OpType == "Gemm" && ctx.Op.HasInput(2))
            {
                biasMode = BiasMode(ctx.InputType(2).Shape, p.M, p.N);
                bias = ctx.In(2);
                var cConst = ctx.Op.Constant(2);
                if (cConst is not null && beta != 1)
                {
                    bias = ctx.Constant("C_scaled", Tensor.FromFloats(cConst.Shape, cConst.ToFloats().Select(v => v * beta).ToArray()));
                    beta = 1;
                }
            }
            else bias = ctx.Constant("no_bias", Tensor.FromFloats(new Shape(1), new float[1]));

            var wConst = ctx.Op.Constant(1);
            bool packed = wConst is not null && p.AOffsets is null && (beta == 1 || biasMode == BiasNone);
            string act = ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op;
            string batched = p.AOffsets is null ? "" : $", {p.AOffsets.Length} batches";
            bool showAlpha = p.Alpha != 1 && !packed;
            ctx.Describe(ctx.Node.OpType + ctx.ActivationSuffix, $"{ctx.Node.OpType}{p.M}x{p.K}x{p.N}{act}",
                $"M={p.M}, K={p.K}, N={p.N}{(p.TransA ? ", A transposed" : "")}{(p.TransB && !packed ? ", B transposed" : "")}{batched}{(packed ? ", B packed at build time" : "")}",
                $"y[m,n] = {ConvActivation(ctx)}({(showAlpha ? "α·" : "")}Σ_k a[m,k]·b[k,n]{(biasMode != BiasNone ? (beta != 1 ? " + β·c" : " + c") : "")})");
            if (packed)
            {
                // Constant weights: alpha·op(B) packed into 16-column panels at build time.
                var bp = PackB(wConst!.ToFloats(), p.K, p.N, p.TransB, p.Alpha);
                string b = ctx.Constant("B_packed", Tensor.FromFloats(new Shape((p.N + PanelWidth - 1) / PanelWidth, p.K, PanelWidth), bp));
                var args = new List<PlanArg>
                {
                    ctx.InArg(0), PlanArg.In(b), PlanArg.In(bias), ctx.OutArg(0),
                    PlanArg.Int(p.M), PlanArg.Int(p.N), PlanArg.Int(p.K), PlanArg.Bool(p.TransA), PlanArg.Int(biasMode),
                };
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Gemm.RunPacked", args.ToArray());
            }
            else if (p.AOffsets is null)
            {
                var args = new List<PlanArg>
                {
                    ctx.InArg(0), ctx.InArg(1), PlanArg.In(bias), ctx.OutArg(0),
                    PlanArg.Int(p.M), PlanArg.Int(p.N), PlanArg.Int(p.K), PlanArg.Bool(p.TransA), PlanArg.Bool(p.TransB),
                    PlanArg.Float(p.Alpha), PlanArg.Float(beta), PlanArg.Int(biasMode),
                };
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Gemm.Run", args.ToArray());
            }
            else
            {
                var args = new List<PlanArg>
                {
                    ctx.InArg(0), ctx.InArg(1), ctx.OutArg(0), PlanArg.Int(p.M), PlanArg.Int(p.N), PlanArg.Int(p.K),
                    PlanArg.Ints(p.AOffsets), PlanArg.Ints(p.BOffsets!),
                };
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Gemm.Batched", args.ToArray());
            }
        }

        private static string ConvActivation(LowerContext ctx) => ctx.Node.Activation?.Op.ToLowerInvariant() ?? "";
    }
}
