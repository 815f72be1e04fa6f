using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Q.Compiler.Ir;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Conformance;

/// <summary>
/// The ONNX backend tests (../shared/onnx-backend: node, simple, pytorch-converted, pytorch-operator) through the full
/// pipeline, checked against expectations.tsv. Environment: QC_UPDATE_EXPECTATIONS=1 rewrites the file from this run;
/// QC_CONFORMANCE_FILTER=regex runs only matching tests (and updates only their lines).
/// </summary>
public sealed class ConformanceTests
{
    private readonly ITestOutputHelper _out;
    public ConformanceTests(ITestOutputHelper output) => _out = output;

    private static string ExpectationsPath => Path.Combine(SharedData.RepoRoot, "tests", "Q.Compiler.Conformance", Expectations.FileName);

    [SharedFact]
    public void BackendTestsMatchExpectations()
    {
        string root = SharedData.RequirePath("onnx-backend");
        var cases = ConformanceRunner.Discover(root);
        Assert.True(cases.Count > 1000, $"only {cases.Count} tests found under {root}");
        string? filter = Environment.GetEnvironmentVariable("QC_CONFORMANCE_FILTER");
        if (!string.IsNullOrEmpty(filter)) cases = cases.Where(c => Regex.IsMatch(c.Name, filter)).ToList();
        bool update = Environment.GetEnvironmentVariable("QC_UPDATE_EXPECTATIONS") == "1";

        var sw = Stopwatch.StartNew();
        var results = ConformanceRunner.Run(cases, _out.WriteLine);
        sw.Stop();

        string summary = Summary(results, Expectations.ReadOrt(Path.Combine(root, "ort-node-1.30-results.tsv")), sw.Elapsed);
        _out.WriteLine(summary);
        string resultsPath = Path.Combine(AppContext.BaseDirectory, "conformance-results.tsv");
        Expectations.Write(resultsPath, results, summary);
        _out.WriteLine("results: " + resultsPath);

        var expected = Expectations.Read(ExpectationsPath);
        if (update)
        {
            var merged = string.IsNullOrEmpty(filter)
                ? results
                : expected.Select(kv => new CaseResult(kv.Key, kv.Value.Status, kv.Value.Reason))
                    .Where(r => !results.Any(x => x.Name == r.Name)).Concat(results).ToList();
            Expectations.Write(ExpectationsPath, merged, string.IsNullOrEmpty(filter) ? summary : Summary(merged, new(), null));
            _out.WriteLine("updated " + ExpectationsPath);
            return;
        }

        var mismatches = new List<string>();
        foreach (var r in results)
        {
            var want = expected.TryGetValue(r.Name, out var e) ? e.Status : Status.PASS;
            if (r.Status != want) mismatches.Add($"{r.Name}: {r.Status}, expected {want}{(r.Reason.Length > 0 ? " — " + Expectations.Clean(r.Reason) : "")}");
        }
        if (string.IsNullOrEmpty(filter))
        {
            var names = new HashSet<string>(results.Select(r => r.Name), StringComparer.Ordinal);
            mismatches.AddRange(expected.Keys.Where(k => !names.Contains(k)).Select(k => $"{k}: listed in {Expectations.FileName} but no such test"));
        }
        Assert.True(mismatches.Count == 0,
            $"{mismatches.Count} tests differ from {Expectations.FileName} (if the change is intended, rerun with QC_UPDATE_EXPECTATIONS=1 and review the diff):\n" +
            string.Join("\n", mismatches.Take(60)) + (mismatches.Count > 60 ? $"\n... and {mismatches.Count - 60} more" : "") + "\n" + summary);
    }

    /// <summary>"conformance: 1942 tests: PASS …; node: PASS n/1802 (ONNX Runtime 1.30: m/1802) …"</summary>
    public static string Summary(IReadOnlyList<CaseResult> results, Dictionary<string, string> ort, TimeSpan? elapsed)
    {
        string Counts(IEnumerable<CaseResult> rs)
        {
            var l = rs.ToList();
            return string.Join(", ", Enum.GetValues<Status>().Select(s => $"{s} {Expectations.Count(l.Count(r => r.Status == s))}"));
        }
        var sb = new StringBuilder();
        sb.Append($"conformance: {results.Count} tests: {Counts(results)}");
        if (elapsed is { } t) sb.Append($" in {t.TotalSeconds:F0} s");
        foreach (var suite in ConformanceRunner.Suites)
        {
            var rs = results.Where(r => r.Name.StartsWith(suite + "/", StringComparison.Ordinal)).ToList();
            if (rs.Count == 0) continue;
            sb.Append($"; {suite}: PASS {rs.Count(r => r.Status == Status.PASS)}/{rs.Count}");
            if (suite == "node" && ort.Count > 0)
            {
                var names = rs.Select(r => r.Name.Substring(5)).ToList();
                int ortPass = names.Count(n => ort.TryGetValue(n, out var s) && s == "PASS");
                int both = rs.Count(r => r.Status == Status.PASS && ort.TryGetValue(r.Name.Substring(5), out var s) && s == "PASS");
                sb.Append($" (ONNX Runtime 1.30: PASS {ortPass}/{rs.Count}; both pass {both})");
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void CompareAppliesTolerancesAndExactness()
    {
        var s = new Shape(3);
        var e = Tensor.FromFloats(s, new[] { 1f, float.NaN, 100f });
        Assert.Null(ConformanceRunner.Compare(e, Tensor.FromFloats(s, new[] { 1.000001f, float.NaN, 100.05f }), 1e-3, 1e-5));
        Assert.NotNull(ConformanceRunner.Compare(e, Tensor.FromFloats(s, new[] { 1f, float.NaN, 100.2f }), 1e-3, 1e-5));
        Assert.NotNull(ConformanceRunner.Compare(e, Tensor.FromFloats(s, new[] { 1f, 0f, 100f }), 1e-3, 1e-5));
        Assert.NotNull(ConformanceRunner.Compare(e, Tensor.FromFloats(new Shape(1, 3), new[] { 1f, float.NaN, 100f }), 1e-3, 1e-5));
        var i = Tensor.FromLongs(s, new long[] { 1, 2, long.MaxValue });
        Assert.Null(ConformanceRunner.Compare(i, Tensor.FromLongs(s, new long[] { 1, 2, long.MaxValue }), 1e-3, 1e-5));
        Assert.NotNull(ConformanceRunner.Compare(i, Tensor.FromLongs(s, new long[] { 1, 2, long.MaxValue - 1 }), 1e-3, 1e-5));
        Assert.NotNull(ConformanceRunner.Compare(i, new Tensor(DataType.Int32, s, new[] { 1, 2, 3 }), 1e-3, 1e-5));
    }
}
