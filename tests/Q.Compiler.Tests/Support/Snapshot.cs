using System.Globalization;
using System.Text;
using Xunit.Sdk;

namespace Q.Compiler.Tests.Support;

/// <summary>
/// A minimal snapshot helper with Verify's conventions
/// (https://github.com/VerifyTests/Verify#received-and-verified):
/// <list type="bullet">
/// <item>the accepted output is committed as <c>Snapshots/{Name}.verified.{ext}</c> beside the tests;</item>
/// <item>on a mismatch (or when no verified file exists yet) the new output is written to <c>{Name}.received.{ext}</c>
///   (git-ignored) and the test fails with the first differing lines, so you can diff the two files;</item>
/// <item>with <c>QC_ACCEPT_SNAPSHOTS=1</c> or <c>VERIFY_AUTOVERIFY=true</c> in the environment, the received output
///   replaces the verified file and the test passes (then review and commit the diff).</item>
/// </list>
/// Text is compared after normalizing line endings to \n, so a checkout with CRLF does not fail.
/// </summary>
public static class Snapshot
{
    /// <summary>tests/Q.Compiler.Tests/Snapshots in the source tree (not the output folder).</summary>
    public static string Directory { get; } = Path.Combine(SharedData.RepoRoot, "tests", "Q.Compiler.Tests", "Snapshots");

    /// <summary>True when the environment asks to accept new snapshots.</summary>
    public static bool AcceptAll =>
        Environment.GetEnvironmentVariable("QC_ACCEPT_SNAPSHOTS") is "1" or "true" ||
        string.Equals(Environment.GetEnvironmentVariable("VERIFY_AUTOVERIFY"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Compares <paramref name="actual"/> with Snapshots/{name}.verified.{extension}.</summary>
    public static void Verify(string name, string actual, string extension = "cs")
    {
        foreach (char c in name)
            if (!(char.IsLetterOrDigit(c) || c is '.' or '_' or '-'))
                throw new ArgumentException($"snapshot name '{name}' must be a plain file name", nameof(name));
        System.IO.Directory.CreateDirectory(Directory);
        string verified = Path.Combine(Directory, $"{name}.verified.{extension}");
        string received = Path.Combine(Directory, $"{name}.received.{extension}");
        actual = Normalize(actual);
        string? expected = File.Exists(verified) ? Normalize(File.ReadAllText(verified, Encoding.UTF8)) : null;

        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        if (AcceptAll)
        {
            File.WriteAllText(verified, actual, new UTF8Encoding(false));
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual, new UTF8Encoding(false));
        string rel = Path.GetRelativePath(SharedData.RepoRoot, received).Replace('\\', '/');
        string how = $"Review with: diff {rel.Replace(".received.", ".verified.")} {rel}\n" +
                     "Accept with QC_ACCEPT_SNAPSHOTS=1 (or VERIFY_AUTOVERIFY=true) and commit the .verified file.";
        if (expected is null)
            throw new XunitException($"New snapshot {name}: no verified file yet; wrote {rel}.\n{how}");
        throw new XunitException($"Snapshot {name} differs from the verified file; wrote {rel}.\n{FirstDifference(expected, actual)}\n{how}");
    }

    private static string Normalize(string s) => s.Replace("\r\n", "\n");

    /// <summary>The first differing line with two lines of context, as a tiny unified diff.</summary>
    internal static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        int i = 0;
        while (i < e.Length && i < a.Length && e[i] == a[i]) i++;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"first difference at line {i + 1} (verified {e.Length} lines, received {a.Length} lines):\n");
        for (int k = Math.Max(0, i - 2); k < i; k++) sb.Append("  ").Append(Clip(e[k])).Append('\n');
        for (int k = i; k < Math.Min(e.Length, i + 3); k++) sb.Append("- ").Append(Clip(e[k])).Append('\n');
        for (int k = i; k < Math.Min(a.Length, i + 3); k++) sb.Append("+ ").Append(Clip(a[k])).Append('\n');
        return sb.ToString();
    }

    private static string Clip(string line) => line.Length <= 200 ? line : line.Substring(0, 200) + "…";
}
