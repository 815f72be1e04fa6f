extern alias gen;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Q.Compiler.Pipeline;
using Q.Compiler.Plan;
using Q.Compiler.Tests.Support;
using Xunit;

namespace Q.Compiler.Tests;

/// <summary>
/// Snapshot tests of the generated C#: every change to emitted code shows up as a diff of a committed
/// Snapshots/*.verified.cs file (see <see cref="Snapshot"/> for how to review and accept).
/// Two scrubs keep the snapshots reviewable and stable:
/// the compiler version is replaced by "0.0.0-snapshot" (a version bump is not a code change), and the weights literal is
/// cut to its first 8 code units followed by the byte count and a SHA-256 of the weights (so a weight change still fails).
/// </summary>
public sealed class SnapshotTests
{
    private const string SnapshotVersion = "0.0.0-snapshot";

    /// <summary>
    /// One small ONNX backend node test per op family (folder under onnx-backend/node), with the inputs that become
    /// initializers (filled from test_data_set_0) because the op needs them at build time, as in a real model.
    /// </summary>
    public static TheoryData<string> NodeTests => new()
    {
        "test_conv_with_strides_padding:W", // Conv (weights constant, as in real models)
        "test_maxpool_2d_default",          // Pool: MaxPool
        "test_averagepool_2d_default",      // Pool: AveragePool
        "test_gemm_default_no_bias",        // Gemm
        "test_matmul_2d",                   // Gemm: MatMul
        "test_add_bcast",                   // Elementwise: binary with broadcasting
        "test_relu",                        // Elementwise: unary / activation
        "test_sigmoid",                     // Elementwise: unary / activation
        "test_flatten_axis1",               // Layout: view of a graph input copied to the output
    };

    [SharedFact]
    public void Mnist8()
    {
        var plan = CompilePlan(SharedData.Model("mnist-8/model.onnx"), "models/mnist-8/model.onnx", "Mnist", "Demo");
        var sources = Emit(plan);
        Snapshot.Verify("Mnist8.Model", sources[0].Source);
        Snapshot.Verify("Mnist8.Weights", ScrubWeights(sources[1].Source, plan));
    }

    /// <summary>The int8 build of mnist-8 (calibrated on digits 0–99), as a user reviewing generated int8 code sees it.</summary>
    [SharedFact]
    public void Mnist8Int8()
    {
        using var tmp = new TempDir();
        Quantization.QuantizerFixtures.WriteNpy(Path.Combine(tmp.Path, "digits.npy"), Quantization.QuantizerFixtures.MnistDigits(0, 100));
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = SharedData.Model("mnist-8/model.onnx"), DisplayPath = "models/mnist-8/model.onnx", ClassName = "MnistInt8",
            Namespace = "Demo", Quantize = QuantizeMode.Int8, Calibration = tmp.Path,
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var plan = PlanText.Read(r.PlanText!);
        var sources = Emit(plan);
        Snapshot.Verify("Mnist8Int8.Model", sources[0].Source);
        Snapshot.Verify("Mnist8Int8.Weights", ScrubWeights(sources[1].Source, plan));
    }

    [SharedTheory]
    [MemberData(nameof(NodeTests))]
    public void NodeTest(string spec)
    {
        using var tmp = new TempDir();
        var (test, className, path, _) = PrepareNodeTest(spec, tmp);
        var plan = CompilePlan(path, $"onnx-backend/node/{test}/model.onnx", className, "Snapshots");
        var sources = Emit(plan);
        Assert.Equal(2, sources.Count);
        Snapshot.Verify("Node." + className, sources[0].Source + "\n// ---- " + sources[1].HintName + "\n" + ScrubWeights(sources[1].Source, plan));
    }

