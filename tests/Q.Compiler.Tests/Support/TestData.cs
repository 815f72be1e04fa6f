using Q.Compiler.Ir;
using Q.Compiler.Onnx;

namespace Q.Compiler.Tests.Support;

/// <summary>ONNX test data sets: test_data_set_N/input_K.pb and output_K.pb.</summary>
public static class TestData
{
    public static IReadOnlyList<string> Sets(string folder) =>
        Directory.Exists(folder)
            ? Directory.GetDirectories(folder, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal).ToList()
            : Array.Empty<string>();

    public static Tensor[] Inputs(string set) => Files(set, "input_").Select(OnnxReader.ReadTensorFile).ToArray();

    public static Tensor[] Outputs(string set) => Files(set, "output_").Select(OnnxReader.ReadTensorFile).ToArray();

    private static IEnumerable<string> Files(string set, string prefix) =>
        Directory.GetFiles(set, prefix + "*.pb").OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f).Substring(prefix.Length)));

    /// <summary>Largest |a − b| and the range of the expected values (both as doubles; float16 upcast).</summary>
    public static (double MaxAbs, double Range, int Mismatches) Compare(Tensor expected, Tensor actual, double tol)
    {
        var e = expected.ToDoubles(); var a = actual.ToDoubles();
        if (e.Length != a.Length) throw new InvalidOperationException($"lengths {e.Length} vs {a.Length}");
        double max = 0, lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        int bad = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            if (double.IsInfinity(e[i]) && e[i] == a[i]) continue;
            double d = Math.Abs(e[i] - a[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            max = Math.Max(max, d);
            if (!double.IsInfinity(e[i])) { lo = Math.Min(lo, e[i]); hi = Math.Max(hi, e[i]); }
            if (d > tol) bad++;
        }
        return (max, hi >= lo ? hi - lo : 0, bad);
    }
}
