using Google.Protobuf;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests;

/// <summary>
/// The ONNX backend node tests of reductions, Resize and Upsample whose axes, scales, sizes or roi are graph inputs:
/// the conformance suite (tests/Q.Compiler.Conformance) can only report those as needing build-time values, so here
/// those inputs become initializers, as they are in a real model with pinned shapes, and the tests are compiled with the
/// full pipeline into one assembly and compared with their expected outputs. The other node tests of these ops run in
/// the conformance suite. Cases Q.Compiler rejects must be rejected with a QC code, never compiled into a wrong answer.
/// </summary>
public sealed class NnOpNodeTests
{
    private readonly ITestOutputHelper _out;
    public NnOpNodeTests(ITestOutputHelper output) => _out = output;

    /// <summary>Node tests expected to be rejected at build time, with the diagnostic they must produce.</summary>
    private static readonly Dictionary<string, string> s_rejected = new()
    {
        ["test_reduce_max_bool_inputs"] = "QC2006",
        ["test_reduce_min_bool_inputs"] = "QC2006",
    };

    private static readonly string[] s_prefixes = { "test_reduce_", "test_resize_", "test_upsample_" };

    /// <summary>Inputs read at build time, by op type (their values become initializers).</summary>
    private static readonly Dictionary<string, int[]> s_buildTimeInputs = new()
    {
        ["Resize"] = new[] { 1, 2, 3 }, ["Upsample"] = new[] { 1 },
        ["ReduceSum"] = new[] { 1 }, ["ReduceMean"] = new[] { 1 }, ["ReduceMax"] = new[] { 1 }, ["ReduceMin"] = new[] { 1 },
        ["ReduceProd"] = new[] { 1 }, ["ReduceL1"] = new[] { 1 }, ["ReduceL2"] = new[] { 1 }, ["ReduceSumSquare"] = new[] { 1 },
        ["ReduceLogSum"] = new[] { 1 }, ["ReduceLogSumExp"] = new[] { 1 },
    };

    public static IEnumerable<string> Cases()
    {
        string node = Path.Combine(SharedData.Root, "onnx-backend", "node");
        if (!Directory.Exists(node)) return Array.Empty<string>();
        return Directory.GetDirectories(node).Select(Path.GetFileName).Where(n => s_prefixes.Any(p => n!.StartsWith(p, StringComparison.Ordinal)))
            .Where(n => !n!.EndsWith("_expanded", StringComparison.Ordinal) && !n.Contains("_expanded_ver"))
            .OrderBy(n => n, StringComparer.Ordinal)!;
    }

    [SharedFact]
    public void NodeTestsOfNnOpsPassOrAreRejectedWithACode()
    {
        string root = Path.Combine(SharedData.Root, "onnx-backend", "node");
        string temp = Path.Combine(Path.GetTempPath(), "qc-nn-node-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        var failures = new List<string>();
        var compiled = new List<(string Name, ModelPlan Plan, Tensor[] Inputs, Tensor[] Outputs)>();
        int rejected = 0;
        try
        {
            foreach (var name in Cases())
            {
                string dir = Path.Combine(root, name);
                string set = Path.Combine(dir, "test_data_set_0");
                var (path, runtimeInputs, moved) = Prepare(dir, set, temp, name);
                if (moved == 0 && !s_rejected.ContainsKey(name)) continue; // runs as is in the conformance suite
                var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M_" + name, Namespace = "NodeTests" });
                var error = r.Diagnostics.FirstOrDefault(d => d.Severity == Diagnostics.Severity.Error);
                if (s_rejected.TryGetValue(name, out var code))
                {
                    if (error is null || error.Id != code) failures.Add($"{name}: expected {code}, got {(error is null ? "success" : error.ToString())}");
                    else rejected++;
                    continue;
                }
                if (error is not null) { failures.Add($"{name}: {error}"); continue; }
                var outputs = TestData.Outputs(set);
                compiled.Add((name, PlanText.Read(r.PlanText!), runtimeInputs, outputs));
            }

            var asm = CompiledModels.Compile(compiled.Select(c => c.Plan).ToList());
            foreach (var (name, plan, inputs, expected) in compiled)
            {
                var actual = asm.Create(plan).Run(inputs);
                for (int o = 0; o < expected.Length; o++)
                {
                    var e = expected[o].ToDoubles(); var a = actual[o].ToDoubles();
                    if (e.Length != a.Length) { failures.Add($"{name}: output {o} has {a.Length} elements, expected {e.Length}"); continue; }
                    int bad = 0; double worst = 0;
                    for (int i = 0; i < e.Length; i++)
                    {
                        if (double.IsNaN(e[i]) && double.IsNaN(a[i]) || e[i] == a[i]) continue;
                        double d = Math.Abs(e[i] - a[i]);
                        if (!(d <= 1e-5 + 1e-4 * Math.Abs(e[i]))) { bad++; worst = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(worst, d); }
                    }
                    if (bad > 0) failures.Add($"{name}: output {o}: {bad} of {e.Length} elements differ (max {worst:G3})");
                }
            }
            _out.WriteLine($"{compiled.Count} node tests compiled and run, {rejected} rejected as expected, {failures.Count} failures");
            foreach (var f in failures) _out.WriteLine(f);
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
        finally { Directory.Delete(temp, recursive: true); }
    }

    /// <summary>Writes the test's model with build-time inputs moved into initializers; returns it and the remaining inputs.</summary>
    private static (string Path, Tensor[] Inputs, int Moved) Prepare(string dir, string set, string temp, string name)
    {
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
        var g = model.Graph;
        var inputFiles = Directory.GetFiles(set, "input_*.pb").OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f).Substring(6))).ToList();
        var initNames = new HashSet<string>(g.Initializer.Select(i => i.Name));
        var graphInputs = g.Input.Where(i => !initNames.Contains(i.Name)).ToList();
        var constant = new HashSet<string>();
        foreach (var n in g.Node)
            if (s_buildTimeInputs.TryGetValue(n.OpType, out var idx))
                foreach (int i in idx) if (i < n.Input.Count && n.Input[i].Length > 0) constant.Add(n.Input[i]);
        var runtime = new List<Tensor>();
        for (int i = 0; i < graphInputs.Count; i++)
        {
            if (constant.Contains(graphInputs[i].Name))
            {
                var t = global::Onnx.TensorProto.Parser.ParseFrom(File.ReadAllBytes(inputFiles[i]));
                t.Name = graphInputs[i].Name;
                g.Initializer.Add(t);
                g.Input.Remove(graphInputs[i]);
            }
            else runtime.Add(Q.Compiler.Onnx.OnnxReader.ReadTensorFile(inputFiles[i]));
        }
        string path = Path.Combine(temp, name + ".onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return (path, runtime.ToArray(), graphInputs.Count - runtime.Count);
    }
}
