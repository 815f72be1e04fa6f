using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Pool
{
    /// <summary>
    /// MaxPool and AveragePool (1-D and 2-D, pads, strides, dilations for MaxPool, ceil_mode, count_include_pad), float32;
    /// MaxPool also on uint8/int8 (quantized tensors: the max commutes with quantization, scale and zero point carry over).
    /// </summary>
    public sealed class PoolOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "MaxPool", "AveragePool" };

        private static SpatialGeometry Resolve(OpContext ctx)
        {
            var x = ctx.Input(0);
            bool bytes = ctx.Node.OpType == "MaxPool" && IsByte(x.ElementType);
            if (x.ElementType != DataType.Float && !bytes)
                throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported (float32{(ctx.Node.OpType == "MaxPool" ? ", uint8 and int8" : "")} only)");
            var k = ctx.Ints("kernel_shape") ?? throw ctx.ShapeError("kernel_shape is required");
            if (ctx.Node.OpType == "MaxPool" && ctx.Node.Outputs.Count > 1 && ctx.Node.Outputs[1].Length > 0)
                throw ctx.Unsupported("the Indices output of MaxPool is not supported");
            if (ctx.Int("storage_order", 0) != 0) throw ctx.Unsupported("storage_order=1 is not supported");
            if (ctx.Node.OpType == "AveragePool" && ctx.Ints("dilations") is long[] d && d.Any(v => v != 1))
                throw ctx.Unsupported("AveragePool with dilations is not supported");
            return SpatialGeometry.Resolve(ctx, x.Shape, k.Select(v => (int)v).ToArray(), ctx.Int("ceil_mode", 0) != 0);
        }

        private static bool IsByte(DataType t) => t == DataType.UInt8 || t == DataType.Int8;

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var g = Resolve(ctx);
            var x = ctx.Input(0).Shape;
            return new[] { new TensorType(ctx.Input(0).ElementType, new Shape(new[] { x[0], x[1] }.Concat(g.OutputSpatial))) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var g = Resolve(ctx);
            var x = inputs[0]!.ToDoubles();
            var s = ctx.Input(0).Shape;
            int planes = s[0] * s[1];
            bool max = ctx.Node.OpType == "MaxPool";
            bool includePad = ctx.Int("count_include_pad", 0) != 0;
            var y = new double[planes * g.OutH * g.OutW];
            for (int p = 0; p < planes; p++)
                for (int oy = 0; oy < g.OutH; oy++)
                    for (int ox = 0; ox < g.OutW; ox++)
                    {
                        double acc = max ? double.NegativeInfinity : 0;
                        int count = 0, padded = 0;
                        for (int ky = 0; ky < g.KernelH; ky++)
                            for (int kx = 0; kx < g.KernelW; kx++)
                            {
                                int iy = oy * g.StrideH + ky * g.DilationH - g.PadTop, ix = ox * g.StrideW + kx * g.DilationW - g.PadLeft;
                                bool inPadded = iy < g.InH + g.PadBottom && ix < g.InW + g.PadRight;
                                if (iy < 0 || ix < 0 || iy >= g.InH || ix >= g.InW) { if (inPadded) padded++; continue; }
                                double v = x[(p * g.InH + iy) * g.InW + ix];
                                if (max) acc = Math.Max(acc, v); else acc += v;
                                count++;
                            }
                        y[(p * g.OutH + oy) * g.OutW + ox] = max ? acc : (float)(acc / (includePad ? count + padded : count));
                    }
            var type = InferTypes(ctx)[0];
            return new[] { Tensor.FromDoubles(type.ElementType, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var g = Resolve(ctx.Op);
            var x = ctx.InputType(0).Shape;
            bool max = ctx.Node.OpType == "MaxPool";
            bool includePad = ctx.Op.Int("count_include_pad", 0) != 0;
            ctx.Describe(ctx.Node.OpType, (max ? "MaxPool" : "AvgPool") + g.KernelName, $"{x[1]} channels, {g.Describe()}",
                max ? "y = max over the window of x" : includePad ? "y = Σ window x / window size (padding counted)" : "y = Σ window x / valid elements in the window");
            if (IsByte(ctx.InputType(0).ElementType))
            {
                ctx.Call($"MaxPoolQ.Run<{ctx.InputType(0).ElementType.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0),
                    PlanArg.Int(x[0] * x[1]), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                    PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                    PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW), PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft));
                return;
            }
            // Scratch for the padded, column-phase-split plane plus OW column factors (Pool2D.ScratchLength).
            int ph = Math.Max(g.PadTop + g.InH, (g.OutH - 1) * g.StrideH + (g.KernelH - 1) * g.DilationH + 1);
            int pw = Math.Max(g.PadLeft + g.InW, (g.OutW - 1) * g.StrideW + (g.KernelW - 1) * g.DilationW + 1);
            int length = ph * g.StrideW * ((pw + g.StrideW - 1) / g.StrideW) + g.OutW;
            string scratch = ctx.Scratch("padded", DataType.Float, new Shape(length));
            if (max)
                ctx.Call("Pool2D.MaxPadded", ctx.InArg(0), ctx.OutArg(0), PlanArg.Out(scratch),
                    PlanArg.Int(x[0] * x[1]), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                    PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                    PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW), PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft));
            else
                ctx.Call("Pool2D.AveragePadded", ctx.InArg(0), ctx.OutArg(0), PlanArg.Out(scratch),
                    PlanArg.Int(x[0] * x[1]), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                    PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW),
                    PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(g.PadBottom), PlanArg.Int(g.PadRight), PlanArg.Bool(includePad));
        }
    }
}
