using System;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QLinear
{
    /// <summary>
    /// How a QuantizeLinear/DequantizeLinear scale maps onto its data, from the scale's shape: per tensor (a scalar or one
    /// element), per axis (opset 13+: a 1-D scale as long as x's <c>axis</c> dimension) or blocked (opset 21+: the scale has
    /// x's rank, with ceil(D/block_size) entries along <c>axis</c>). The data is viewed as [Outer, AxisLength, Inner].
    /// </summary>
    internal sealed class QuantGranularity
    {
        public bool PerTensor, PerAxis, Blocked;
        public int Outer = 1, AxisLength = 1, Inner = 1, BlockSize = 1, ScaleAxis;
        public int ScaleCount = 1;

        public static QuantGranularity Resolve(OpContext ctx, Shape x, Shape scale)
        {
            var g = new QuantGranularity();
            long blockSize = ctx.Int("block_size", 0);
            if (blockSize < 0) throw ctx.ShapeError($"block_size {blockSize} must be positive");
            if (blockSize == 0 && scale.ElementCount == 1 && scale.Rank <= 1)
            {
                g.PerTensor = true;
                g.Inner = x.ElementCount;
                return g;
            }
            int axis = ctx.Axis(ctx.Int("axis", 1), x.Rank);
            g.AxisLength = x[axis];
            for (int d = 0; d < axis; d++) g.Outer *= x[d];
            for (int d = axis + 1; d < x.Rank; d++) g.Inner *= x[d];
            g.ScaleCount = scale.ElementCount;
            if (blockSize == 0)
            {
                if (ctx.Opset < 13) throw ctx.ShapeError($"opset {ctx.Opset} allows only a scalar scale, got {scale}");
                if (scale.Rank != 1 || scale[0] != g.AxisLength)
                    throw ctx.ShapeError($"a per-axis scale must be 1-D with {g.AxisLength} elements (x {x}, axis {axis}), got {scale}");
                g.PerAxis = true;
                return g;
            }
            if (ctx.Opset < 21) throw ctx.Unsupported($"block_size is not defined before opset 21 (model opset {ctx.Opset})");
            if (scale.Rank != x.Rank || Enumerable.Range(0, x.Rank).Any(d => d != axis && scale[d] != x[d])
                || scale[axis] != (g.AxisLength + blockSize - 1) / blockSize)
                throw ctx.ShapeError($"a blocked scale for x {x}, axis {axis}, block_size {blockSize} must have shape of x with ceil({g.AxisLength}/{blockSize}) along the axis, got {scale}");
            g.Blocked = true;
            g.BlockSize = (int)blockSize;
            g.ScaleAxis = scale[axis];
            return g;
        }

        /// <summary>The scale/zero-point index of element i (row-major over x).</summary>
        public int IndexOf(int i)
        {
            if (PerTensor) return 0;
            int j = i % Inner, c = i / Inner % AxisLength;
            if (PerAxis) return c;
            int o = i / Inner / AxisLength;
            return (o * ScaleAxis + c / BlockSize) * Inner + j;
        }

        public string Describe() =>
            PerTensor ? "per tensor" : PerAxis ? $"per axis ({AxisLength} channels)" : $"blocked ({BlockSize} per scale along the axis)";

        /// <summary>The quantized element types with generated code.</summary>
        public static bool IsQuantized(DataType t) =>
            t == DataType.UInt8 || t == DataType.Int8 || t == DataType.UInt16 || t == DataType.Int16;

        public static int QMin(DataType t) => t switch
        {
            DataType.UInt8 or DataType.UInt16 => 0,
            DataType.Int8 => -128,
            DataType.Int16 => short.MinValue,
            _ => int.MinValue,
        };

        public static int QMax(DataType t) => t switch
        {
            DataType.UInt8 => 255,
            DataType.Int8 => 127,
            DataType.UInt16 => ushort.MaxValue,
            DataType.Int16 => short.MaxValue,
            _ => int.MaxValue,
        };

        public static QcException TypeError(OpContext ctx, string what) =>
            ctx.Error(DiagnosticIds.QuantizedTypeUnsupported, what);
    }

    /// <summary>Build-time helpers shared by the quantized matrix ops.</summary>
    internal static class QuantConstants
    {
        /// <summary>
        /// The requantization clamp bounds of an output with zero point <paramref name="zy"/> and scale <paramref name="sy"/>
        /// and a fused activation: Relu → [max(qmin, zy), qmax]; Clip(min, max) → [saturate(zy + round(min/sy)), saturate(zy + round(max/sy))].
        /// </summary>
        public static (int Lo, int Hi) ClampBounds(OpContext ctx, float sy, int zy, DataType type)
        {
            int lo = QuantGranularity.QMin(type), hi = QuantGranularity.QMax(type);
            var a = ctx.Node.Activation;
            if (a is null) return (lo, hi);
            switch (a.Op)
            {
                case "Relu": return (Math.Max(lo, zy), hi);
                case "Clip":
                    return (QuantMath.Quantize(a.Alpha, sy, zy, lo, hi), QuantMath.Quantize(a.Beta, sy, zy, lo, hi));
                default: throw ctx.Unsupported($"a fused {a.Op} on a quantized output is not supported (Relu and Clip are)");
            }
        }
    }
}
