using System.Collections.Generic;

namespace Q.Compiler.Pipeline
{
    /// <summary>What the QModel item says about one model.</summary>
    public sealed class CompileOptions
    {
        /// <summary>Path to the .onnx file on disk.</summary>
        public string ModelPath { get; set; } = "";
        /// <summary>How the path appears in the generated header and messages (relative to the project); defaults to the file name.</summary>
        public string? DisplayPath { get; set; }
        public string ClassName { get; set; } = "";
        public string Namespace { get; set; } = "";
        /// <summary>InputShapes metadata, e.g. "x=1x3x48x192;y=1x10".</summary>
        public string? InputShapes { get; set; }
    }

    /// <summary>The result of compiling one model: the plan (null when an error stopped the pipeline) and every diagnostic.</summary>
    public sealed class CompileResult
    {
        public CompileResult(Plan.ModelPlan? plan, string? planText, IReadOnlyList<Diagnostics.Diagnostic> diagnostics, Ir.Graph? graph)
        {
            Plan = plan; PlanText = planText; Diagnostics = diagnostics; Graph = graph;
        }

        public Plan.ModelPlan? Plan { get; }
        public string? PlanText { get; }
        public IReadOnlyList<Diagnostics.Diagnostic> Diagnostics { get; }
        /// <summary>The optimized graph the plan was lowered from.</summary>
        public Ir.Graph? Graph { get; }
        public bool Success => Plan is not null;
    }
}
