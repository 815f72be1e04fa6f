using System;
using System.Collections.Generic;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Passes.Quantized;

namespace Q.Compiler.Ops.Quantized
{
    // PROVISIONAL (branch qdq): QuantizeLinear / DequantizeLinear type inference and reference, so that QDQ models can be
    // imported and the QDQ passes tested before the qlinear branch (which owns these ops and their kernels) is merged.
    // Delete this file when merging qlinear: the registry refuses an op defined twice.

    /// <summary>QuantizeLinear (provisional, without lowering): y = saturate(round_half_even(x / scale) + zero_point).</summary>
    public sealed class ProvisionalQuantizeLinearOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QuantizeLinear" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            if (ctx.Int("block_size", 0) != 0) throw ctx.Unsupported("blocked quantization (block_size) is not supported");
            var t = ctx.HasInput(2) ? ctx.Input(2).ElementType : ctx.Has("output_dtype") ? (DataType)ctx.Int("output_dtype") : DataType.UInt8;
            if (t != DataType.UInt8 && t != DataType.Int8)
                throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"quantizing to {t.ShortName()} is not supported (uint8 and int8 are)");
            return new[] { new TensorType(t, ctx.Input(0).Shape) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = inputs.Count > 2 && inputs[2] is not null ? inputs[2]!.ElementType : DataType.UInt8;
            var p = QdqMath.Params(inputs[1]!, inputs.Count > 2 ? inputs[2] : null, inputs[0]!.Shape, (int)ctx.Int("axis", 1));
            return new[] { QdqMath.Quantize(inputs[0]!, p, type) };
        }

        public override void Lower(LowerContext ctx) =>
            throw new QcException(DiagnosticIds.UnsupportedOp, "QuantizeLinear has no kernel on this branch yet");
    }

    /// <summary>DequantizeLinear (provisional, without lowering): y = (x − zero_point) · scale.</summary>
    public sealed class ProvisionalDequantizeLinearOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "DequantizeLinear" };

        public override TensorType[] InferTypes(OpContext ctx)
        {
            if (ctx.Int("block_size", 0) != 0) throw ctx.Unsupported("blocked quantization (block_size) is not supported");
            return new[] { new TensorType(ctx.Input(1).ElementType, ctx.Input(0).Shape) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var p = QdqMath.Params(inputs[1]!, inputs.Count > 2 ? inputs[2] : null, inputs[0]!.Shape, (int)ctx.Int("axis", 1));
            return new[] { QdqMath.Dequantize(inputs[0]!, p) };
        }

        public override void Lower(LowerContext ctx) =>
            throw new QcException(DiagnosticIds.UnsupportedOp, "DequantizeLinear has no kernel on this branch yet");
    }
}
