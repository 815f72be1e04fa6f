using Google.Protobuf;
using Onnx;
using Q.Compiler.Diagnostics;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Q.Compiler.Tests;

/// <summary>
/// Structured mutation of the ONNX backend node tests that compile: attribute values, declared dimensions and node
/// inputs are changed at random (fixed seed). Each mutant must either fail with a QC code (not QC9001) or compile to
/// code that computes what the reference interpreter computes on the same graph, never something else.
/// </summary>
public sealed class MutationTests
{
    private readonly ITestOutputHelper _out;
    public MutationTests(ITestOutputHelper output) => _out = output;

    /// <summary>Mutants per seed model: 3 by default (about 400 in all, ~15 s); QC_MUTANTS_PER_SEED=20 for a deeper run.</summary>
    private static int MutantsPerSeed =>
        int.TryParse(Environment.GetEnvironmentVariable("QC_MUTANTS_PER_SEED"), out int n) && n > 0 ? n : 3;

    private static readonly long[] s_ints = { -1, 0, 1, 2, 3, -5, 7, 1000, 1L << 31, 1L << 40, long.MaxValue, long.MinValue };
    private static readonly float[] s_floats = { float.NaN, -1f, 0f, 0.5f, 1e30f };

    /// <summary>Node tests used as seeds: small and quick to mutate.</summary>
    private static IEnumerable<string> Seeds() =>
        Directory.GetDirectories(Path.Combine(SharedData.Root, "onnx-backend", "node"))
            .OrderBy(d => d, StringComparer.Ordinal)
            .Select(d => Path.Combine(d, "model.onnx"))
            .Where(f => File.Exists(f) && new FileInfo(f).Length < 4096);

