using System.Globalization;
using System.Text;

namespace Q.Compiler.Conformance;

/// <summary>
/// The checked-in expectations (expectations.tsv): one line per backend test, "name TAB status TAB reason", sorted by name.
/// A test missing from the file is expected to PASS. Lines starting with '#' are comments.
/// </summary>
public static class Expectations
{
    public const string FileName = "expectations.tsv";

    public static Dictionary<string, (Status Status, string Reason)> Read(string path)
    {
        var d = new Dictionary<string, (Status, string)>(StringComparer.Ordinal);
        if (!File.Exists(path)) return d;
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split('\t');
            if (parts.Length < 2 || !Enum.TryParse<Status>(parts[1], ignoreCase: false, out var status))
                throw new FormatException($"{path}:{lineNo}: expected 'name<TAB>PASS|FAIL|UNSUPPORTED|ERROR<TAB>reason'");
            d[parts[0]] = (status, parts.Length > 2 ? parts[2] : "");
        }
        return d;
    }

    /// <summary>Writes every result (sorted by name), with a header explaining the file.</summary>
    public static void Write(string path, IEnumerable<CaseResult> results, string summary)
    {
        var sb = new StringBuilder();
        sb.Append("# ONNX backend tests through Q.Compiler (tests/Q.Compiler.Conformance, see docs/conformance.md).\n");
        sb.Append("# name<TAB>status<TAB>reason. Status: PASS, FAIL (wrong result), UNSUPPORTED (clean build error QC2001/QC2006/QC2008/QC1006),\n");
        sb.Append("# ERROR (any other failure). Regenerate with QC_UPDATE_EXPECTATIONS=1 dotnet test tests/Q.Compiler.Conformance\n");
        sb.Append("# ").Append(summary).Append('\n');
        foreach (var r in results.OrderBy(r => r.Name, StringComparer.Ordinal))
            sb.Append(r.Name).Append('\t').Append(r.Status.ToString()).Append('\t').Append(Clean(r.Reason)).Append('\n');
        File.WriteAllText(path, sb.ToString(), new UTF8Encoding(false));
    }

    /// <summary>One line, no tabs, at most 300 characters.</summary>
    public static string Clean(string reason)
    {
        var s = reason.Replace('\t', ' ').Replace("\r", "").Replace('\n', ' ').Trim();
        return s.Length > 300 ? s.Substring(0, 297) + "..." : s;
    }

    /// <summary>ONNX Runtime 1.30's status per node test (PASS, FAIL, ERROR), from ../shared/onnx-backend/ort-node-1.30-results.tsv.</summary>
    public static Dictionary<string, string> ReadOrt(string path)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return d;
        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split('\t');
            if (parts.Length >= 2) d[parts[0]] = parts[1];
        }
        return d;
    }

    public static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
}
