using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>The graph passes, in order. Each is a pure function Graph → Graph.</summary>
    public static class PassPipeline
    {
        public static Graph Optimize(Graph g, DiagnosticBag diagnostics)
        {
            g = RemoveIdentityPass.Run(g);
            // Quantized models first: the QDQ groups must be fused before the float passes take their parts
            // (FuseActivation would take a Relu that belongs inside a DQ → Conv → Relu → Q group).
            if (QdqFusionPass.AppliesTo(g))
            {
                g = QdqFusionPass.Run(g);
                g = Int8ActivationsToUInt8Pass.Run(g);
            }
            g = FoldBatchNormPass.Run(g);
            g = FoldBiasAddPass.Run(g);
            g = FoldPadIntoConvPass.Run(g);
            g = FuseHardSwishPass.Run(g);
            g = FuseActivationPass.Run(g);
            g = DeadCodePass.Run(g);
            return g;
        }
    }
}