    /// <summary>
    /// The snapshotted code is real code: all snapshot models compile together with zero warnings and give the
    /// node tests' expected outputs.
    /// </summary>
    [SharedFact]
    public void SnapshotModelsCompileAndMatchExpectedOutputs()
    {
        using var tmp = new TempDir();
        var plans = new List<(string Test, ModelPlan Plan, int[] Kept)>();
        foreach (string spec in NodeTests)
        {
            var (test, className, path, kept) = PrepareNodeTest(spec, tmp);
            plans.Add((test, CompilePlan(path, $"onnx-backend/node/{test}/model.onnx", className, "Snapshots"), kept));
        }
        var asm = CompiledModels.Compile(plans.Select(p => p.Plan).ToList());
        foreach (var (test, plan, kept) in plans)
        {
            string set = Path.Combine(NodeDir(test), "test_data_set_0");
            var expected = TestData.Outputs(set);
            var inputs = TestData.Inputs(set);
            var actual = asm.Create(plan).Run(kept.Select(i => inputs[i]).ToArray());
            for (int o = 0; o < expected.Length; o++)
            {
                var (maxAbs, _, bad) = TestData.Compare(expected[o], actual[o], 1e-4);
                Assert.True(bad == 0, $"{test} output {o}: {bad} elements differ by more than 1e-4 (max {maxAbs:G3})");
            }
        }
    }

    private static string NodeDir(string test) => Path.Combine(SharedData.Root, "onnx-backend", "node", test);