    [SharedFact]
    public void MutantsFailWithACodeOrComputeTheReference()
    {
        var rng = new Random(20240601);
        using var tmp = new TempDir();
        var compiled = new List<(string Name, CompileResult Result)>();
        int mutants = 0, rejected = 0;
        foreach (var seed in Seeds())
        {
            var first = ModelCompiler.Compile(new CompileOptions { ModelPath = seed, ClassName = "M", Namespace = "T" });
            Assert.DoesNotContain(first.Diagnostics, d => d.Id == DiagnosticIds.InternalError);
            if (!first.Success) continue;
            var original = ModelProto.Parser.ParseFrom(File.ReadAllBytes(seed));
            string test = Path.GetFileName(Path.GetDirectoryName(seed)!);
            for (int i = 0; i < MutantsPerSeed; i++)
            {
                var m = original.Clone();
                string what = Mutate(m, rng);
                if (what.Length == 0) continue;
                mutants++;
                string path = OnnxBuilder.Save(m, tmp.Path, "m.onnx");
                var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "M" + compiled.Count, Namespace = "Mutants" });
                string name = $"{test} #{i} ({what})";
                foreach (var d in r.Diagnostics)
                    Assert.True(d.Id != DiagnosticIds.InternalError, $"{name}: {d}");
                if (!r.Success) { rejected++; continue; }
                compiled.Add((name, r));
            }
        }
        _out.WriteLine($"{mutants} mutants: {rejected} rejected with a QC code, {compiled.Count} compiled and run");

        // Compile the generated code of all accepted mutants in a few batches and compare with the interpreter.
        foreach (var batch in compiled.Chunk(150))
        {
            var plans = batch.Select(c => PlanText.Read(c.Result.PlanText!)).ToList();
            var asm = CompiledModels.Compile(plans);
            for (int k = 0; k < batch.Length; k++)
            {
                var (name, r) = batch[k];
                var inputs = r.Graph!.Inputs.Select(v => RandomTensor(v.Type, rng)).ToArray();
                IReadOnlyList<Tensor> expected;
                try { expected = FloatInterpreter.Run(r.Graph, inputs); }
                catch (Exception e) { _out.WriteLine($"{name}: the interpreter cannot run it ({e.GetType().Name}); skipped"); continue; }
                var actual = asm.Create(plans[k]).Run(inputs);
                for (int o = 0; o < expected.Count; o++)
                {
                    var (_, range, _) = TestData.Compare(expected[o], actual[o], double.PositiveInfinity);
                    // Relative to the output's range or, for a single value, its magnitude (float32 accumulation vs the double reference).
                    double magnitude = expected[o].ToDoubles().Where(v => !double.IsInfinity(v) && !double.IsNaN(v)).Select(Math.Abs).DefaultIfEmpty(0).Max();
                    double tol = 1e-4 * Math.Max(Math.Max(range, magnitude), 1) + 1e-5;
                    var (maxAbs, _, bad) = TestData.Compare(expected[o], actual[o], tol);
                    Assert.True(bad == 0, $"{name}: output {o} differs from the interpreter in {bad} elements (max {maxAbs:G3}, tolerance {tol:G3})");
                }
            }
        }
    }

    /// <summary>Changes one thing in the model; returns what, or "" if nothing applicable was found.</summary>
    private static string Mutate(ModelProto m, Random rng)
    {
        var g = m.Graph;
        switch (rng.Next(3))
        {
            case 0:
            {
                var withAttrs = g.Node.Where(n => n.Attribute.Count > 0).ToList();
                if (withAttrs.Count == 0) return "";
                var n = withAttrs[rng.Next(withAttrs.Count)];
                var a = n.Attribute[rng.Next(n.Attribute.Count)];
                if (a.Ints.Count > 0) { int j = rng.Next(a.Ints.Count); a.Ints[j] = s_ints[rng.Next(s_ints.Length)]; return $"{a.Name}[{j}]={a.Ints[j]}"; }
                if (a.Type == AttributeProto.Types.AttributeType.Int) { a.I = s_ints[rng.Next(s_ints.Length)]; return $"{a.Name}={a.I}"; }
                if (a.Type == AttributeProto.Types.AttributeType.Float) { a.F = s_floats[rng.Next(s_floats.Length)]; return $"{a.Name}={a.F}"; }
                if (a.Type == AttributeProto.Types.AttributeType.String) { a.S = ByteString.CopyFromUtf8("BOGUS"); return $"{a.Name}=BOGUS"; }
                return "";
            }
            case 1:
            {
                var values = g.Input.Concat(g.Output).Where(v => v.Type?.TensorType?.Shape?.Dim.Count > 0).ToList();
                if (values.Count == 0) return "";
                var v = values[rng.Next(values.Count)];
                var dims = v.Type.TensorType.Shape.Dim;
                int j = rng.Next(dims.Count);
                dims[j].DimValue = s_ints[rng.Next(s_ints.Length)];
                return $"{v.Name} dim {j}={dims[j].DimValue}";
            }
            default:
            {
                if (g.Node.Count == 0) return "";
                var n = g.Node[rng.Next(g.Node.Count)];
                if (rng.Next(2) == 0 && n.Input.Count > 0) { int j = rng.Next(n.Input.Count); n.Input.RemoveAt(j); return $"{n.Name} input {j} removed"; }
                if (n.Attribute.Count > 0) { int j = rng.Next(n.Attribute.Count); string a = n.Attribute[j].Name; n.Attribute.RemoveAt(j); return $"{n.Name} attribute {a} removed"; }
                n.Input.Add("");
                return $"{n.Name} empty input added";
            }
        }
    }

    private static Tensor RandomTensor(TensorType type, Random rng)
    {
        // Integers are never 0 (integer division by zero is undefined in ONNX) and unsigned ones never negative.
        var d = new double[type.Shape.ElementCount];
        bool isFloat = type.ElementType is DataType.Float or DataType.Double or DataType.Float16;
        bool unsigned = type.ElementType is DataType.UInt8 or DataType.UInt16 or DataType.UInt32 or DataType.UInt64;
        for (int i = 0; i < d.Length; i++)
            d[i] = type.ElementType == DataType.Bool ? rng.Next(2)
                : isFloat ? Math.Round(rng.NextDouble() * 6 - 3, 3)
                : unsigned ? rng.Next(1, 6) : (rng.Next(2) == 0 ? -1 : 1) * rng.Next(1, 4);
        return Tensor.FromDoubles(type.ElementType, type.Shape, d);
    }
}
