using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Q.Compiler.Ir;
using Q.Compiler.IntegrationTests.Support;
using Q.Compiler.Quantization;
using Q.Compiler.Tasks;
using Xunit;

namespace Q.Compiler.IntegrationTests.Tasks;

/// <summary>The quantization metadata of QModel items: parsing, errors, stamps, calibration files as build inputs, reports.</summary>
public sealed partial class TaskTests
{
    private TaskItem QuantizedItem(params (string Name, string Value)[] metadata)
    {
        var item = Item(_model, "Mnist", "Demo");
        foreach (var (name, value) in metadata) item.SetMetadata(name, value);
        return item;
    }

    /// <summary>A calibration folder of real digits: a stacked .npy at the top, a test_data_set_* of .pb, and files that are not inputs.</summary>
    private string WriteCalibrationFolder(string relative = "calib")
    {
        string folder = Path.Combine(_dir, relative);
        var stack = Enumerable.Range(0, 4).SelectMany(Digits.AsFloats).ToArray();
        Digits.WriteNpy(Path.Combine(folder, "digits.npy"), stack, 4, 1, 28, 28);
        Digits.WritePb(Path.Combine(folder, "test_data_set_0", "input_0.pb"), "Input3", Digits.AsFloats(4), 1, 1, 28, 28);
        Digits.WritePb(Path.Combine(folder, "test_data_set_0", "output_0.pb"), "Plus214_Output_0", new float[10], 1, 10);
        File.WriteAllText(Path.Combine(folder, "README.txt"), "not an input");
        return folder;
    }

    [Theory]
    [InlineData("Quantize", "int4", "None (float32), Int8")]
    [InlineData("Quantize", "1", "None (float32), Int8")]
    [InlineData("CalibrationMethod", "KL", "Mse (the default), MinMax, Percentile")]
    [InlineData("CalibrationPercentile", "abc", "is not a number")]
    [InlineData("CalibrationPercentile", "99,9", "is not a number")]
    [InlineData("CalibrationPercentile", "0.999", "write 99.9")]
    [InlineData("CalibrationPercentile", "100.5", "between 50 and 100")]
    [InlineData("CalibrationPercentile", "NaN", "is not a number")]
    [InlineData("MinLayerSqnrDb", "-3", "between 0")]
    [InlineData("MinLayerSqnrDb", "20dB", "is not a number")]
    [InlineData("QuantizedIO", "yes", "is not true or false")]
    [InlineData("PairSafeWeights", "1", "is not auto, true, false or quad")]
    [InlineData("PairSafeWeights", "automatic", "is not auto, true, false or quad")]
    [InlineData("MinOutputSqnrDb", "-1", "between 0")]
    [InlineData("MinOutputSqnrDb", "30 dB", "is not a number")]
    public void MalformedQuantizationMetadataIsQC3015NamingTheValue(string name, string value, string hint)
    {
        var extra = name == "CalibrationPercentile" ? new[] { (name, value), ("Quantize", "Int8"), ("CalibrationMethod", "Percentile") } : new[] { (name, value), ("Quantize", name == "Quantize" ? value : "Int8") };
        var (task, engine, ok) = Prepare(QuantizedItem(extra));
        Assert.False(ok);
        var error = Assert.Single(engine.Errors);
        Assert.Equal("QC3015", error.Code);
        Assert.Equal(_model, error.File);
        Assert.Equal("https://example.org/diagnostics/QC3015.md", error.HelpLink);
        Assert.StartsWith($"{name} '{value}' ", error.Message);
        Assert.Contains(hint, error.Message);
        Assert.Empty(task.CompileModels);
    }

    [Theory]
    [InlineData("None", "Calibration", "calib", "Calibration has no effect with Quantize=\"None\"")]
    [InlineData("", "CalibrationMethod", "MinMax", "CalibrationMethod has no effect with Quantize=\"None\"")]
    [InlineData("Dynamic", "MinLayerSqnrDb", "30", "MinLayerSqnrDb has no effect with Quantize=\"Dynamic\"")]
    [InlineData("Dynamic", "QuantizedIO", "true", "QuantizedIO has no effect with Quantize=\"Dynamic\"")]
    [InlineData("None", "PairSafeWeights", "true", "PairSafeWeights has no effect with Quantize=\"None\"")]
    [InlineData("Dynamic", "MinOutputSqnrDb", "30", "MinOutputSqnrDb has no effect with Quantize=\"Dynamic\"")]
    [InlineData("Dynamic", "PairSafeWeights", "auto", "PairSafeWeights has no effect with Quantize=\"Dynamic\"")]
    [InlineData("None", "KeepFloat", "Conv_0", "KeepFloat has no effect")]
    [InlineData("Int8", "CalibrationPercentile", "99.9", "CalibrationPercentile has no effect with CalibrationMethod=\"Mse\"")]
    public void MetadataTheModeDoesNotUseIsAQC3016Warning(string quantize, string name, string value, string message)
    {
        var (task, engine, ok) = Prepare(QuantizedItem(("Quantize", quantize), (name, value)));
        Assert.True(ok);
        var warning = Assert.Single(engine.Warnings);
        Assert.Equal("QC3016", warning.Code);
        Assert.Equal(_model, warning.File);
        Assert.Contains(message, warning.Message);
        Assert.Single(task.CompileModels);
    }

