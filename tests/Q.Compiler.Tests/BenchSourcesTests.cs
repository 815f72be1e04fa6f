using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// The file-based kernel benches (bench/*.cs, run with <c>dotnet run -c Release bench/X.cs</c>) are no project of the
/// solution, so nothing else compiles them: each is compiled here with Roslyn, the way <c>dotnet run</c> would, against the
/// Core, Kernels and Timing assemblies this test project references. The benchmark app (bench/Q.Compiler.Benchmarks)
/// is built with this project (a ProjectReference without its assembly), so a break there fails the build.
/// </summary>
public sealed class BenchSourcesTests
{
    private static string BenchDir => Path.Combine(SharedData.RepoRoot, "bench");

    /// <summary>The global usings of a file-based app (Microsoft.NET.Sdk's implicit usings, on by default there).</summary>
    private static readonly string[] s_implicitUsings =
        { "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks" };

    private static readonly Lazy<MetadataReference[]> s_framework = new(() =>
    {
        string runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => string.Equals(Path.GetDirectoryName(p), runtimeDir, StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });

    private static IEnumerable<string> BenchFileNames() =>
        Directory.GetFiles(BenchDir, "*.cs").Select(f => Path.GetFileName(f)).OrderBy(f => f, StringComparer.Ordinal);

    public static TheoryData<string> BenchFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in BenchFileNames()) data.Add(f);
        return data;
    }

    [Fact]
    public void The_bench_folder_has_file_based_programs()
    {
        // Guards the theory below against passing on an empty list (a moved folder, a wrong repository root).
        Assert.Contains("QConvBench.cs", BenchFileNames());
    }

    [Theory]
    [MemberData(nameof(BenchFiles))]
    public void File_based_bench_compiles(string file)
    {
        string path = Path.Combine(BenchDir, file);
        var app = FileBasedApp.Read(path);

        var references = new List<MetadataReference>(s_framework.Value);
        foreach (var project in app.Projects)
        {
            // A #:project reference compiles against that project's assembly, which this test project must reference too.
            string dll = Path.Combine(AppContext.BaseDirectory, Path.GetFileNameWithoutExtension(project) + ".dll");
            Assert.True(File.Exists(dll), $"{file}: #:project {project}: {Path.GetFileName(dll)} is not beside the tests; add a ProjectReference to Q.Compiler.Tests.csproj");
            references.Add(MetadataReference.CreateFromFile(dll));
        }

        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(app.Code, parse, path),
            CSharpSyntaxTree.ParseText(string.Concat(s_implicitUsings.Select(u => $"global using global::{u};\n")), parse, "GlobalUsings.g.cs"),
        };
        var options = new CSharpCompilationOptions(OutputKind.ConsoleApplication)
            .WithNullableContextOptions(app.Property("Nullable") == "enable" ? NullableContextOptions.Enable : NullableContextOptions.Disable)
            .WithAllowUnsafe(string.Equals(app.Property("AllowUnsafeBlocks"), "true", StringComparison.OrdinalIgnoreCase))
            .WithOptimizationLevel(OptimizationLevel.Release);
        // The kernels grant their internals to the assembly name the benches take (Q.Compiler.Benchmarks).
        var compilation = CSharpCompilation.Create(app.Property("AssemblyName") ?? Path.GetFileNameWithoutExtension(file), trees, references, options);

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{file} does not compile:\n" + string.Join("\n", errors.Take(20)));
    }

    /// <summary>A file-based program: its code (directives blanked out, positions kept) and its #: directives.</summary>
    private sealed class FileBasedApp
    {
        private readonly Dictionary<string, string> _properties = new(StringComparer.OrdinalIgnoreCase);

        private FileBasedApp(string code) { Code = code; }

        public string Code { get; }

        public List<string> Projects { get; } = new();

        public string? Property(string name) => _properties.TryGetValue(name, out var v) ? v : null;

        public static FileBasedApp Read(string path)
        {
            var lines = File.ReadAllLines(path);
            var directives = new List<string>();
            for (int i = 0; i < lines.Length; i++)
            {
                if (!lines[i].StartsWith("#:", StringComparison.Ordinal) && !lines[i].StartsWith("#!", StringComparison.Ordinal)) continue;
                directives.Add(lines[i]);
                lines[i] = "//" + lines[i].Substring(2);
            }
            var app = new FileBasedApp(string.Join("\n", lines));
            foreach (var d in directives.Where(d => d.StartsWith("#:", StringComparison.Ordinal)))
            {
                string body = d.Substring(2).Trim();
                int space = body.IndexOf(' ');
                string kind = space < 0 ? body : body.Substring(0, space), value = space < 0 ? "" : body.Substring(space + 1).Trim();
                switch (kind)
                {
                    case "property":
                        int eq = value.IndexOf('=');
                        app._properties[value.Substring(0, eq).Trim()] = value.Substring(eq + 1).Trim();
                        break;
                    case "project":
                        app.Projects.Add(value);
                        break;
                    default:
                        // #:package, #:sdk: this test would have to restore them; extend it when a bench needs one.
                        throw new InvalidOperationException($"{Path.GetFileName(path)}: directive '{d}' is not handled by {nameof(BenchSourcesTests)}");
                }
            }
            if (app.Property("TargetFramework") is { } tfm && tfm != "net10.0")
                throw new InvalidOperationException($"{Path.GetFileName(path)}: TargetFramework {tfm}; these tests run on net10.0");
            return app;
        }
    }
}
