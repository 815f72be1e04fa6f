using System;
using Q.Compiler.Ir;

namespace Q.Compiler.Ops.Activation
{
    /// <summary>Reference math of the activations that can be fused into a producer.</summary>
    public static class ActivationReference
    {
        public static float Apply(float v, string op, float alpha, float beta) => op switch
        {
            "Relu" => v > 0 ? v : 0,
            "Clip" => Math.Min(Math.Max(v, alpha), beta),
            "LeakyRelu" => v >= 0 ? v : v * alpha,
            "Sigmoid" => (float)(1.0 / (1.0 + Math.Exp(-v))),
            "Tanh" => (float)Math.Tanh(v),
            "HardSigmoid" => Math.Max(0f, Math.Min(1f, alpha * v + beta)),
            "HardSwish" => v * Math.Max(0f, Math.Min(1f, v / 6f + 0.5f)),
            _ => throw new ArgumentException("unknown activation " + op),
        };

        /// <summary>Applies a node's fused activation in place, if it has one.</summary>
        public static float[] Apply(float[] y, FusedActivation? a)
        {
            if (a is null) return y;
            for (int i = 0; i < y.Length; i++) y[i] = Apply(y[i], a.Op, a.Alpha, a.Beta);
            return y;
        }
    }
}