    /// <summary>
    /// PairSafeWeights takes auto (the default), true, false or quad in any case; the stamp and QCompile's item carry the
    /// canonical word, and the compiler's options the matching mode. "false" outside Int8 asks for nothing, so no QC3016.
    /// </summary>
    [Theory]
    [InlineData(null, "auto", PairSafeWeightsMode.Auto)]
    [InlineData(" Auto ", "auto", PairSafeWeightsMode.Auto)]
    [InlineData("TRUE", "true", PairSafeWeightsMode.Always)]
    [InlineData("false", "false", PairSafeWeightsMode.Never)]
    [InlineData("Quad", "quad", PairSafeWeightsMode.Quad)]
    public void PairSafeWeightsIsAutoTrueFalseOrQuad(string? value, string normalized, PairSafeWeightsMode mode)
    {
        var item = value is null ? QuantizedItem(("Quantize", "Int8")) : QuantizedItem(("Quantize", "Int8"), ("PairSafeWeights", value));
        var (task, engine, ok) = Prepare(item);
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Message)));
        Assert.Empty(engine.Warnings);
        var model = Assert.Single(task.CompileModels);
        Assert.Equal(normalized, model.GetMetadata("PairSafeWeights"));
        Assert.Contains("PairSafeWeights=" + normalized + "\n", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
        // QCompile parses the normalized item again and hands the mode to the compiler.
        var options = new Q.Compiler.Pipeline.CompileOptions();
        QuantizationMetadata.Parse(model, _dir, new List<Q.Compiler.Diagnostics.Diagnostic>(), warnUnused: false).ApplyTo(options);
        Assert.Equal(mode, options.PairSafeWeights);

        var (_, floatEngine, floatOk) = Prepare(QuantizedItem(("Quantize", "None"), ("PairSafeWeights", "false")));
        Assert.True(floatOk);
        Assert.Empty(floatEngine.Warnings);
    }

    [Fact]
    public void QuantizationMetadataIsNormalizedAndCalibrationIsRelativeToTheProject()
    {
        var (task, engine, ok) = Prepare(QuantizedItem(("Quantize", "int8"), ("Calibration", "data/calib/"), ("CalibrationMethod", "percentile"),
            ("CalibrationPercentile", " 99.99 "), ("KeepFloat", " Conv_0 ; ;Gemm_1;Conv_0"), ("MinLayerSqnrDb", "1.5e1"), ("QuantizedIO", "TRUE"), ("MinOutputSqnrDb", " 27.50 ")));
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Message)));
        Assert.Empty(engine.Warnings);
        var model = Assert.Single(task.CompileModels);
        Assert.Equal("Int8", model.GetMetadata("Quantize"));
        Assert.Equal(Path.Combine(_dir, "data", "calib"), model.GetMetadata("Calibration"));
        Assert.Equal("Percentile", model.GetMetadata("CalibrationMethod"));
        Assert.Equal("99.99", model.GetMetadata("CalibrationPercentile"));
        Assert.Equal("Conv_0;Gemm_1", model.GetMetadata("KeepFloat"));
        Assert.Equal("15", model.GetMetadata("MinLayerSqnrDb"));
        Assert.Equal("true", model.GetMetadata("QuantizedIO"));
        Assert.Equal("27.5", model.GetMetadata("MinOutputSqnrDb"));

        string stamp = File.ReadAllText(Path.Combine(_out, "Mnist.qstamp"));
        Assert.Contains("Quantize=Int8\n", stamp);
        Assert.Contains("KeepFloat=Conv_0;Gemm_1\n", stamp);

        // A float item's stamp says so too, with the defaults: switching to Int8 later changes it.
        var (floatTask, _, _) = Prepare(Item(_model, "Mnist", "Demo"));
        Assert.Equal("None", Assert.Single(floatTask.CompileModels).GetMetadata("Quantize"));
        Assert.Contains("Quantize=None\n", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
        Assert.Contains("CalibrationMethod=Mse\n", File.ReadAllText(Path.Combine(_out, "Mnist.qstamp")));
    }

    [Fact]
    public void CalibrationFilesAreInputsOfTheUpToDateCheckAndTheirListIsInTheStamp()
    {
        string folder = WriteCalibrationFolder();
        var item = QuantizedItem(("Quantize", "Int8"), ("Calibration", "calib"));
        var (task, _, ok) = Prepare(item);
        Assert.True(ok);
        string npy = Path.Combine(folder, "digits.npy"), pb = Path.Combine(folder, "test_data_set_0", "input_0.pb");
        var deps = task.Dependencies.Select(d => d.ItemSpec).ToList();
        Assert.Contains(npy, deps);
        Assert.Contains(pb, deps);
        Assert.DoesNotContain(deps, d => d.Contains("output_0", StringComparison.Ordinal) || d.EndsWith(".txt", StringComparison.Ordinal));
        Assert.All(task.Dependencies, d => Assert.Equal(Path.Combine(_out, "Mnist.qstamp"), d.GetMetadata("Source")));

        // Adding a file (even one with an old timestamp) or removing one rewrites the stamp, so the model compiles again.
        string stamp = Path.Combine(_out, "Mnist.qstamp");
        var old = DateTime.UtcNow.AddMinutes(-5);
        File.SetLastWriteTimeUtc(stamp, old);
        Prepare(item);
        Assert.Equal(old, File.GetLastWriteTimeUtc(stamp));
        string added = Path.Combine(folder, "more.npy");
        File.Copy(npy, added);
        File.SetLastWriteTimeUtc(added, old.AddDays(-1));
        Prepare(item);
        Assert.NotEqual(old, File.GetLastWriteTimeUtc(stamp));
        Assert.Contains("CalibrationFile=" + added + " ", File.ReadAllText(stamp));
        File.SetLastWriteTimeUtc(stamp, old);
        File.Delete(added);
        Prepare(item);
        Assert.NotEqual(old, File.GetLastWriteTimeUtc(stamp));

        // A float build does not read the folder, so it does not depend on it.
        var (floatTask, _, _) = Prepare(QuantizedItem(("Quantize", "None")));
        Assert.DoesNotContain(floatTask.Dependencies, d => d.ItemSpec.StartsWith(folder, StringComparison.Ordinal));
    }

    [Fact]
    public void OneModelListedTwiceIsTwoBuildsWithTheirOwnInputs()
    {
        WriteCalibrationFolder();
        var (task, engine, ok) = Prepare(Item(_model, "Mnist", "Demo"), QuantizedItem(("Quantize", "Int8"), ("Calibration", "calib"), ("ClassName", "MnistInt8")));
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Message)));
        Assert.Equal(new[] { Path.Combine(_out, "Mnist.qstamp"), Path.Combine(_out, "MnistInt8.qstamp") }, task.CompileModels.Select(m => m.GetMetadata("Source")));
        // The calibration files are inputs of the int8 build only: changing them does not recompile the float one.
        Assert.All(task.Dependencies.Where(d => d.ItemSpec.EndsWith(".npy", StringComparison.Ordinal)), d => Assert.Equal(Path.Combine(_out, "MnistInt8.qstamp"), d.GetMetadata("Source")));
        Assert.Equal(2, task.ExpectedOutputs.Select(o => o.GetMetadata("Source")).Distinct().Count());
    }

    [Fact]
    public void TheTaskFindsTheSameCalibrationFilesAsTheCompiler()
    {
        string folder = WriteCalibrationFolder();
        Digits.WritePb(Path.Combine(folder, "test_data_set_1", "input_0.pb"), "Input3", Digits.AsFloats(5), 1, 1, 28, 28);
        Digits.WritePb(Path.Combine(folder, "Input3.pb"), "Input3", Digits.AsFloats(6), 1, 1, 28, 28);
        var inputs = new[] { new ValueInfo("Input3", new TensorType(DataType.Float, new Shape(1, 1, 28, 28))) };
        var set = CalibrationDataSet.Open(folder, inputs);
        Assert.Equal(7, set.Count);
        Assert.Equal(set.Files.OrderBy(f => f, StringComparer.Ordinal), CalibrationFiles.List(folder));
    }

    [Fact]
    public void DependencyFileListsTheCalibrationFilesTheCompileRead()
    {
        string folder = WriteCalibrationFolder();
        var (prepared, _, _) = Prepare(QuantizedItem(("Quantize", "Int8"), ("Calibration", "calib")));
        var (_, engine, ok) = Compile(prepared.CompileModels);
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Code + " " + e.Message)));
        var listed = QPrepareModels.ReadDependencyFile(Path.Combine(_out, "Mnist.qdep")).ToList();
        Assert.Contains(Path.Combine(folder, "digits.npy"), listed);
        Assert.Contains(Path.Combine(folder, "test_data_set_0", "input_0.pb"), listed);
    }

    [Fact]
    public void QCompileAloneRefusesMalformedMetadataAndDropsTheDependencyFile()
    {
        var (prepared, _, _) = Prepare(Item(_model, "Mnist", "Demo"));
        Compile(prepared.CompileModels);
        Assert.True(File.Exists(Path.Combine(_out, "Mnist.qdep")));
        var item = new TaskItem(prepared.CompileModels[0]);
        item.SetMetadata("Quantize", "Int16");
        var (_, engine, ok) = Compile([item]);
        Assert.False(ok);
        Assert.Equal("QC3015", Assert.Single(engine.Errors).Code);
        Assert.False(File.Exists(Path.Combine(_out, "Mnist.qdep")));
    }

    [Fact]
    public void AReportIsWrittenBesideThePlanWithOneSummaryLineAndRemovedByAFloatBuild()
    {
        var report = new QuantizationReport { Model = "models/mnist-8.onnx", Mode = "Int8", Calibration = "Entropy, 5 samples", FloatWeightBytes = 23_976, WeightBytes = 6_200, ScratchBytes = 9_000 };
        report.OutputSqnrDb["Plus214_Output_0"] = 31.25;
        report.Layers.Add(new LayerQuantization { Name = "Convolution28", OpType = "QLinearConv", Scheme = "u8 × s8 per-channel → u8", Quantized = true, InputScale = 1, InputZeroPoint = 0, OutputScale = 0.05, OutputZeroPoint = 0, SqnrDb = 40.5 });
        report.Layers.Add(new LayerQuantization { Name = "Times212", OpType = "Gemm", Scheme = "float32", KeptFloatReason = "KeepFloat" });
        string plan = Path.Combine(_out, "Mnist.qplan");
        var engine = new RecordingBuildEngine();
        var task = new QCompile { BuildEngine = engine, SummaryImportance = "high" };

        task.PublishReport(plan, report, _model);
        string md = Path.Combine(_out, "Mnist.qreport.md"), json = Path.Combine(_out, "Mnist.qreport.json");
        Assert.Equal(report.ToMarkdown(), File.ReadAllText(md));
        Assert.Equal(report.ToJson(), File.ReadAllText(json));
        var summary = Assert.Single(engine.Messages);
        Assert.Equal("QC3017", summary.Code);
        Assert.Equal(MessageImportance.High, summary.Importance);
        Assert.Equal(_model, summary.File);
        Assert.StartsWith(report.SummaryLine, summary.Message);
        Assert.Contains(md, summary.Message);

        // Same report again: the files keep their timestamps.
        var old = DateTime.UtcNow.AddMinutes(-5);
        File.SetLastWriteTimeUtc(md, old);
        task.PublishReport(plan, report, _model);
        Assert.Equal(old, File.GetLastWriteTimeUtc(md));

        // A float build of the same class leaves no stale report behind.
        task.PublishReport(plan, null, _model);
        Assert.False(File.Exists(md));
        Assert.False(File.Exists(json));
        Assert.Equal(2, engine.Messages.Count(m => m.Code == "QC3017")); // one per quantized compile, none for the float one
    }

    [Fact]
    public void Int8CompileWritesTheReportAndLogsItsSummary()
    {
        WriteCalibrationFolder();
        var (prepared, _, _) = Prepare(QuantizedItem(("Quantize", "Int8"), ("Calibration", "calib")));
        var (_, engine, ok) = Compile(prepared.CompileModels);
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Code + " " + e.Message)));
        Assert.True(File.Exists(Path.Combine(_out, "Mnist.qreport.md")));
        Assert.Contains("\"mode\": \"Int8\"", File.ReadAllText(Path.Combine(_out, "Mnist.qreport.json")));
        var summary = Assert.Single(engine.Messages, m => m.Code == "QC3017");
        Assert.Equal(MessageImportance.High, summary.Importance);
    }

    [Fact]
    public void DynamicCompileNeedsNoCalibrationAndWritesTheReport()
    {
        var (prepared, prepareEngine, preparedOk) = Prepare(QuantizedItem(("Quantize", "Dynamic")));
        Assert.True(preparedOk, string.Join("\n", prepareEngine.Errors.Select(e => e.Code + " " + e.Message)));
        Assert.Empty(prepareEngine.Warnings);
        var (_, engine, ok) = Compile(prepared.CompileModels);
        Assert.True(ok, string.Join("\n", engine.Errors.Select(e => e.Code + " " + e.Message)));
        string json = File.ReadAllText(Path.Combine(_out, "Mnist.qreport.json"));
        Assert.Contains("\"mode\": \"Dynamic\"", json);
        Assert.Contains("\"calibration\": null", json);
        Assert.Contains("MatMulInteger", json);
        var summary = Assert.Single(engine.Messages, m => m.Code == "QC3017");
        Assert.Contains("Dynamic, 2/3 layers int8", summary.Message);
        Assert.Contains("precision=int8-dynamic", File.ReadAllText(Directory.GetFiles(_out, "*.qplan").Single()));
    }
}
