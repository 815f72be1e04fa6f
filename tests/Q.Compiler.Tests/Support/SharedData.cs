using Xunit;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// Locates ../shared (real models, datasets, ONNX backend tests) beside the repository. Tests that need it use
/// [SharedFact]/[SharedTheory]: skipped with a message where it is missing, but failing in CI (CI=true), where it must be there.
/// </summary>
public static class SharedData
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static bool Exists => Directory.Exists(Path.Combine(Root, "models"));

    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public const string MissingMessage =
        "../shared (real ONNX models, datasets and the ONNX backend tests, see shared/README.md) is not beside the repository";

    public static string Models => Path.Combine(Root, "models");

    public static string Model(string relative) => Path.Combine(Models, relative);

    public static string RequirePath(string relative)
    {
        string p = Path.Combine(Root, relative);
        if (!File.Exists(p) && !Directory.Exists(p))
            throw new InvalidOperationException($"{p} is missing. {MissingMessage}.");
        return p;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Q.Compiler.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find Q.Compiler.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs ../shared.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (!SharedData.Exists && !SharedData.IsCI) Skip = SharedData.MissingMessage + "; skipped (in CI this fails).";
    }
}

/// <summary>A theory that needs ../shared.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (!SharedData.Exists && !SharedData.IsCI) Skip = SharedData.MissingMessage + "; skipped (in CI this fails).";
    }
}
