using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Q.Compiler.Plan;

namespace Q.Compiler.Generator
{
    /// <summary>
    /// Reads the plans that the QCompile MSBuild task wrote into obj/ (AdditionalFiles ending in .qplan) and emits one
    /// class per model, plus the kernels the models use (once per assembly). Pipeline values are strings, so an
    /// unrelated C# edit does not rerun emission.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class ModelGenerator : IIncrementalGenerator
    {
        internal const string TrackingName = "QPlans";

        private static readonly DiagnosticDescriptor s_badPlan = new DiagnosticDescriptor(
            "QC4003", "Unreadable model plan", "The model plan '{0}' cannot be read: {1}. Rebuild the project so the QCompile task writes it again.",
            "Q.Compiler", DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: "docs/diagnostics/QC4003.md");

        private static readonly DiagnosticDescriptor s_noLangVersion = new DiagnosticDescriptor(
            "QC5001", "C# 12 or later required", "Q.Compiler's generated code needs C# 12 or later (collection expressions); this project uses {0}. Set <LangVersion>12</LangVersion> or target net8.0 or later.",
            "Q.Compiler", DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: "docs/diagnostics/QC5001.md");

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var plans = context.AdditionalTextsProvider
                .Where(t => t.Path.EndsWith(PlanText.Extension, StringComparison.OrdinalIgnoreCase))
                .Select((t, ct) => new PlanFile(t.Path, t.GetText(ct)?.ToString() ?? ""))
                .WithTrackingName(TrackingName);

            var langOk = context.ParseOptionsProvider.Select((o, _) =>
                o is Microsoft.CodeAnalysis.CSharp.CSharpParseOptions cs && cs.LanguageVersion < Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp12
                    ? cs.LanguageVersion.ToString() : "");

            context.RegisterSourceOutput(plans.Combine(langOk), (spc, pair) =>
            {
                var (file, lang) = pair;
                if (lang.Length > 0)
                {
                    spc.ReportDiagnostic(Diagnostic.Create(s_noLangVersion, Location.None, lang));
                    return;
                }
                // A plan that cannot be read or emitted is a QC4003 error, not a generator crash (which Roslyn reports
                // only as warning CS8785, leaving the user with missing-type errors instead).
                IReadOnlyList<(string HintName, string Source)> sources;
                try { sources = ModelEmitter.Emit(PlanText.Read(file.Text)); }
                catch (Exception e) when (!(e is OperationCanceledException))
                {
                    spc.ReportDiagnostic(Diagnostic.Create(s_badPlan, Location.None, Path.GetFileName(file.Path), e.Message));
                    return;
                }
                foreach (var (hint, source) in sources)
                {
                    spc.CancellationToken.ThrowIfCancellationRequested();
                    spc.AddSource(hint, SourceText.From(source, Encoding.UTF8));
                }
            });

            // The union of kernels over all plans, as one sorted comma-separated string (value-equatable).
            var kernels = plans
                .Select((f, _) => KernelLine(f.Text))
                .Collect()
                .Select((all, _) => string.Join(",", all.SelectMany(k => k.Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries)).Distinct().OrderBy(k => k, StringComparer.Ordinal)));

            context.RegisterSourceOutput(kernels, (spc, list) =>
            {
                if (list.Length == 0) return;
                IReadOnlyList<(string HintName, string Source)> sources;
                try { sources = KernelSources.For(list.Split(',')); }
                catch (InvalidOperationException e)
                {
                    // A plan names a kernel this generator does not have: the plan was written by another Q.Compiler version.
                    spc.ReportDiagnostic(Diagnostic.Create(s_badPlan, Location.None, "(kernel list)", e.Message));
                    return;
                }
                foreach (var (hint, source) in sources)
                    spc.AddSource(hint, SourceText.From(source, Encoding.UTF8));
            });
        }

        /// <summary>The "kernels list=..." line's value, read without parsing the whole plan.</summary>
        internal static string KernelLine(string text)
        {
            foreach (var line in text.Split('\n'))
                if (line.StartsWith("kernels list=", StringComparison.Ordinal))
                    return line.Substring("kernels list=".Length).Trim().Trim('"');
            return "";
        }

        private sealed class PlanFile : IEquatable<PlanFile>
        {
            public PlanFile(string path, string text) { Path = path; Text = text; }
            public string Path { get; }
            public string Text { get; }
            public bool Equals(PlanFile? o) => o is not null && o.Path == Path && o.Text == Text;
            public override bool Equals(object? obj) => Equals(obj as PlanFile);
            public override int GetHashCode() => Path.GetHashCode() ^ Text.Length;
        }
    }
}
