extern alias gen;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Q.Compiler.Diagnostics;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>docs/diagnostics has exactly one page per diagnostic id, and each page has the same structure.</summary>
public sealed class DiagnosticDocsTests
{
    private static string DocsDir => Path.Combine(SharedData.RepoRoot, "docs", "diagnostics");

    /// <summary>The public const string fields of <see cref="DiagnosticIds"/>.</summary>
    private static Dictionary<string, string> CoreIds() =>
        typeof(DiagnosticIds).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!);

    /// <summary>Every DiagnosticDescriptor held in a static field of the source generator assembly.</summary>
    private static List<DiagnosticDescriptor> GeneratorDescriptors() =>
        typeof(gen::Q.Compiler.Generator.ModelGenerator).Assembly.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToList();

    private static SortedSet<string> AllIds() =>
        new(CoreIds().Values.Concat(GeneratorDescriptors().Select(d => d.Id)), StringComparer.Ordinal);

    [Fact]
    public void IdsAreWellFormedAndUnique()
    {
        var core = CoreIds();
        Assert.NotEmpty(core);
        foreach (var (name, id) in core) Assert.Matches("^QC[0-9]{4}$", id);
        var duplicates = core.GroupBy(kv => kv.Value).Where(g => g.Count() > 1).Select(g => g.Key + ": " + string.Join(", ", g.Select(kv => kv.Key)));
        Assert.Empty(duplicates);
        var generator = GeneratorDescriptors();
        Assert.Contains(generator, d => d.Id == "QC4003");
        Assert.Contains(generator, d => d.Id == "QC5001");
        foreach (var d in generator)
        {
            Assert.Matches("^QC[0-9]{4}$", d.Id);
            Assert.DoesNotContain(d.Id, core.Values);
            Assert.Equal($"docs/diagnostics/{d.Id}.md", d.HelpLinkUri);
        }
    }

    /// <summary>
    /// Retired ids (merged into another): their page says <c>**Retired:** now [QC####](QC####.md)</c>. The page stays so
    /// that the number is never given to a new diagnostic.
    /// </summary>
    private static Dictionary<string, string> RetiredPages()
    {
        var retired = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(DocsDir, "QC*.md"))
        {
            var m = Regex.Match(File.ReadAllText(file), @"^\*\*Retired:\*\* now \[(QC[0-9]{4})\]\((QC[0-9]{4})\.md\)", RegexOptions.Multiline);
            if (m.Success)
            {
                Assert.Equal(m.Groups[1].Value, m.Groups[2].Value);
                retired[Path.GetFileNameWithoutExtension(file)] = m.Groups[1].Value;
            }
        }
        return retired;
    }

    [Fact]
    public void EveryIdHasAPageAndEveryPageAnId()
    {
        var ids = AllIds();
        var retired = RetiredPages();
        var pages = new SortedSet<string>(Directory.GetFiles(DocsDir, "QC*.md").Select(Path.GetFileNameWithoutExtension)!, StringComparer.Ordinal);
        pages.ExceptWith(retired.Keys);
        Assert.True(ids.Except(pages).Count() == 0, "ids without a page in docs/diagnostics: " + string.Join(", ", ids.Except(pages)));
        Assert.True(pages.Except(ids).Count() == 0, "pages without an id: " + string.Join(", ", pages.Except(ids)));
    }

    [Fact]
    public void RetiredIdsStayRetiredAndNameALiveReplacement()
    {
        var ids = AllIds();
        var retired = RetiredPages();
        Assert.Contains("QC2020", retired.Keys);
        string index = File.ReadAllText(Path.Combine(DocsDir, "README.md"));
        foreach (var (id, now) in retired)
        {
            Assert.DoesNotContain(id, ids);
            Assert.Contains(now, ids);
            string page = File.ReadAllText(Path.Combine(DocsDir, id + ".md"));
            Assert.Matches($"^# {id}: Retired, now {now}\\n", page);
            Assert.Contains($"| [{id}]({id}.md) | [{now}]({now}.md) |", index);
        }
    }

    [Fact]
    public void PagesFollowTheTemplateAndTheIndexLinksThemAll()
    {
        string index = File.ReadAllText(Path.Combine(DocsDir, "README.md"));
        var generator = GeneratorDescriptors().ToDictionary(d => d.Id);
        foreach (var id in AllIds())
        {
            string page = File.ReadAllText(Path.Combine(DocsDir, id + ".md"));
            Assert.Matches($"^# {id}: \\S", page);
            var severity = Regex.Match(page, @"\*\*Severity:\*\* (error|warning|info)");
            Assert.True(severity.Success, $"{id}.md has no severity line");
            foreach (var section in new[] { "## What it means", "## Example", "## How to fix" })
                Assert.True(page.Contains(section, StringComparison.Ordinal), $"{id}.md has no '{section}' section");
            Assert.Contains(id, Regex.Match(page, "## Example\\s+```text\\n([^`]*)```").Groups[1].Value);
            Assert.Contains($"]({id}.md)", index);
            if (generator.TryGetValue(id, out var d))
                Assert.Equal(d.DefaultSeverity.ToString().ToLowerInvariant(), severity.Groups[1].Value);
        }
    }
}