    /// <summary>
    /// "test_x:A,B" → the model of node test test_x with graph inputs A and B turned into initializers holding
    /// test_data_set_0's values; returns the model path and the indices of the inputs that stay inputs.
    /// </summary>
    private static (string Test, string ClassName, string Path, int[] KeptInputs) PrepareNodeTest(string spec, TempDir tmp)
    {
        var parts = spec.Split(':');
        string test = parts[0];
        string className = Identifiers.Pascal(test.Substring("test_".Length));
        string model = Path.Combine(NodeDir(test), "model.onnx");
        var promote = parts.Length > 1 ? parts[1].Split(',') : Array.Empty<string>();
        var proto = OnnxBuilder.Load(model);
        var inputs = proto.Graph.Input.Select(i => i.Name).ToList();
        if (promote.Length == 0) return (test, className, model, Enumerable.Range(0, inputs.Count).ToArray());

        var files = Directory.GetFiles(Path.Combine(NodeDir(test), "test_data_set_0"), "input_*.pb")
            .OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f).Substring(6), CultureInfo.InvariantCulture)).ToList();
        foreach (var name in promote)
        {
            int i = inputs.IndexOf(name);
            Assert.True(i >= 0, $"{test} has no input {name}");
            var t = global::Onnx.TensorProto.Parser.ParseFrom(File.ReadAllBytes(files[i]));
            t.Name = name;
            proto.Graph.Initializer.Add(t);
            proto.Graph.Input.Remove(proto.Graph.Input.Single(v => v.Name == name));
        }
        string path = OnnxBuilder.Save(proto, Path.Combine(tmp.Path, test));
        return (test, className, path, Enumerable.Range(0, inputs.Count).Where(i => !promote.Contains(inputs[i])).ToArray());
    }

    /// <summary>
    /// The same model and options give byte-identical plan text and C#, also when the second compile runs under
    /// cultures that format numbers differently (a culture-sensitive ToString would show up here).
    /// </summary>
    [SharedTheory]
    [InlineData("mnist-8/model.onnx")]
    [InlineData("mnist-8/layers/5_Convolution110_Output_0/model.onnx")]
    public void CompilationIsDeterministic(string model)
    {
        string path = SharedData.Model(model);
        var first = CompileText(path);
        foreach (var culture in new[] { "de-DE", "tr-TR", "ar-SA" })
        {
            var saved = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
            try
            {
                CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
                var again = CompileText(path);
                Assert.Equal(first.Plan, again.Plan);
                Assert.Equal(first.Sources.Count, again.Sources.Count);
                for (int i = 0; i < first.Sources.Count; i++)
                {
                    Assert.Equal(first.Sources[i].HintName, again.Sources[i].HintName);
                    Assert.True(first.Sources[i].Source == again.Sources[i].Source,
                        $"{first.Sources[i].HintName} differs under {culture}:\n{Snapshot.FirstDifference(first.Sources[i].Source, again.Sources[i].Source)}");
                }
            }
            finally { (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = saved; }
        }
    }

    /// <summary>
    /// Weights above the string-literal limit use the ulong[] form: snapshot its shape (scrubbed), check that the
    /// words decode to the plan's bytes, and that the compiler says so (QC4002).
    /// </summary>
    [Fact]
    public void LargeWeightsUseTheArrayForm()
    {
        int n = gen::Q.Compiler.Generator.ModelEmitter.MaxStringLiteralWeightBytes / 4 + 1001;
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (i % 1000) * 0.25f - 100;
        var g = new global::Onnx.GraphProto { Name = "big" };
        g.Input.Add(OnnxBuilder.Value("x", new object[] { 1L, (long)n }));
        g.Output.Add(OnnxBuilder.Value("y", new object[] { 1L, (long)n }));
        g.Initializer.Add(OnnxBuilder.FloatTensor("c", new long[] { n }, values));
        g.Node.Add(OnnxBuilder.Node("Add", "add", new[] { "x", "c" }, new[] { "y" }));
        using var tmp = new TempDir();
        var r = ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = OnnxBuilder.Save(OnnxBuilder.Model(g), tmp.Path), DisplayPath = "big.onnx", ClassName = "Big", Namespace = "Snapshots",
        });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Contains(r.Diagnostics, d => d.Id == Diagnostics.DiagnosticIds.LargeWeights && d.Severity == Diagnostics.Severity.Info);
        var plan = PlanText.Read(r.PlanText!);
        var weights = Emit(plan)[1].Source;

        var words = Regex.Matches(weights, "0x([0-9a-f]+),").Select(m => ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
        var bytes = new byte[words.Length * 8];
        Buffer.BlockCopy(words, 0, bytes, 0, bytes.Length);
        Assert.True(bytes.Length >= plan.Weights.Length && bytes.Length < plan.Weights.Length + 8);
        Assert.True(bytes.AsSpan(0, plan.Weights.Length).SequenceEqual(plan.Weights), "the ulong words do not decode to the weights");
        Assert.All(bytes.Skip(plan.Weights.Length), b => Assert.Equal(0, b));

        Snapshot.Verify("LargeWeights.Weights", ScrubWeights(weights, plan));
    }

    private static (string Plan, IReadOnlyList<(string HintName, string Source)> Sources) CompileText(string path)
    {
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, ClassName = "Model", Namespace = "Test" });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return (r.PlanText!, gen::Q.Compiler.Generator.ModelEmitter.EmitText(r.PlanText!));
    }

    private static ModelPlan CompilePlan(string path, string displayPath, string className, string ns)
    {
        var r = ModelCompiler.Compile(new CompileOptions { ModelPath = path, DisplayPath = displayPath, ClassName = className, Namespace = ns });
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return PlanText.Read(r.PlanText!);
    }

    private static IReadOnlyList<(string HintName, string Source)> Emit(ModelPlan plan)
    {
        plan.CompilerVersion = SnapshotVersion;
        // Through the text form, as the generator sees it.
        return gen::Q.Compiler.Generator.ModelEmitter.EmitText(PlanText.Write(plan));
    }

    /// <summary>Cuts the weights literal (string or ulong[] form) to a short prefix plus the byte count and a hash of the bytes.</summary>
    internal static string ScrubWeights(string source, ModelPlan plan)
    {
        string hash = Convert.ToHexString(SHA256.HashData(plan.Weights)).ToLowerInvariant().Substring(0, 16);
        string summary = string.Format(CultureInfo.InvariantCulture, "[scrubbed: {0:N0} bytes, sha256 {1}…]", plan.Weights.Length, hash);
        source = Regex.Replace(source, "MemoryMarshal\\.AsBytes\\(\"((?:\\\\u[0-9a-f]{4})*)\"",
            m => "MemoryMarshal.AsBytes(\"" + string.Concat(m.Groups[1].Value.Take(8 * 6)) +
                 (m.Groups[1].Length > 8 * 6 ? summary : "") + "\"");
        source = Regex.Replace(source, "(s_weightWords = new ulong\\[\\]\\n *\\{\\n( *)0x[^\\n]*\\n)(?: *0x[^\\n]*\\n)+",
            m => m.Groups[1].Value + m.Groups[2].Value + "// " + summary + "\n");
        return source;
    }
}
