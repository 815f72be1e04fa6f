using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QConv
{
    /// <summary>
    /// QLinearConv (ai.onnx, opset 10): uint8/int8 input, weights and output with per-tensor or per-output-channel weight
    /// scales and zero points, optional int32 bias; the output is requantized with the float32 scale
    /// M[c] = s_x · s_w[c] / s_y (see <see cref="RequantScale"/>), and a fused Relu/Clip becomes the clamp bounds.
    /// </summary>
    public sealed class QLinearConvOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearConv" };

        internal static readonly QConvInputs Slots = new QConvInputs(x: 0, xZeroPoint: 2, w: 3, wZeroPoint: 5, bias: 8);

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var s = QConvShape.Resolve(ctx, Slots);
            CheckScalar(ctx, 1, "x_scale", DataType.Float);
            CheckScalar(ctx, 6, "y_scale", DataType.Float);
            var yType = CheckScalar(ctx, 7, "y_zero_point", null);
            if (yType != DataType.UInt8 && yType != DataType.Int8)
                throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"y_zero_point is {yType.ShortName()}; QLinearConv outputs uint8 or int8");
            var ws = ctx.Input(4);
            if (ws.ElementType != DataType.Float || (ws.Shape.ElementCount != 1 && ws.Shape.ElementCount != s.M))
                throw ctx.ShapeError($"w_scale {ws} must be one float or one per output channel ({s.M})");
            if (ctx.Input(5).Shape.ElementCount != ws.Shape.ElementCount)
                throw ctx.ShapeError($"w_zero_point {ctx.Input(5)} and w_scale {ws} must have the same shape");
            return new[] { new TensorType(yType, s.OutputShape) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var s = QConvShape.Resolve(ctx, Slots);
            var p = QConvParams.From(ctx, s, inputs.Select((t, i) => t).ToArray());
            var acc = QConvReference.Accumulate(QConvReference.Ints(inputs[0]!), QConvReference.Ints(inputs[3]!), p.Bias, s, p.XZeroPoint, p.WZeroPoints);
            var y = IntegerReference.Requantize(acc, p.Scales, s.G.OutH * s.G.OutW, p.YZeroPoint, p.ClampMin, p.ClampMax);
            return new[] { Tensor.FromDoubles(type.ElementType, type.Shape, y.Select(v => (double)v).ToArray()) };
        }

        public override void Lower(LowerContext ctx) => QConvLowering.Lower(ctx, Slots, requantize: true);

        private static DataType CheckScalar(OpContext ctx, int i, string name, DataType? type)
        {
            var t = ctx.Input(i);
            if (t.Shape.ElementCount != 1) throw ctx.ShapeError($"{name} {t} must be a scalar (per-tensor quantization)");
            if (type is not null && t.ElementType != type) throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"{name} is {t.ElementType.ShortName()}, expected {type.Value.ShortName()}");
            return t.ElementType;
        }
    }

    /// <summary>ConvInteger (ai.onnx, opset 10): uint8/int8 input and weights with zero points, int32 accumulators out.</summary>
    public sealed class ConvIntegerOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "ConvInteger" };

        private static readonly QConvInputs Slots = new QConvInputs(x: 0, xZeroPoint: 2, w: 1, wZeroPoint: 3, bias: -1);

        public override TensorType[] InferTypes(OpContext ctx) => new[] { new TensorType(DataType.Int32, QConvShape.Resolve(ctx, Slots).OutputShape) };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var s = QConvShape.Resolve(ctx, Slots);
            var p = QConvParams.From(ctx, s, inputs.ToArray());
            var acc = QConvReference.Accumulate(QConvReference.Ints(inputs[0]!), QConvReference.Ints(inputs[1]!), p.Bias, s, p.XZeroPoint, p.WZeroPoints);
            return new[] { new Tensor(DataType.Int32, s.OutputShape, acc) };
        }

        public override void Lower(LowerContext ctx) => QConvLowering.Lower(ctx, Slots, requantize: false);
    }

    /// <summary>Where the shared operands sit in a QLinearConv or ConvInteger node (−1: absent).</summary>
    internal sealed class QConvInputs
    {
        public QConvInputs(int x, int xZeroPoint, int w, int wZeroPoint, int bias)
        {
            X = x; XZeroPoint = xZeroPoint; W = w; WZeroPoint = wZeroPoint; Bias = bias;
        }

        public int X { get; }
        public int XZeroPoint { get; }
        public int W { get; }
        public int WZeroPoint { get; }
        public int Bias { get; }
        public bool Requantized => Bias >= 0;
    }

    /// <summary>Shapes and geometry of an integer convolution (shared by QLinearConv and ConvInteger).</summary>
    internal sealed class QConvShape
    {
        public SpatialGeometry G { get; private set; } = null!;
        public int N { get; private set; }
        public int C { get; private set; }
        public int M { get; private set; }
        public int Group { get; private set; }
        public Shape OutputShape { get; private set; } = null!;
        public bool Depthwise => Group == C && Group == M;

        public static QConvShape Resolve(OpContext ctx, QConvInputs slots)
        {
            var xt = ctx.Input(slots.X);
            var wt = ctx.Input(slots.W);
            foreach (var (t, name) in new[] { (xt, "x"), (wt, "w") })
                if (t.ElementType != DataType.UInt8 && t.ElementType != DataType.Int8)
                    throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"{name} is {t.ElementType.ShortName()}; {ctx.Node.OpType} takes uint8 or int8");
            if (ctx.HasInput(slots.XZeroPoint) && (ctx.Input(slots.XZeroPoint).ElementType != xt.ElementType || ctx.Input(slots.XZeroPoint).Shape.ElementCount != 1))
                throw ctx.ShapeError($"x_zero_point {ctx.Input(slots.XZeroPoint)} must be one value of x's type ({xt.ElementType.ShortName()})");
            var x = xt.Shape;
            var w = wt.Shape;
            if (w.Rank != x.Rank) throw ctx.ShapeError($"weight {w} and input {x} have different ranks");
            int group = (int)ctx.Int("group", 1);
            int c = x[1], m = w[0];
            if (group <= 0 || c % group != 0 || m % group != 0 || w[1] * group != c)
                throw ctx.ShapeError($"input has {c} channels, weight {w} and group {group} do not match");
            if (ctx.HasInput(slots.WZeroPoint))
            {
                var z = ctx.Input(slots.WZeroPoint);
                if (z.ElementType != wt.ElementType || (z.Shape.ElementCount != 1 && z.Shape.ElementCount != m))
                    throw ctx.ShapeError($"w_zero_point {z} must be one value or one per output channel ({m}) of w's type");
            }
            if (slots.Bias >= 0 && ctx.HasInput(slots.Bias)
                && (ctx.Input(slots.Bias).ElementType != DataType.Int32 || ctx.Input(slots.Bias).Shape.ElementCount != m))
                throw ctx.ShapeError($"bias {ctx.Input(slots.Bias)} must be {m} int32 values");
            var kernel = Enumerable.Range(2, w.Rank - 2).Select(i => w[i]).ToArray();
            var ks = ctx.Ints("kernel_shape");
            if (ks is not null && !ks.Select(v => (int)v).SequenceEqual(kernel))
                throw ctx.ShapeError($"kernel_shape [{string.Join(",", ks)}] disagrees with the weight {w}");
            var g = SpatialGeometry.Resolve(ctx, x, kernel);
            return new QConvShape
            {
                G = g, N = x[0], C = c, M = m, Group = group,
                OutputShape = new Shape(new[] { x[0], m }.Concat(g.OutputSpatial)),
            };
        }
    }

    /// <summary>
    /// The integer parameters of one node: zero points, bias, and for QLinearConv the per-channel scales and the
    /// clamp bounds (output range, narrowed by a fused Relu or Clip).
    /// </summary>
    internal sealed class QConvParams
    {
        public int XZeroPoint { get; private set; }
        /// <summary>One per output channel.</summary>
        public int[] WZeroPoints { get; private set; } = Array.Empty<int>();
        /// <summary>One per output channel (zeros when absent).</summary>
        public int[] Bias { get; private set; } = Array.Empty<int>();
        /// <summary>The float32 requantization scale of each output channel, (float)(s_x·s_w[c]/s_y).</summary>
        public float[] Scales { get; private set; } = Array.Empty<float>();
        public int YZeroPoint { get; private set; }
        public int ClampMin { get; private set; }
        public int ClampMax { get; private set; }

        /// <summary>Reads the parameters from the node's (constant) inputs; null entries are absent optional inputs.</summary>
        public static QConvParams From(OpContext ctx, QConvShape s, IReadOnlyList<Tensor?> inputs)
        {
            bool qlinear = ctx.Node.OpType == "QLinearConv";
            int xzpIndex = 2, wzpIndex = qlinear ? 5 : 3;
            Tensor? At(int i) => i < inputs.Count ? inputs[i] : null;
            var p = new QConvParams();
            p.XZeroPoint = At(xzpIndex) is { } xz ? QConvReference.Ints(xz)[0] : 0;
            var wz = At(wzpIndex) is { } wzt ? QConvReference.Ints(wzt) : new[] { 0 };
            p.WZeroPoints = Enumerable.Range(0, s.M).Select(c => wz[wz.Length == 1 ? 0 : c]).ToArray();
            p.Bias = qlinear && At(8) is { } b ? QConvReference.Ints(b) : new int[s.M];
            if (!qlinear) return p;

            float xs = At(1)!.ToFloats()[0], ys = At(6)!.ToFloats()[0];
            var ws = At(4)!.ToFloats();
            var yType = ctx.Input(7).ElementType;
            p.YZeroPoint = QConvReference.Ints(At(7)!)[0];
            p.Scales = new float[s.M];
            for (int c = 0; c < s.M; c++)
            {
                float w = ws[ws.Length == 1 ? 0 : c];
                double real = (double)xs * w / ys;
                if (!(xs > 0) || !(w > 0) || !(ys > 0) || float.IsInfinity(xs) || float.IsInfinity(w) || float.IsInfinity(ys)
                    || !RequantScale.IsSupported(real))
                    throw ctx.Error(DiagnosticIds.QuantMultiplierOutOfRange,
                        $"output channel {c}: x_scale·w_scale/y_scale = {xs:R}·{w:R}/{ys:R} = {real:R} is not a requantization multiplier in (0, 2^16)");
                p.Scales[c] = RequantScale.FromReal(real);
            }
            (p.ClampMin, p.ClampMax) = QuantizedClamp.Bounds(ctx, ctx.Node.Activation, ys, p.YZeroPoint, yType);
            return p;
        }
    }

    /// <summary>The clamp bounds of a requantized output: its type's range narrowed by a fused Relu or Clip.</summary>
    public static class QuantizedClamp
    {
        /// <summary>
        /// [qmin, qmax] of <paramref name="type"/>; Relu raises lo to the zero point; Clip(min, max) gives
        /// lo = max(qmin, zp + round(min/scale)), hi = min(qmax, zp + round(max/scale)) (round half to even, as
        /// QuantizeLinear). Any other fused activation is refused.
        /// </summary>
        public static (int Lo, int Hi) Bounds(OpContext ctx, FusedActivation? activation, float scale, int zeroPoint, DataType type)
        {
            int qmin = QuantParams.QMin(type), qmax = QuantParams.QMax(type);
            switch (activation?.Op)
            {
                case null: return (qmin, qmax);
                case "Relu": return (Math.Max(qmin, zeroPoint), qmax);
                case "Clip":
                {
                    int lo = QuantMath.Quantize(activation.Alpha, scale, zeroPoint, qmin, qmax);
                    int hi = QuantMath.Quantize(activation.Beta, scale, zeroPoint, qmin, qmax);
                    if (lo > hi) lo = hi;   // ONNX Clip is min(max(x, min), max): max wins when min > max
                    return (lo, hi);
                }
                default:
                    throw ctx.Unsupported($"a fused {activation.Op} on a quantized {ctx.Node.OpType} is not supported (Relu and Clip are)");
            }
        }
    }

    /// <summary>Integer convolution reference: exact int64 sums, wrapped to int32 as the kernels' arithmetic is.</summary>
    public static class QConvReference
    {
        /// <summary>The integer values of a uint8/int8/int32 tensor.</summary>
        public static int[] Ints(Tensor t) => t.ToDoubles().Select(v => (int)v).ToArray();

        internal static int[] Accumulate(int[] x, int[] w, int[] bias, QConvShape s, int xZeroPoint, int[] wZeroPoints) =>
            Accumulate(x, w, bias, s.N, s.C, s.M, s.Group, s.G, xZeroPoint, wZeroPoints);

        /// <summary>
        /// acc[n, oc, oy, ox] = bias[oc] + Σ_ic,ky,kx (x[n, g·C/G + ic, iy, ix] − zx) · (w[oc, ic, ky, kx] − zw[oc]), padding
        /// contributing nothing (it stands for the zero point).
        /// </summary>
        public static int[] Accumulate(int[] x, int[] w, int[] bias, int n, int c, int m, int group, SpatialGeometry g, int xZeroPoint, int[] wZeroPoints) =>
            Accumulate(x, w, bias, n, c, g.InH, g.InW, m, group, g.OutH, g.OutW, g.KernelH, g.KernelW, g.StrideH, g.StrideW,
                g.DilationH, g.DilationW, g.PadTop, g.PadLeft, xZeroPoint, wZeroPoints);

        /// <summary>As above with the geometry spelled out (output size oh × ow; bottom/right padding is implied by it).</summary>
        public static int[] Accumulate(int[] x, int[] w, int[] bias, int n, int c, int h, int wd, int m, int group, int oh, int ow,
            int kh, int kw, int strideH, int strideW, int dilH, int dilW, int padTop, int padLeft, int xZeroPoint, int[] wZeroPoints)
        {
            int cg = c / group, mg = m / group;
            var y = new int[n * m * oh * ow];
            for (int ni = 0; ni < n; ni++)
                for (int oc = 0; oc < m; oc++)
                {
                    int grp = oc / mg;
                    long zw = wZeroPoints[oc];
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++)
                        {
                            long acc = bias.Length == 0 ? 0 : bias[oc];
                            for (int ic = 0; ic < cg; ic++)
                                for (int ky = 0; ky < kh; ky++)
                                {
                                    int iy = oy * strideH + ky * dilH - padTop;
                                    if (iy < 0 || iy >= h) continue;
                                    for (int kx = 0; kx < kw; kx++)
                                    {
                                        int ix = ox * strideW + kx * dilW - padLeft;
                                        if (ix < 0 || ix >= wd) continue;
                                        acc += (x[((ni * c + grp * cg + ic) * h + iy) * wd + ix] - (long)xZeroPoint)
                                            * (w[((oc * cg + ic) * kh + ky) * kw + kx] - zw);
                                    }
                                }
                            y[((ni * m + oc) * oh + oy) * ow + ox] = unchecked((int)acc);
                        }
                }
            return y;
        }
    }
}
