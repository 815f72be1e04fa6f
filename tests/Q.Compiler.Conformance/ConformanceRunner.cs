using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Onnx;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;

namespace Q.Compiler.Conformance;

/// <summary>How one backend test came out.</summary>
public enum Status
{
    /// <summary>Every output of every data set matches.</summary>
    PASS,
    /// <summary>The model compiled and ran but computed a wrong result.</summary>
    FAIL,
    /// <summary>The build refused it cleanly: an unsupported op, attribute, data type, or a value needed at build time (QC2001, QC2006, QC1006, QC2008).</summary>
    UNSUPPORTED,
    /// <summary>Anything else: another build error, generated code that does not compile, an exception at run time.</summary>
    ERROR,
}

/// <summary>One test's status and, unless it passed, why.</summary>
public sealed record CaseResult(string Name, Status Status, string Reason);

/// <summary>One ONNX backend test: a folder with model.onnx and test_data_set_N/{input,output}_K.pb.</summary>
public sealed record ConformanceCase(string Name, string Directory)
{
    /// <summary>The suite folder: node, simple, pytorch-converted or pytorch-operator.</summary>
    public string Suite => Name.Substring(0, Name.IndexOf('/'));
    /// <summary>The test's own name, e.g. test_abs (as ONNX Runtime's results name it).</summary>
    public string TestName => Name.Substring(Name.IndexOf('/') + 1);
}

/// <summary>
/// Runs ONNX backend tests through the whole pipeline, as a build would: pin the inputs' shapes from the test data
/// (InputShapes), ModelCompiler.Compile, plan text → ModelEmitter → C#, Roslyn, run, compare. The generated code of
/// many tests is compiled into one in-memory assembly per batch.
/// </summary>
public static class ConformanceRunner
{
    /// <summary>The folders of ../shared/onnx-backend that hold tests.</summary>
    public static readonly string[] Suites = { "node", "simple", "pytorch-converted", "pytorch-operator" };

    /// <summary>Build errors that mean "refused cleanly": the op, an attribute, a data type, or a run-time-only value is not supported.</summary>
    public static readonly HashSet<string> UnsupportedIds = new(StringComparer.Ordinal)
    {
        DiagnosticIds.UnsupportedOp, DiagnosticIds.UnsupportedAttribute, DiagnosticIds.UnsupportedDataType, DiagnosticIds.NotConstant,
    };

    /// <summary>Default tolerance for float outputs, as the ONNX backend runner compares: |actual − expected| ≤ atol + rtol·|expected|.</summary>
    public const double DefaultRtol = 1e-3, DefaultAtol = 1e-5;

    /// <summary>Tests that need a looser tolerance than the default, and why.</summary>
    public static readonly IReadOnlyDictionary<string, (double Rtol, double Atol, string Why)> Tolerances =
        new Dictionary<string, (double, double, string)>(StringComparer.Ordinal)
        {
        };

    /// <summary>Tests of one batch compiled into one assembly.</summary>
    public const int BatchSize = 400;

    /// <summary>How long the models of one batch may run (they take a few seconds).</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public static List<ConformanceCase> Discover(string backendRoot)
    {
        var cases = new List<ConformanceCase>();
        foreach (var suite in Suites)
        {
            string dir = Path.Combine(backendRoot, suite);
            if (!Directory.Exists(dir)) continue;
            foreach (var t in Directory.GetDirectories(dir))
                if (File.Exists(Path.Combine(t, "model.onnx")))
                    cases.Add(new ConformanceCase(suite + "/" + Path.GetFileName(t), t));
        }
        cases.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return cases;
    }

    /// <summary>A test that compiled to a plan, with its data sets, waiting to be run.</summary>
    private sealed record Prepared(ConformanceCase Case, ModelPlan Plan, List<(Tensor[] Inputs, Tensor[] Outputs)> Sets);

