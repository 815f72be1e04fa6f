using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Resize
{
    /// <summary>
    /// Resize (opsets 10–19) and Upsample (7, 9): nearest (any element type, every nearest_mode), linear and cubic
    /// (float32; resized axes must be the last two), every coordinate_transformation_mode including tf_crop_and_resize,
    /// scales or sizes (known at build time), axes, keep_aspect_ratio_policy, exclude_outside, antialias.
    /// All index arithmetic happens at build time: each resized axis becomes a table of input taps and weights
    /// (see <see cref="ResizeAxis"/>), so the kernels only gather and blend.
    /// </summary>
    public sealed class ResizeOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Resize", "Upsample" };

        internal sealed class Plan
        {
            public string Mode = "nearest";
            public ResizeAxis[] Axes = Array.Empty<ResizeAxis>();
            public Shape Out = Shape.Scalar;
            public float Extrapolation;
        }

        internal static Plan Resolve(OpContext ctx)
        {
            var xt = ctx.Input(0);
            var x = xt.Shape;
            int r = x.Rank;
            if (r == 0) throw ctx.ShapeError("cannot resize a scalar");
            if (xt.ElementType == DataType.Bool || xt.ElementType == DataType.String)
                throw ctx.Unsupported($"Resize on {xt.ElementType.ShortName()} is not supported");
            bool upsample = ctx.Node.OpType == "Upsample";
            bool legacy = upsample || ctx.Opset < 11; // Upsample and Resize-10: scales only, asymmetric coordinates
            string mode = ctx.String("mode", "nearest");
            if (mode == "bilinear") mode = "linear";
            if (mode != "nearest" && mode != "linear" && mode != "cubic")
                throw ctx.Unsupported($"mode '{mode}' is not nearest, linear or cubic");
            if (legacy && mode == "cubic") throw ctx.Unsupported("cubic mode needs Resize from opset 11");
            if (mode != "nearest" && xt.ElementType != DataType.Float)
                throw ctx.Unsupported($"{mode} Resize on {xt.ElementType.ShortName()} is not supported (float32 only)");

            double[]? scales = null; long[]? sizes = null; double[]? roi = null;
            bool scalesSingle = true;
            if (upsample && ctx.Opset < 9)
                scales = (ctx.Floats("scales") ?? throw ctx.ShapeError("the scales attribute is required")).Select(v => (double)v).ToArray();
            else if (legacy)
                scales = ctx.RequireConstant(1, "scales").ToFloats().Select(v => (double)v).ToArray();
            else
            {
                if (ctx.HasInput(1)) { var t = ctx.RequireConstant(1, "roi"); if (t.Length > 0) roi = t.ToDoubles(); }
                if (ctx.HasInput(2)) { var t = ctx.RequireConstant(2, "scales"); if (t.Length > 0) { scales = t.ToDoubles(); scalesSingle = t.ElementType != DataType.Double; } }
                if (ctx.HasInput(3)) { var t = ctx.RequireConstant(3, "sizes"); if (t.Length > 0) sizes = t.ToLongs(); }
                if ((scales is null) == (sizes is null))
                    throw ctx.ShapeError(scales is null ? "one of scales and sizes is required" : "scales and sizes cannot both be given");
            }

            int[] axes = Enumerable.Range(0, r).ToArray();
            var axesAttr = ctx.Opset >= 18 ? ctx.Ints("axes") : null;
            if (axesAttr is not null)
            {
                axes = axesAttr.Select(a => ctx.Axis(a, r, "axes entry")).ToArray();
                if (axes.Distinct().Count() != axes.Length) throw ctx.ShapeError("axes has a repeated entry");
            }
            int given = scales?.Length ?? sizes!.Length;
            if (given != axes.Length) throw ctx.ShapeError($"{(scales is null ? "sizes" : "scales")} has {given} values for {axes.Length} axes");
            if (roi is not null && roi.Length != 2 * axes.Length) throw ctx.ShapeError($"roi has {roi.Length} values; expected {2 * axes.Length}");

            // Per-axis scale and output size (non-listed axes keep their size with scale 1).
            var scale = Enumerable.Repeat(1.0, r).ToArray();
            var outSz = x.Dims.ToArray();
            var roiStart = new double[r]; var roiEnd = Enumerable.Repeat(1.0, r).ToArray();
            bool single = scales is not null && scalesSingle;
            for (int i = 0; i < axes.Length; i++)
            {
                int d = axes[i];
                if (roi is not null) { roiStart[d] = roi[i]; roiEnd[d] = roi[axes.Length + i]; }
                if (scales is not null)
                {
                    if (!(scales[i] > 0)) throw ctx.ShapeError($"scale {scales[i]} must be positive");
                    scale[d] = scales[i];
                    double o = Math.Floor(scales[i] * x[d]);
                    if (o > int.MaxValue) throw ctx.Error(Diagnostics.DiagnosticIds.TensorTooLarge, "the output is too large");
                    outSz[d] = (int)o;
                }
                else
                {
                    if (sizes![i] <= 0 || sizes[i] > int.MaxValue) throw ctx.ShapeError($"size {sizes[i]} must be positive");
                    outSz[d] = (int)sizes[i];
                    scale[d] = x[d] == 0 ? 1 : (double)sizes[i] / x[d];
                }
            }
            string policy = ctx.Opset >= 18 ? ctx.String("keep_aspect_ratio_policy", "stretch") : "stretch";
            if (sizes is not null && policy != "stretch")
            {
                if (policy != "not_larger" && policy != "not_smaller") throw ctx.Unsupported($"keep_aspect_ratio_policy '{policy}' is not supported");
                double s = policy == "not_larger" ? axes.Min(d => scale[d]) : axes.Max(d => scale[d]);
                foreach (int d in axes) { scale[d] = s; outSz[d] = (int)(s * x[d] + 0.5); }
            }
            if (outSz.Any(o => o <= 0)) throw ctx.ShapeError($"output size [{string.Join(",", outSz)}] has an empty dimension");

            string coord = legacy ? "asymmetric" : ctx.String("coordinate_transformation_mode", "half_pixel");
            string nearestMode = legacy ? "floor" : ctx.String("nearest_mode", "round_prefer_floor");
            var options = new ResizeAxis.Options
            {
                Mode = mode, Coordinate = coord, NearestMode = nearestMode,
                CubicA = ctx.Float("cubic_coeff_a", -0.75f),
                ExcludeOutside = !legacy && ctx.Int("exclude_outside", 0) != 0,
                Antialias = ctx.Opset >= 18 && ctx.Int("antialias", 0) != 0,
                Single = single,
            };
            if (options.Antialias && mode == "nearest") throw ctx.Unsupported("antialias is not defined for nearest mode");
            var plan = new Plan { Mode = mode, Out = new Shape(outSz), Extrapolation = ctx.Float("extrapolation_value", 0f) };
            try
            {
                plan.Axes = Enumerable.Range(0, r).Select(d => ResizeAxis.Build(x[d], outSz[d], scale[d], roiStart[d], roiEnd[d], options)).ToArray();
            }
            catch (ArgumentException e) { throw ctx.Unsupported(e.Message); }
            return plan;
        }

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(ctx.Input(0).ElementType, Resolve(ctx).Out) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var p = Resolve(ctx);
            var xt = inputs[0]!;
            var x = xt.ToDoubles();
            var inStrides = xt.Shape.Strides();
            var y = new double[p.Out.ElementCount];
            int r = p.Out.Rank;
            var idx = new int[r];
            for (int f = 0; f < y.Length; f++)
            {
                y[f] = Sample(p, x, inStrides, idx, 0, 0);
                for (int d = r - 1; d >= 0; d--) { if (++idx[d] < p.Out[d]) break; idx[d] = 0; }
            }
            return new[] { Tensor.FromDoubles(xt.ElementType, p.Out, y) };
        }

        /// <summary>Σ over the taps of axes d… of the product of their weights times the input (the reference, any rank).</summary>
        private static double Sample(Plan p, double[] x, int[] strides, int[] idx, int d, int offset)
        {
            if (d == idx.Length) return x[offset];
            var a = p.Axes[d];
            int o = idx[d];
            if (a.Extrapolate[o]) return p.Extrapolation;
            double acc = 0;
            for (int k = 0; k < a.Taps; k++)
            {
                double w = a.Weights[o * a.Taps + k];
                if (w == 0) continue;
                acc += w * Sample(p, x, strides, idx, d + 1, offset + a.Index[o * a.Taps + k] * strides[d]);
            }
            return acc;
        }

        public override void Lower(LowerContext ctx)
        {
            var p = Resolve(ctx.Op);
            var xt = ctx.InputType(0);
            var x = xt.Shape;
            int r = x.Rank;
            var resized = Enumerable.Range(0, r).Where(d => !p.Axes[d].IsIdentity).ToList();
            string what = $"{x} → {p.Out}, {p.Mode}";
            if (resized.Count == 0)
            {
                ctx.Describe(ctx.Node.OpType, "Identity", what + " (nothing changes)", "y = x");
                ctx.ViewOf(0, 0);
                return;
            }
            if (p.Mode == "nearest")
            {
                // Per axis, the input element offset of each output index (−1: extrapolated).
                var strides = x.Strides();
                var table = new List<int>();
                for (int d = 0; d < r; d++)
                    for (int o = 0; o < p.Out[d]; o++)
                        table.Add(p.Axes[d].Extrapolate[o] ? -1 : p.Axes[d].NearestIndex(o) * strides[d]);
                string t = ctx.Constant("offsets", new Tensor(DataType.Int32, new Shape(table.Count), table.ToArray()));
                ctx.Describe(ctx.Node.OpType, "ResizeNearest", what, "y[i] = x[nearest source index of i on every axis]");
                ctx.Call($"Resize.Nearest<{xt.ElementType.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.In(t),
                    PlanArg.Ints(p.Out.Dims.ToArray()), PlanArg.Float(p.Extrapolation));
                return;
            }
            if (resized.Any(d => d < r - 2) || r < 1)
                throw ctx.Op.Unsupported($"{p.Mode} Resize of axes [{string.Join(",", resized)}] of a rank-{r} tensor is not supported (only the last two axes may change)");
            var h = r >= 2 ? p.Axes[r - 2] : ResizeAxis.Identity(1);
            var w = p.Axes[r - 1];
            int planes = x.Dims.Take(Math.Max(0, r - 2)).Aggregate(1, (a, b) => a * b);
            string hi = ctx.Constant("rows", TapIndex(h)), hw = ctx.Constant("row_weights", Tensor.FromFloats(new Shape(h.Weights.Length), h.Weights.Select(v => (float)v).ToArray()));
            string wi = ctx.Constant("cols", TapIndex(w)), ww = ctx.Constant("col_weights", Tensor.FromFloats(new Shape(w.Weights.Length), w.Weights.Select(v => (float)v).ToArray()));
            ctx.Describe(ctx.Node.OpType, p.Mode == "linear" ? "ResizeLinear" : "ResizeCubic", $"{what}, {h.Taps}x{w.Taps} taps",
                "y[oy, ox] = Σ_a Σ_b wy[oy, a]·wx[ox, b]·x[iy[oy, a], ix[ox, b]]");
            ctx.Call("Resize.Separable", ctx.InArg(0), ctx.OutArg(0), PlanArg.In(hi), PlanArg.In(hw), PlanArg.In(wi), PlanArg.In(ww),
                PlanArg.Int(planes), PlanArg.Int(r >= 2 ? x[r - 2] : 1), PlanArg.Int(x[r - 1]), PlanArg.Int(h.Out), PlanArg.Int(w.Out),
                PlanArg.Int(h.Taps), PlanArg.Int(w.Taps), PlanArg.Float(p.Extrapolation));
        }

        /// <summary>Tap indices with −1 in the first tap of extrapolated outputs.</summary>
        private static Tensor TapIndex(ResizeAxis a)
        {
            var t = (int[])a.Index.Clone();
            for (int o = 0; o < a.Out; o++) if (a.Extrapolate[o]) t[o * a.Taps] = -1;
            return new Tensor(DataType.Int32, new Shape(t.Length), t);
        }
    }

    /// <summary>
    /// The sampling of one axis: for each output index, <see cref="Taps"/> input indices (clamped into the axis, as ONNX's
    /// edge padding does) and their weights, following the ONNX reference implementation (onnx.reference.ops.op_resize).
    /// </summary>
    internal sealed class ResizeAxis
    {
        public sealed class Options
        {
            public string Mode = "nearest", Coordinate = "half_pixel", NearestMode = "round_prefer_floor";
            public double CubicA = -0.75;
            public bool ExcludeOutside, Antialias;
            /// <summary>The scale came from a float32 tensor: coordinates are computed in float32, as the reference does.</summary>
            public bool Single;
        }

        public int In, Out, Taps;
        public int[] Index = Array.Empty<int>();
        public double[] Weights = Array.Empty<double>();
        public bool[] Extrapolate = Array.Empty<bool>();

        /// <summary>True when output index i reads exactly input index i (all its weight lands on index i).</summary>
        public bool IsIdentity
        {
            get
            {
                if (In != Out) return false;
                for (int o = 0; o < Out; o++)
                {
                    if (Extrapolate[o]) return false;
                    double own = 0, other = 0;
                    for (int k = 0; k < Taps; k++)
                    {
                        double w = Weights[o * Taps + k];
                        if (Index[o * Taps + k] == o) own += w; else other += Math.Abs(w);
                    }
                    if (Math.Abs(own - 1) > 1e-12 || other != 0) return false;
                }
                return true;
            }
        }

        /// <summary>The input index with the largest weight (nearest mode has exactly one tap of weight 1).</summary>
        public int NearestIndex(int o)
        {
            int best = 0;
            for (int k = 1; k < Taps; k++) if (Weights[o * Taps + k] > Weights[o * Taps + best]) best = k;
            return Index[o * Taps + best];
        }

        public static ResizeAxis Identity(int n) =>
            new ResizeAxis { In = n, Out = n, Taps = 1, Index = Enumerable.Range(0, n).ToArray(), Weights = Enumerable.Repeat(1.0, n).ToArray(), Extrapolate = new bool[n] };

        public static ResizeAxis Build(int inSz, int outSz, double scale, double roiStart, double roiEnd, Options o)
        {
            var rows = new List<(int[] Idx, double[] W, bool Extra)>();
            for (int i = 0; i < outSz; i++) rows.Add(Coefficients(i, inSz, outSz, scale, roiStart, roiEnd, o));
            int taps = rows.Count == 0 ? 1 : rows.Max(t => t.Idx.Length);
            var a = new ResizeAxis { In = inSz, Out = outSz, Taps = taps, Index = new int[outSz * taps], Weights = new double[outSz * taps], Extrapolate = new bool[outSz] };
            for (int i = 0; i < outSz; i++)
            {
                var (idx, w, extra) = rows[i];
                a.Extrapolate[i] = extra;
                for (int k = 0; k < taps; k++)
                {
                    a.Index[i * taps + k] = k < idx.Length ? Math.Min(Math.Max(idx[k], 0), inSz - 1) : 0;
                    a.Weights[i * taps + k] = k < w.Length ? w[k] : 0;
                }
            }
            return a;
        }

        private static (int[] Idx, double[] W, bool Extra) Coefficients(int x, int inSz, int outSz, double scale, double roiStart, double roiEnd, Options o)
        {
            Func<double, double> R = o.Single ? (v => (double)(float)v) : (Func<double, double>)(v => v);
            double s = R(scale);
            double outputWidth = R(s * inSz);
            double xo;
            switch (o.Coordinate)
            {
                case "align_corners": xo = outputWidth == 1 ? 0 : R(R(x * (inSz - 1)) / R(outputWidth - 1)); break;
                case "asymmetric": xo = R(x / s); break;
                case "tf_crop_and_resize":
                    xo = outputWidth == 1 ? (roiEnd - roiStart) * (inSz - 1) / 2 : x * (roiEnd - roiStart) * (inSz - 1) / (outputWidth - 1);
                    xo += roiStart * (inSz - 1);
                    xo = R(xo);
                    if (xo < 0 || xo > inSz - 1) return (new[] { 0 }, new[] { 0.0 }, true);
                    break;
                case "pytorch_half_pixel": xo = outputWidth == 1 ? -0.5 : R(R(R(x + 0.5) / s) - 0.5); break;
                case "half_pixel": xo = R(R(R(x + 0.5) / s) - 0.5); break;
                case "half_pixel_symmetric":
                {
                    double adjustment = outSz / outputWidth;
                    double center = inSz / 2.0;
                    double offset = center * (1 - adjustment);
                    xo = R(offset + R(R(x + 0.5) / s) - 0.5);
                    break;
                }
                default: throw new ArgumentException($"coordinate_transformation_mode '{o.Coordinate}' is not supported");
            }
            // ratio ∈ (0, 1]: an integral coordinate counts as the right end of the interval before it.
            double fl = Math.Floor(xo);
            int baseIdx = (int)fl;
            double ratio = xo - fl;
            if (ratio == 0) { ratio = 1; baseIdx -= 1; }
            ratio = R(ratio);

            double[] c;
            switch (o.Mode)
            {
                case "nearest":
                {
                    bool right = o.NearestMode switch
                    {
                        "round_prefer_floor" => ratio > 0.5,
                        "round_prefer_ceil" => ratio >= 0.5,
                        "floor" => ratio == 1,
                        "ceil" => true,
                        _ => throw new ArgumentException($"nearest_mode '{o.NearestMode}' is not supported"),
                    };
                    // An integral coordinate (ratio 1) always takes that index, whatever the mode.
                    if (ratio == 1) right = true;
                    return (new[] { right ? baseIdx + 1 : baseIdx }, new[] { 1.0 }, false);
                }
                case "linear":
                    c = o.Antialias ? LinearAntialias(ratio, scale) : new[] { 1 - ratio, ratio };
                    break;
                default:
                    c = o.Antialias ? CubicAntialias(ratio, scale, o.CubicA) : Cubic(ratio, o.CubicA);
                    break;
            }
            int n = c.Length;
            var idx = new int[n];
            for (int k = 0; k < n; k++) idx[k] = baseIdx - n / 2 + 1 + k;
            if (o.ExcludeOutside)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) { if (idx[k] < 0 || idx[k] >= inSz) c[k] = 0; sum += c[k]; }
                for (int k = 0; k < n; k++) c[k] /= sum;
            }
            return (idx, c, false);
        }

        private static double[] Cubic(double r, double a) => new[]
        {
            ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
            ((a + 2) * r - (a + 3)) * r * r + 1,
            ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
            ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a,
        };

        private static double[] CubicAntialias(double ratio, double scale, double a)
        {
            scale = Math.Min(scale, 1);
            int start = (int)Math.Floor(-2 / scale) + 1, end = 2 - start;
            var c = new double[end - start];
            for (int i = start; i < end; i++)
            {
                double v = Math.Abs(scale * (i - ratio)), v2 = v * v, v3 = v2 * v;
                c[i - start] = v <= 1 ? (a + 2) * v3 - (a + 3) * v2 + 1 : v < 2 ? a * v3 - 5 * a * v2 + 8 * a * v - 4 * a : 0;
            }
            double sum = c.Sum();
            return c.Select(v => v / sum).ToArray();
        }

        private static double[] LinearAntialias(double ratio, double scale)
        {
            scale = Math.Min(scale, 1);
            int start = (int)Math.Floor(-1 / scale) + 1, footprint = 2 - 2 * start;
            var c = new double[footprint];
            for (int i = 0; i < footprint; i++) c[i] = Math.Max(0, Math.Min(1, 1 - Math.Abs((start + i - ratio) * scale)));
            double sum = c.Sum();
            return c.Select(v => v / sum).ToArray();
        }
    }
}
