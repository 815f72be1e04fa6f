using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.ConvTranspose
{
    /// <summary>
    /// ConvTranspose (1-D and 2-D; groups, strides, dilations, pads, output_padding, output_shape, auto_pad), float32.
    /// Each input pixel scatters x·W into the output: y[m, ih·s − pad + kh·d, …] += x[c, ih, …]·W[c, m, kh, …].
    /// </summary>
    public sealed class ConvTransposeOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "ConvTranspose" };

        /// <summary>The problem lifted to 2-D (1-D has height 1).</summary>
        internal sealed class Geometry
        {
            public int N, C, M, Group, Rank;
            public int InH, InW, OutH, OutW, KH, KW, SH, SW, DH, DW, PadTop, PadLeft;
            public Shape Out = Shape.Scalar;

            public string Describe() =>
                $"{C}→{M} channels{(Group > 1 ? $", {Group} groups" : "")}, {(Rank == 1 ? $"{KW}" : $"{KH}x{KW}")}, " +
                $"stride {(SH == SW || Rank == 1 ? $"{SW}" : $"{SH}x{SW}")}{(DH != 1 || DW != 1 ? $", dilation {DH}x{DW}" : "")}" +
                (PadTop != 0 || PadLeft != 0 ? $", output cropped by {PadTop},{PadLeft} at the start" : "");
        }

        internal static Geometry Resolve(OpContext ctx)
        {
            var xt = ctx.Input(0); var wt = ctx.Input(1);
            if (xt.ElementType != DataType.Float || wt.ElementType != DataType.Float)
                throw ctx.Unsupported($"ConvTranspose on {xt.ElementType.ShortName()} is not supported (float32 only)");
            var x = xt.Shape; var w = wt.Shape;
            int rank = x.Rank - 2;
            if (rank < 1) throw ctx.ShapeError($"input {x} needs at least one spatial dimension");
            if (rank > 2) throw ctx.Unsupported($"{rank}-D ConvTranspose is not supported yet (1-D and 2-D are)");
            if (w.Rank != x.Rank) throw ctx.ShapeError($"weight {w} and input {x} have different ranks");
            int group = checked((int)ctx.Int("group", 1));
            if (group <= 0 || w[0] != x[1] || x[1] % group != 0)
                throw ctx.ShapeError($"weight {w} needs {x[1]} input channels divisible by group {group}");
            int m = w[1] * group;
            var kernel = Enumerable.Range(2, rank).Select(i => w[i]).ToArray();
            var ks = ctx.Ints("kernel_shape");
            if (ks is not null && !ks.Select(v => (int)v).SequenceEqual(kernel))
                throw ctx.ShapeError($"kernel_shape [{string.Join(",", ks)}] disagrees with the weight {w}");
            if (ctx.HasInput(2) && ctx.Input(2).Shape.ElementCount != m)
                throw ctx.ShapeError($"bias has {ctx.Input(2).Shape.ElementCount} values for {m} output channels");
            var strides = Ints(ctx, "strides", rank, 1);
            var dil = Ints(ctx, "dilations", rank, 1);
            var outPad = Ints(ctx, "output_padding", rank, 0);
            var pads = ctx.Ints("pads")?.Select(v => checked((int)v)).ToArray() ?? new int[2 * rank];
            if (pads.Length != 2 * rank) throw ctx.ShapeError($"pads has {pads.Length} values; expected {2 * rank}");
            if (strides.Any(s => s <= 0) || dil.Any(d => d <= 0) || outPad.Any(p => p < 0))
                throw ctx.ShapeError("strides and dilations must be positive and output_padding non-negative");
            var outShapeAttr = ctx.Ints("output_shape");
            string autoPad = ctx.String("auto_pad", "NOTSET");
            if (autoPad != "NOTSET" && autoPad != "" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" && autoPad != "VALID")
                throw ctx.Unsupported($"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
            if (outShapeAttr is not null && outShapeAttr.Length == rank + 2) outShapeAttr = outShapeAttr.Skip(2).ToArray();
            if (outShapeAttr is not null && outShapeAttr.Length != rank)
                throw ctx.ShapeError($"output_shape has {outShapeAttr.Length} values; expected {rank}");

            var outSz = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                int inSz = x[2 + i];
                int full = strides[i] * (inSz - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1;
                int? target = outShapeAttr is not null ? checked((int)outShapeAttr[i])
                    : autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" ? inSz * strides[i] : (int?)null;
                if (autoPad == "VALID") { pads[i] = pads[i + rank] = 0; }
                if (target is int t)
                {
                    // As the ONNX reference: floor division, so a negative total (a larger output) extends the end.
                    int total = full - t, half = FloorDiv(total, 2);
                    pads[i] = autoPad == "SAME_UPPER" ? half : total - half;
                    pads[i + rank] = total - pads[i];
                    outSz[i] = t;
                }
                else
                {
                    if (pads[i] < 0 || pads[i + rank] < 0) throw ctx.ShapeError("pads must be non-negative");
                    outSz[i] = full - pads[i] - pads[i + rank];
                }
                if (outSz[i] <= 0) throw ctx.ShapeError($"output spatial size {outSz[i]} is not positive");
            }

            var g = new Geometry { N = x[0], C = x[1], M = m, Group = group, Rank = rank };
            if (rank == 1)
            {
                g.InH = 1; g.InW = x[2]; g.OutH = 1; g.OutW = outSz[0]; g.KH = 1; g.KW = kernel[0];
                g.SH = 1; g.SW = strides[0]; g.DH = 1; g.DW = dil[0]; g.PadTop = 0; g.PadLeft = pads[0];
            }
            else
            {
                g.InH = x[2]; g.InW = x[3]; g.OutH = outSz[0]; g.OutW = outSz[1]; g.KH = kernel[0]; g.KW = kernel[1];
                g.SH = strides[0]; g.SW = strides[1]; g.DH = dil[0]; g.DW = dil[1]; g.PadTop = pads[0]; g.PadLeft = pads[1];
            }
            g.Out = new Shape(new[] { g.N, g.M }.Concat(outSz));
            return g;
        }

        private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

        private static int[] Ints(OpContext ctx, string name, int rank, int def)
        {
            var v = ctx.Ints(name);
            if (v is null || v.Length == 0) return Enumerable.Repeat(def, rank).ToArray();
            if (v.Length != rank) throw ctx.ShapeError($"{name} has {v.Length} values; expected {rank}");
            return v.Select(a => checked((int)a)).ToArray();
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(DataType.Float, Resolve(ctx).Out) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var g = Resolve(ctx);
            var x = inputs[0]!.ToDoubles(); var w = inputs[1]!.ToDoubles();
            var b = inputs.Count > 2 && inputs[2] is not null ? inputs[2]!.ToDoubles() : new double[g.M];
            int cg = g.C / g.Group, mg = g.M / g.Group;
            var y = new double[g.Out.ElementCount];
            for (int n = 0; n < g.N; n++)
                for (int oc = 0; oc < g.M; oc++)
                    for (int i = 0; i < g.OutH * g.OutW; i++) y[(n * g.M + oc) * g.OutH * g.OutW + i] = b[oc];
            for (int n = 0; n < g.N; n++)
                for (int c = 0; c < g.C; c++)
                {
                    int grp = c / cg;
                    for (int ih = 0; ih < g.InH; ih++)
                        for (int iw = 0; iw < g.InW; iw++)
                        {
                            double xv = x[((n * g.C + c) * g.InH + ih) * g.InW + iw];
                            for (int ml = 0; ml < mg; ml++)
                                for (int kh = 0; kh < g.KH; kh++)
                                {
                                    int oh = ih * g.SH - g.PadTop + kh * g.DH;
                                    if (oh < 0 || oh >= g.OutH) continue;
                                    for (int kw = 0; kw < g.KW; kw++)
                                    {
                                        int ow = iw * g.SW - g.PadLeft + kw * g.DW;
                                        if (ow < 0 || ow >= g.OutW) continue;
                                        int oc = grp * mg + ml;
                                        y[((n * g.M + oc) * g.OutH + oh) * g.OutW + ow] += xv * w[((c * mg + ml) * g.KH + kh) * g.KW + kw];
                                    }
                                }
                        }
                }
            var yf = Activation.ActivationReference.Apply(y.Select(v => (float)v).ToArray(), ctx.Node.Activation);
            return new[] { Tensor.FromFloats(g.Out, yf) };
        }

        public override void Lower(LowerContext ctx)
        {
            var g = Resolve(ctx.Op);
            string bias = ctx.Op.HasInput(2) ? ctx.In(2) : ctx.Constant("zero_bias", Tensor.FromFloats(new Shape(g.M), new float[g.M]));
            string act = ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op;
            ctx.Describe("ConvTranspose" + ctx.ActivationSuffix, "ConvTranspose" + (g.Rank == 1 ? $"{g.KW}" : $"{g.KH}x{g.KW}") + act, g.Describe(),
                "y[m, ih·s − p + kh·d, iw·s − p + kw·d] += x[c, ih, iw] · w[c, m, kh, kw], y starts at b[m]" +
                (ctx.Node.Activation is null ? "" : $"; then y = {ctx.Node.Activation.Op.ToLowerInvariant()}(y)"));
            var args = new List<PlanArg>
            {
                ctx.InArg(0), ctx.InArg(1), PlanArg.In(bias), ctx.OutArg(0),
                PlanArg.Int(g.N), PlanArg.Int(g.C), PlanArg.Int(g.InH), PlanArg.Int(g.InW),
                PlanArg.Int(g.M), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                PlanArg.Int(g.KH), PlanArg.Int(g.KW), PlanArg.Int(g.SH), PlanArg.Int(g.SW),
                PlanArg.Int(g.DH), PlanArg.Int(g.DW), PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(g.Group),
            };
            args.AddRange(ctx.ActivationArgs());
            ctx.Call("ConvTranspose2D.Run", args.ToArray());
        }
    }
}