    /// <summary>Runs the cases; <paramref name="log"/> receives progress lines.</summary>
    public static List<CaseResult> Run(IReadOnlyList<ConformanceCase> cases, Action<string>? log = null)
    {
        var results = new ConcurrentDictionary<string, CaseResult>(StringComparer.Ordinal);
        var prepared = new ConcurrentBag<Prepared>();
        var sw = Stopwatch.StartNew();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, c =>
        {
            var (p, r) = Prepare(c);
            if (r is not null) results[c.Name] = r;
            else prepared.Add(p!);
        });
        log?.Invoke($"compiled {cases.Count} models in {sw.Elapsed.TotalSeconds:F1} s: {prepared.Count} to run");

        var ordered = prepared.OrderBy(p => p.Case.Name, StringComparer.Ordinal).ToList();
        for (int start = 0; start < ordered.Count; start += BatchSize)
        {
            var batch = ordered.Skip(start).Take(BatchSize).ToList();
            var t0 = sw.Elapsed;
            var compiled = CompiledModels.CompileBatch(batch.Select(b => b.Plan).ToList(), "QConformance" + start.ToString(CultureInfo.InvariantCulture));
            var t1 = sw.Elapsed;
            // A kernel that loops forever must not hang the suite: the batch runs on its own thread under a watchdog.
            string current = "";
            var run = Task.Factory.StartNew(() =>
            {
                foreach (var b in batch)
                {
                    current = b.Case.Name;
                    if (compiled.Failures.TryGetValue(b.Plan, out var why))
                        results[b.Case.Name] = new CaseResult(b.Case.Name, Status.ERROR, why);
                    else
                        results[b.Case.Name] = Execute(b, compiled.Assembly!);
                }
            }, TaskCreationOptions.LongRunning);
            if (!run.Wait(RunTimeout))
                throw new TimeoutException($"{current} has run for more than {RunTimeout.TotalSeconds:F0} s (its batch's time limit); it may loop forever");
            log?.Invoke($"batch {start / BatchSize + 1}: {batch.Count} models, C# compiled in {(t1 - t0).TotalSeconds:F1} s, ran in {(sw.Elapsed - t1).TotalSeconds:F1} s");
        }
        return cases.Select(c => results[c.Name]).ToList();
    }

    private static (Prepared?, CaseResult?) Prepare(ConformanceCase c)
    {
        string model = Path.Combine(c.Directory, "model.onnx");
        try
        {
            // The model's inputs (without initializers), to pin their shapes from the data and feed them by name.
            OnnxModel onnx;
            try { onnx = OnnxReader.ReadFile(model, c.Name + "/model.onnx"); }
            catch (QcException e) { return (null, FromDiagnostic(c, e.Diagnostic)); }

            var sets = new List<(Tensor[] Inputs, Tensor[] Outputs)>();
            foreach (var set in TestData.Sets(c.Directory))
            {
                var named = Files(set, "input_").Select(OnnxReader.ReadNamedTensorFile).ToList();
                var inputs = new Tensor[onnx.Inputs.Count];
                bool byName = named.Count == onnx.Inputs.Count && named.All(n => onnx.Inputs.Any(i => i.Name == n.Name));
                if (named.Count != onnx.Inputs.Count)
                    return (null, new CaseResult(c.Name, Status.ERROR, $"the test data has {named.Count} inputs but the model takes {onnx.Inputs.Count}"));
                for (int i = 0; i < inputs.Length; i++)
                    inputs[i] = byName ? named.First(n => n.Name == onnx.Inputs[i].Name).Tensor : named[i].Tensor;
                sets.Add((inputs, Files(set, "output_").Select(OnnxReader.ReadTensorFile).ToArray()));
            }
            if (sets.Count == 0) return (null, new CaseResult(c.Name, Status.ERROR, "no test_data_set"));

            string shapes = string.Join(";", onnx.Inputs.Select((v, i) => v.Name + "=" + sets[0].Inputs[i].Shape.ToCompact()));
            var r = ModelCompiler.Compile(new CompileOptions
            {
                ModelPath = model, DisplayPath = c.Name + "/model.onnx", InputShapes = shapes,
                Namespace = "QConformance." + Identifiers.Pascal(c.Suite), ClassName = Identifiers.Pascal(c.TestName),
            });
            if (!r.Success)
                return (null, FromDiagnostic(c, r.Diagnostics.First(d => d.Severity == Severity.Error)));
            // Go through the text form, as the build does.
            return (new Prepared(c, PlanText.Read(r.PlanText!), sets), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (null, new CaseResult(c.Name, Status.ERROR, $"{e.GetType().Name}: {e.Message} {FirstFrame(e)}"));
        }
    }

    /// <summary>"at Namespace.Type.Method(…)" of the throwing frame, without file and line (so reasons stay stable).</summary>
    private static string FirstFrame(Exception e)
    {
        string frame = e.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "";
        int at = frame.IndexOf(" in ", StringComparison.Ordinal);
        return at > 0 ? frame.Substring(0, at) : frame;
    }

    private static IEnumerable<string> Files(string set, string prefix) =>
        Directory.GetFiles(set, prefix + "*.pb").OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f).Substring(prefix.Length), CultureInfo.InvariantCulture));

    private static CaseResult FromDiagnostic(ConformanceCase c, Diagnostic d) =>
        new(c.Name, UnsupportedIds.Contains(d.Id) ? Status.UNSUPPORTED : Status.ERROR, d.Id + " " + d.Message);

    private static CaseResult Execute(Prepared p, CompiledModels assembly)
    {
        var (rtol, atol) = Tolerances.TryGetValue(p.Case.Name, out var tol) ? (tol.Rtol, tol.Atol) : (DefaultRtol, DefaultAtol);
        try
        {
            var model = assembly.Create(p.Plan);
            for (int s = 0; s < p.Sets.Count; s++)
            {
                var (inputs, expected) = p.Sets[s];
                var actual = model.Run(inputs);
                if (actual.Length != expected.Length)
                    return new CaseResult(p.Case.Name, Status.FAIL, $"data set {s}: {actual.Length} outputs, expected {expected.Length}");
                for (int o = 0; o < expected.Length; o++)
                {
                    string? why = Compare(expected[o], actual[o], rtol, atol);
                    if (why is not null) return new CaseResult(p.Case.Name, Status.FAIL, $"data set {s} output {o}: {why}");
                }
            }
            return new CaseResult(p.Case.Name, Status.PASS, "");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new CaseResult(p.Case.Name, Status.ERROR, $"at run time: {e.GetType().Name}: {e.Message} {FirstFrame(e)}");
        }
    }

    /// <summary>Null if <paramref name="actual"/> matches: same element type and shape; integers and bools exactly; floats within tolerance (NaN matches NaN).</summary>
    public static string? Compare(Tensor expected, Tensor actual, double rtol, double atol)
    {
        if (expected.ElementType != actual.ElementType)
            return $"element type {actual.ElementType.ShortName()}, expected {expected.ElementType.ShortName()}";
        if (!expected.Shape.Equals(actual.Shape))
            return $"shape {actual.Shape}, expected {expected.Shape}";
        int bad = 0, first = -1;
        double worst = 0;
        if (expected.ElementType.IsFloat())
        {
            var e = expected.ToDoubles(); var a = actual.ToDoubles();
            for (int i = 0; i < e.Length; i++)
            {
                if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
                if (e[i] == a[i]) continue;
                double d = Math.Abs(a[i] - e[i]);
                if (!(d <= atol + rtol * Math.Abs(e[i])))
                {
                    bad++;
                    if (first < 0) first = i;
                    if (!(d <= worst)) worst = d;
                }
            }
        }
        else
        {
            var e = expected.Data; var a = actual.Data;
            for (int i = 0; i < e.Length; i++)
                if (!Equals(e.GetValue(i), a.GetValue(i))) { bad++; if (first < 0) first = i; }
        }
        if (bad == 0) return null;
        string at = $"first at {first}: expected {Format(expected, first)}, got {Format(actual, first)}";
        return expected.ElementType.IsFloat()
            ? $"{bad} of {expected.Length} elements differ (max abs error {worst.ToString("G3", CultureInfo.InvariantCulture)}; {at})"
            : $"{bad} of {expected.Length} elements differ ({at})";
    }

    private static string Format(Tensor t, int i) => t.ElementType == DataType.Float16
        ? HalfBits.ToSingle(t.As<ushort>()[i]).ToString("R", CultureInfo.InvariantCulture)
        : Convert.ToString(t.Data.GetValue(i), CultureInfo.InvariantCulture) ?? "?";
}
