using System;
using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Activation;
using Q.Compiler.Ops.Float16;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>
    /// QLinearHardSwish, QLinearHardSigmoid and QLinearTanh in Q.Compiler's own domain (ai.q-compiler): the activations
    /// that have no com.microsoft QLinear form, with QLinearSigmoid's interface (X, X_scale, X_zero_point?, Y_scale,
    /// Y_zero_point?; HardSigmoid's alpha, default 0.2, and beta, default 0.5). Only the calibrated quantizer creates them
    /// (they never appear in an ONNX file): y = table[x], a 256-entry table of quantize(f(dequantize(x))) built at compile
    /// time with the float activation of <see cref="ActivationReference"/>, as <see cref="QLinearLookupOp"/> does.
    /// </summary>
    public sealed class QLinearActivationOp : QLinearTableOp
    {
        public const string HardSwish = "QLinearHardSwish", HardSigmoid = "QLinearHardSigmoid", Tanh = "QLinearTanh";

        public override IEnumerable<string> OpTypes => new[] { HardSwish, HardSigmoid, Tanh };
        public override string Domain => HalfConvertOp.InternalDomain;

        /// <summary>The op type that applies float activation <paramref name="activation"/> on uint8, or null if none does.</summary>
        public static string? For(string activation) => activation switch
        {
            "HardSwish" => HardSwish,
            "HardSigmoid" => HardSigmoid,
            "Tanh" => Tanh,
            _ => null,
        };

        protected override Func<float, float> Function(OpContext ctx)
        {
            string op = ctx.Node.OpType.Substring("QLinear".Length);
            float alpha = ctx.Float("alpha", 0.2f), beta = ctx.Float("beta", 0.5f);
            return v => ActivationReference.Apply(v, op, alpha, beta);
        }

        /// <summary>HardSwish and HardSigmoid are plain float arithmetic: the kernel builds their tables (no weight bytes).</summary>
        protected override (int Kind, float Alpha, float Beta)? KernelTable(OpContext ctx) => ctx.Node.OpType switch
        {
            HardSwish => (HardSwishTable, 0f, 0f),
            HardSigmoid => (HardSigmoidTable, ctx.Float("alpha", 0.2f), ctx.Float("beta", 0.5f)),
            _ => null,
        };
    }
}
