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
