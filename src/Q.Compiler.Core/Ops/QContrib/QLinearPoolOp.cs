using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// com.microsoft QLinearAveragePool (X, x_scale, x_zero_point?, y_scale, y_zero_point?; attributes as AveragePool:
    /// kernel_shape, strides, pads, auto_pad, ceil_mode, count_include_pad; 1-D and 2-D, NCHW) and QLinearGlobalAveragePool
    /// (X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last must be 0).
    /// </summary>
    /// <remarks>
    /// Integer arithmetic: acc = Σ (x − zx) over the n input elements of a window, y = zy + round(acc · sx/(sy·d)) with d = n,
    /// or the kernel size when count_include_pad = 1 (as ONNX Runtime: also for windows that ceil_mode extends past the
    /// padding), saturated. The multiplier for each d is a 31-bit fixed-point pair (<see cref="QFixedMultiplier"/>).
    /// ONNX Runtime dequantizes to float, averages in float and quantizes (QLinearAveragePool), or requantizes the integer
    /// sum with a float scale (QLinearGlobalAveragePool): the results differ from ours by at most one step, near ties.
    /// </remarks>
    public sealed class QLinearPoolOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearAveragePool", "QLinearGlobalAveragePool" };
        public override string Domain => QContribMath.Domain;

        private static bool Global(OpContext ctx) => ctx.Node.OpType == "QLinearGlobalAveragePool";

        private static SpatialGeometry? Resolve(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (ctx.Int("channels_last", 0) != 0)
                throw ctx.Error(DiagnosticIds.QuantizedChannelsLast, "channels_last=1 (NHWC) is not supported; Q.Compiler computes quantized pooling in NCHW");
            if (Global(ctx))
            {
                if (x.Shape.Rank < 3) throw ctx.ShapeError($"input {x.Shape} needs at least one spatial dimension");
                return null;
            }
            var k = ctx.Ints("kernel_shape") ?? throw ctx.ShapeError("kernel_shape is required");
            if (ctx.Ints("dilations") is long[] d && d.Any(v => v != 1)) throw ctx.Unsupported("QLinearAveragePool with dilations is not supported");
            return SpatialGeometry.Resolve(ctx, x.Shape, k.Select(v => (int)v).ToArray(), ctx.Int("ceil_mode", 0) != 0);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var t = QContribMath.CheckQuantInput(ctx, 0);
            QContribMath.CheckParams(ctx, 1, 2, t);
            QContribMath.CheckParams(ctx, 3, 4, t);
            var g = Resolve(ctx);
            var x = ctx.Input(0).Shape;
            var spatial = g is null ? Enumerable.Repeat(1, x.Rank - 2) : g.OutputSpatial;
            return new[] { new TensorType(t, new Shape(new[] { x[0], x[1] }.Concat(spatial))) };
        }

        /// <summary>Fixed-point multipliers sx/(sy·d) for d = 0..maxDivisor (entry 0 unused).</summary>
        public static QFixedMultiplier[] Multipliers(OpContext ctx, float sx, float sy, int maxDivisor)
        {
            var r = new QFixedMultiplier[maxDivisor + 1];
            r[0] = QFixedMultiplier.FromReal(0);
            for (int d = 1; d <= maxDivisor; d++) r[d] = QContribMath.Multiplier(ctx, (double)sx / ((double)sy * d), "x/y");
            return r;
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var g = Resolve(ctx);
            var (sx, zx) = QContribMath.Params(ctx, inputs, 1, 2);
            var (sy, zy) = QContribMath.Params(ctx, inputs, 3, 4);
            int qmin = QContribMath.QMin(type.ElementType), qmax = QContribMath.QMax(type.ElementType);
            var x = QContribMath.Values(inputs[0]!);
            var s = inputs[0]!.Shape;
            int planes = s[0] * s[1];
            var y = new int[type.Shape.ElementCount];
            if (g is null)
            {
                int size = s.ElementCount / Math.Max(planes, 1);
                var m = QContribMath.Multiplier(ctx, (double)sx / ((double)sy * size), "x/y");
                for (int p = 0; p < planes; p++)
                {
                    int acc = 0;
                    for (int i = 0; i < size; i++) acc += x[p * size + i] - zx;
                    y[p] = (int)Math.Max(qmin, Math.Min(qmax, m.Apply(acc) + zy));
                }
                return new[] { QContribMath.ToTensor(type.ElementType, type.Shape, y) };
            }
            bool includePad = ctx.Int("count_include_pad", 0) != 0;
            int k = g.KernelH * g.KernelW;
            var mult = Multipliers(ctx, sx, sy, k);
            for (int p = 0; p < planes; p++)
                for (int oy = 0; oy < g.OutH; oy++)
                    for (int ox = 0; ox < g.OutW; ox++)
                    {
                        int acc = 0, n = 0;
                        for (int ky = 0; ky < g.KernelH; ky++)
                            for (int kx = 0; kx < g.KernelW; kx++)
                            {
                                int iy = oy * g.StrideH + ky - g.PadTop, ix = ox * g.StrideW + kx - g.PadLeft;
                                if (iy < 0 || ix < 0 || iy >= g.InH || ix >= g.InW) continue;
                                acc += x[(p * g.InH + iy) * g.InW + ix] - zx;
                                n++;
                            }
                        int d = includePad ? k : n;
                        long v = d == 0 ? zy : mult[d].Apply(acc) + zy;
                        y[(p * g.OutH + oy) * g.OutW + ox] = (int)Math.Max(qmin, Math.Min(qmax, v));
                    }
            return new[] { QContribMath.ToTensor(type.ElementType, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var op = ctx.Op;
            var g = Resolve(op);
            var xt = ctx.InputType(0);
            QContribMath.RequireUInt8(ctx, xt.ElementType);
            var (sx, zx) = QContribMath.ConstParams(op, 1, 2);
            var (sy, zy) = QContribMath.ConstParams(op, 3, 4);
            var s = xt.Shape;
            int planes = s[0] * s[1];
            if (ctx.OutputType(0).Shape.ElementCount == 0) return;
            if (g is null)
            {
                int size = s.ElementCount / planes;
                var m = QContribMath.Multiplier(op, (double)sx / ((double)sy * size), "x/y");
                ctx.Describe("QLinearGlobalAveragePool", "QGlobalAvgPool", $"{s[1]} channels of {size} → 1 u8", "y = zy + round(Σ(x − zx) · sx/(sy·n))");
                ctx.Call("QLinearPool.GlobalAverage", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(planes), PlanArg.Int(size), PlanArg.Int(zx),
                    PlanArg.Int(m.Multiplier), PlanArg.Int(m.Shift), PlanArg.Int(m.AccLimit), PlanArg.Int(zy));
                return;
            }
            bool includePad = op.Int("count_include_pad", 0) != 0;
            int k = g.KernelH * g.KernelW;
            var mult = Multipliers(op, sx, sy, k);
            ctx.Describe("QLinearAveragePool", "QAvgPool" + g.KernelName, $"{s[1]} channels, {g.Describe()}, u8",
                includePad ? "y = zy + round(Σ window (x − zx) · sx/(sy·window size))" : "y = zy + round(Σ window (x − zx) · sx/(sy·valid elements))");
            string acc = ctx.Scratch("acc", DataType.Int32, new Shape(g.OutW));
            ctx.Call("QLinearPool.Average", ctx.InArg(0), ctx.OutArg(0), PlanArg.Out(acc), PlanArg.Int(planes), PlanArg.Int(g.InH), PlanArg.Int(g.InW),
                PlanArg.Int(g.OutH), PlanArg.Int(g.OutW), PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Bool(includePad), PlanArg.Int(zx),
                PlanArg.Ints(mult.Select(v => v.Multiplier)), PlanArg.Ints(mult.Select(v => v.Shift)), PlanArg.Ints(mult.Select(v => v.AccLimit)), PlanArg.Int(zy));
        }
    }
}
