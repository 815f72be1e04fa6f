using Xunit;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>The repository (found by Q.Compiler.sln above the test assembly) and ../shared beside it.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Shared { get; } = Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static bool SharedExists => Directory.Exists(Path.Combine(Shared, "models"));

    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The configuration this test assembly was built in; the tests build the product the same way, so nothing is built twice.</summary>
    public static string Configuration =>
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    public static string SharedFile(string relative)
    {
        string path = Path.Combine(Shared, relative);
        if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing. {SharedFactAttribute.MissingMessage}.");
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Q.Compiler.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find Q.Compiler.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs ../shared: skipped where it is missing, except in CI (CI=true), where it fails.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public const string MissingMessage =
        "../shared (real ONNX models and datasets, see shared/README.md) is not beside the repository";

    public SharedFactAttribute()
    {
        if (!Repository.SharedExists && !Repository.IsCI) Skip = MissingMessage + "; skipped (in CI this fails).";
    }
}
