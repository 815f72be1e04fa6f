using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Conv
{
    /// <summary>Conv (1-D and 2-D, grouped and depthwise, pads, strides, dilations), float32.</summary>
    public sealed class ConvOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Conv" };

        private static (SpatialGeometry G, int N, int C, int M, int Group) Resolve(OpContext ctx)
        {
            var x = ctx.Input(0).Shape;
            var w = ctx.Input(1).Shape;
            if (ctx.Input(0).ElementType != DataType.Float || ctx.Input(1).ElementType != DataType.Float)
                throw ctx.Unsupported($"Conv on {ctx.Input(0).ElementType.ShortName()} is not supported (float32 only; float16 models are computed in float32)");
            if (w.Rank != x.Rank) throw ctx.ShapeError($"weight {w} and input {x} have different ranks");
            int group = (int)ctx.Int("group", 1);
            int c = x[1], m = w[0];
            if (group <= 0 || c % group != 0 || m % group != 0 || w[1] * group != c)
                throw ctx.ShapeError($"input has {c} channels, weight {w} and group {group} do not match");
            var kernel = Enumerable.Range(2, w.Rank - 2).Select(i => w[i]).ToArray();
            var ks = ctx.Ints("kernel_shape");
            if (ks is not null && !ks.Select(v => (int)v).SequenceEqual(kernel))
                throw ctx.ShapeError($"kernel_shape [{string.Join(",", ks)}] disagrees with the weight {w}");
            if (ctx.HasInput(2) && ctx.Input(2).Shape.ElementCount != m)
                throw ctx.ShapeError($"bias has {ctx.Input(2).Shape.ElementCount} values for {m} output channels");
            return (SpatialGeometry.Resolve(ctx, x, kernel), x[0], c, m, group);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var (g, n, _, m, _) = Resolve(ctx);
            return new[] { new TensorType(DataType.Float, new Shape(new[] { n, m }.Concat(g.OutputSpatial))) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var (g, n, c, m, group) = Resolve(ctx);
            var x = inputs[0]!.ToFloats();
            var w = inputs[1]!.ToFloats();
            var b = inputs.Count > 2 && inputs[2] is not null ? inputs[2]!.ToFloats() : new float[m];
            var y = Activation.ActivationReference.Apply(ConvReference.Run(x, w, b, n, c, g.InH, g.InW, m, g, group), ctx.Node.Activation);
            var shape = InferTypes(ctx)[0].Shape;
            return new[] { Tensor.FromFloats(shape, y) };
        }

        /// <summary>
        /// Floats of im2col scratch to aim for: one chunk of patches (K rows × chunk pixels) should sit in L2 next to the
        /// weights while the GEMM streams them (Q.Compiler.Kernels.Conv2D.Im2Col derives the chunk from the scratch size).
        /// </summary>
        public const int Im2ColTargetFloats = 48 * 1024;

        /// <summary>
        /// Largest padded input (floats) the implicit GEMM copies into scratch; larger stride-1 convolutions use im2col,
        /// whose scratch is bounded by <see cref="Im2ColTargetFloats"/>.
        /// </summary>
        public const long ImplicitGemmMaxFloats = 8L * 1024 * 1024;

        /// <summary>Output columns per implicit-GEMM call when rows are batched (Q.Compiler.Kernels.Conv2D.ImplicitGemmChunkColumns).</summary>
        public const int ImplicitGemmChunkColumns = 512;

        /// <summary>Panel width of the kernels' packed GEMM layout (Q.Compiler.Kernels.Gemm.PanelWidth).</summary>
        public const int PanelWidth = 16;

        public override void Lower(LowerContext ctx)
        {
            var (g, n, c, m, group) = Resolve(ctx.Op);
            if (ctx.Op.Constant(1) is null)
                throw ctx.Op.Error(DiagnosticIds.NotConstant, "a Conv whose weights are computed at run time is not supported");
            string bias = ctx.Op.HasInput(2) ? ctx.In(2) : ctx.Constant("zero_bias", Tensor.FromFloats(new Shape(m), new float[m]));
            int cg = c / group;
            bool depthwise = group == c && group == m;
            bool pointwise = g.IsPointwise;
            string kind = depthwise ? "Depthwise" : group > 1 ? "Grouped" : "";
            // Implicit GEMM for stride 1, and for larger strides when output rows fill at least two panels (it runs one
            // GEMM per row there); the padded, phase-split input must stay a reasonable scratch size.
            int pwAll = g.InW + g.PadLeft + g.PadRight, pws = (pwAll + g.StrideW - 1) / g.StrideW;
            long paddedInput = (long)c * (g.InH + g.PadTop + g.PadBottom) * g.StrideW * pws;
            bool implicitGemm = !depthwise && !pointwise && paddedInput <= ImplicitGemmMaxFloats
                && ((g.StrideH == 1 && g.StrideW == 1) || g.OutW >= 2 * PanelWidth);
            string strategy = depthwise ? "depthwise kernel" : pointwise ? "GEMM on NCHW" : implicitGemm ? "implicit GEMM" : "im2col + GEMM";
            ctx.Describe("Conv" + ctx.ActivationSuffix, $"{kind}Conv{g.KernelName}" + (ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op),
                $"{c}→{m} channels{(group > 1 ? $", {group} groups" : "")}, {g.Describe()}; {strategy}",
                $"y[oc] = {ActivationMath(ctx)}(b[oc] + Σ_ic,kh,kw x[ic, oh·s+kh·d−p, ow·s+kw·d−p] · w[oc, ic, kh, kw])");
            var args = new List<PlanArg> { ctx.InArg(0), ctx.InArg(1), PlanArg.In(bias), ctx.OutArg(0) };
            if (depthwise)
            {
                // Padded plane split into StrideW column phases (see Conv2D.Depthwise).
                int pw = g.InW + g.PadLeft + g.PadRight;
                int length = (g.InH + g.PadTop + g.PadBottom) * g.StrideW * ((pw + g.StrideW - 1) / g.StrideW);
                args.Add(PlanArg.Out(ctx.Scratch("padded", DataType.Float, new Shape(length))));
                args.AddRange(new[]
                {
                    PlanArg.Int(n), PlanArg.Int(c), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                    PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                    PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW),
                    PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(g.PadBottom), PlanArg.Int(g.PadRight),
                });
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Conv2D.Depthwise", args.ToArray());
                return;
            }
            if (pointwise)
            {
                // Room to pack the input planes (B of the GEMM) one K×N block at a time (Gemm.PackBufferLength).
                int hw = g.InH * g.InW;
                int packLength = Math.Min(512, cg) * Math.Min(8, (hw + PanelWidth - 1) / PanelWidth) * PanelWidth;
                args.Add(PlanArg.Out(ctx.Scratch("packed", DataType.Float, new Shape(packLength))));
                args.AddRange(new[] { PlanArg.Int(n), PlanArg.Int(c), PlanArg.Int(hw), PlanArg.Int(m), PlanArg.Int(group) });
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Conv2D.Pointwise", args.ToArray());
                return;
            }
            int k = cg * g.KernelH * g.KernelW, plane = g.OutH * g.OutW;
            if (implicitGemm)
            {
                // Implicit GEMM over a padded (phase-split) copy of the input, plus a staging tile of R output rows
                // unless rows go straight to y (Conv2D.ImplicitGemmScratchLength).
                bool direct = g.StrideH > 1 || g.StrideW > 1 || (g.OutW % PanelWidth == 0 && g.OutW >= 4 * PanelWidth);
                int staging = direct ? 0 : m / group * Math.Max(1, ImplicitGemmChunkColumns / pwAll) * pwAll;
                int length = checked((int)paddedInput + PanelWidth + k + staging);
                args.Add(PlanArg.Out(ctx.Scratch("padded", DataType.Float, new Shape(length))));
                args.AddRange(new[]
                {
                    PlanArg.Int(n), PlanArg.Int(c), PlanArg.Int(g.InH), PlanArg.Int(g.InW),
                    PlanArg.Int(m), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW), PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW),
                    PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW), PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW),
                    PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(g.PadBottom), PlanArg.Int(g.PadRight), PlanArg.Int(group),
                });
                args.AddRange(ctx.ActivationArgs());
                ctx.Call("Conv2D.ImplicitGemm", args.ToArray());
                return;
            }
            // im2col chunk: a whole number of 16-pixel panels, at least one, at most the output plane.
            int chunk = Math.Max(PanelWidth, Im2ColTargetFloats / k / PanelWidth * PanelWidth);
            chunk = Math.Min(chunk, (plane + PanelWidth - 1) / PanelWidth * PanelWidth);
            args.Add(PlanArg.Out(ctx.Scratch("patches", DataType.Float, new Shape(k, chunk))));
            args.AddRange(new[]
            {
                PlanArg.Int(n), PlanArg.Int(c), PlanArg.Int(g.InH), PlanArg.Int(g.InW),
                PlanArg.Int(m), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW), PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(group),
            });
            args.AddRange(ctx.ActivationArgs());
            ctx.Call("Conv2D.Im2Col", args.ToArray());
        }

        internal static string ActivationMath(LowerContext ctx) => ctx.Node.Activation?.Op.ToLowerInvariant() ?? "";
    }

    /// <summary>Direct convolution in float64 accumulation: the reference for kernels and constant folding.</summary>
    /// <remarks>
    /// Every output accumulates b[oc] + Σ x·w in the order (ic, kh, kw), as the textbook loop nest does; the loops are only
    /// arranged so that the innermost one runs over a row of output pixels without bounds tests (the valid column range of
    /// each kernel tap is computed once), and for stride 1 a vector of output pixels at a time (the same double products and
    /// sums per element, so the same bits). Calibration runs the whole model through this at build time.
    /// </remarks>
    public static class ConvReference
    {
        private static readonly int FloatLanes = Vector<float>.Count, DoubleLanes = Vector<double>.Count;

        public static float[] Run(float[] x, float[] w, float[] b, int n, int c, int h, int wd, int m, SpatialGeometry g, int group)
        {
            int oh = g.OutH, ow = g.OutW, cg = c / group, mg = m / group;
            var y = new float[n * m * oh * ow];
            var acc = new double[oh * ow];
            for (int ni = 0; ni < n; ni++)
                for (int oc = 0; oc < m; oc++)
                {
                    int grp = oc / mg;
                    for (int i = 0; i < acc.Length; i++) acc[i] = b[oc];
                    for (int ic = 0; ic < cg; ic++)
                    {
                        int plane = (ni * c + grp * cg + ic) * h * wd;
                        for (int ky = 0; ky < g.KernelH; ky++)
                            for (int kx = 0; kx < g.KernelW; kx++)
                            {
                                double wv = w[((oc * cg + ic) * g.KernelH + ky) * g.KernelW + kx];
                                int offX = kx * g.DilationW - g.PadLeft;
                                // Output columns whose input column ox·s + offX lies inside [0, wd).
                                int oxFirst = offX >= 0 ? 0 : (-offX + g.StrideW - 1) / g.StrideW;
                                int oxEnd = wd - 1 - offX < 0 ? 0 : Math.Min(ow, (wd - 1 - offX) / g.StrideW + 1);
                                var wvv = new Vector<double>(wv);
                                for (int oy = 0; oy < oh; oy++)
                                {
                                    int iy = oy * g.StrideH + ky * g.DilationH - g.PadTop;
                                    if (iy < 0 || iy >= h) continue;
                                    int row = plane + iy * wd + offX, outRow = oy * ow;
                                    int ox = oxFirst;
                                    if (g.StrideW == 1 && Vector.IsHardwareAccelerated)
                                    {
                                        // The same double products and sums per element as the scalar loop, a vector at a time.
                                        for (; ox + FloatLanes <= oxEnd; ox += FloatLanes)
                                        {
                                            Vector.Widen(new Vector<float>(x, row + ox), out var lo, out var hi);
                                            int a = outRow + ox;
                                            (new Vector<double>(acc, a) + lo * wvv).CopyTo(acc, a);
                                            (new Vector<double>(acc, a + DoubleLanes) + hi * wvv).CopyTo(acc, a + DoubleLanes);
                                        }
                                    }
                                    for (; ox < oxEnd; ox++)
                                        acc[outRow + ox] += x[row + ox * g.StrideW] * wv;
                                }
                            }
                    }
                    int o = (ni * m + oc) * oh * ow;
                    for (int i = 0; i < acc.Length; i++) y[o + i] = (float)acc[i];
                }
            return y;
        }
    }
}
