using Google.Protobuf;
using Onnx;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Pipeline;
using Q.Compiler.Tests.Support;
using Xunit;
using static Q.Compiler.Tests.Support.OnnxBuilder;

namespace Q.Compiler.Tests;

/// <summary>
/// Broken models: each must end in a build error with a precise QC code and the model file, never an internal error
/// (QC9001), an exception out of the compiler, or a hang. Models are built with the protobuf classes; real models from
/// ../shared are the starting point where the damage needs a real file (truncation, bit flips, external data).
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private const string Display = "models/bad.onnx";
    private readonly TempDir _tmp = new();
    private readonly Xunit.Abstractions.ITestOutputHelper _out;

    public BadInputTests(Xunit.Abstractions.ITestOutputHelper output) => _out = output;

    public void Dispose() => _tmp.Dispose();

    // ---- helpers ---------------------------------------------------------------------------------------------------

    /// <summary>Compiles on a worker thread and fails if it takes more than a minute (a hang).</summary>
    private static CompileResult Compile(string path, string? inputShapes = null, string? display = Display)
    {
        var task = Task.Run(() => ModelCompiler.Compile(new CompileOptions
        {
            ModelPath = path, DisplayPath = display, ClassName = "Bad", Namespace = "Test", InputShapes = inputShapes,
        }));
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), $"compiling {path} did not finish within 60 s");
        return task.Result;
    }

    private CompileResult Compile(ModelProto model, string? inputShapes = null) => Compile(Save(model, _tmp.Path, "bad.onnx"), inputShapes);

    /// <summary>Shows the diagnostics in the test output (the examples in docs/diagnostics come from here).</summary>
    private void Log(CompileResult r)
    {
        foreach (var d in r.Diagnostics.Where(d => d.Id != DiagnosticIds.CompileSummary)) _out.WriteLine(d.ToString());
    }

    /// <summary>Asserts the compile failed with exactly one error, of the given id, naming the model file.</summary>
    private Diagnostic AssertError(CompileResult r, string id, string file = Display)
    {
        Log(r);
        var errors = r.Diagnostics.Where(d => d.Severity == Severity.Error).ToList();
        Assert.False(r.Success, "the model compiled: " + string.Join("\n", r.Diagnostics));
        Assert.Null(r.PlanText);
        var e = Assert.Single(errors);
        Assert.True(e.Id == id, $"expected {id}, got: {e}");
        Assert.Equal(file, e.File);
        Assert.StartsWith(file + ": error " + id + ": ", e.ToString());
        return e;
    }

    /// <summary>Any outcome but a crash: success, or errors with a QC code other than QC9001, each naming the file.</summary>
    private static void AssertNoCrash(CompileResult r, string what)
    {
        foreach (var d in r.Diagnostics)
        {
            Assert.True(d.Id != DiagnosticIds.InternalError, $"{what}: internal error: {d}");
            Assert.Matches("^QC[0-9]{4}$", d.Id);
            Assert.Equal(Display, d.File);
        }
        if (!r.Success) Assert.Contains(r.Diagnostics, d => d.Severity == Severity.Error);
    }

    private string WriteBytes(byte[] bytes, string name = "bad.onnx")
    {
        string path = _tmp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Mnist() => File.ReadAllBytes(SharedData.Model("mnist-8/model.onnx"));

    // ---- the file itself -------------------------------------------------------------------------------------------

    [Fact]
    public void MissingModelFile_QC0001()
    {
        var e = AssertError(Compile(_tmp.File("nope.onnx")), DiagnosticIds.ModelNotFound);
        Assert.Contains("nope.onnx", e.Message);
    }

    [Fact]
    public void ModelPathIsAFolder_QC0001()
    {
        var e = AssertError(Compile(_tmp.Path), DiagnosticIds.ModelNotFound);
        Assert.Contains("folder", e.Message);
    }

    [Fact]
    public void FileNameIsTheDefaultDisplayPath()
    {
        var r = Compile(WriteBytes(Array.Empty<byte>(), "empty.onnx"), display: null);
        AssertError(r, DiagnosticIds.MalformedModel, "empty.onnx");
    }

    [Fact]
    public void EmptyFile_QC1001()
    {
        var e = AssertError(Compile(WriteBytes(Array.Empty<byte>())), DiagnosticIds.MalformedModel);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData("hello, this is not a model\n")]
    [InlineData("ir_version: 8\ngraph {\n  node { op_type: \"Relu\" input: \"x\" output: \"y\" }\n}\n")]
    [InlineData("{\"irVersion\": \"8\", \"graph\": {}}")]
    public void TextFile_QC1001(string text)
    {
        var e = AssertError(Compile(WriteBytes(System.Text.Encoding.UTF8.GetBytes(text))), DiagnosticIds.MalformedModel);
        Assert.Contains("text", e.Message);
    }

    [Fact]
    public void GitLfsPointer_QC1001_SaysGitLfsPull()
    {
        const string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 26454\n";
        var e = AssertError(Compile(WriteBytes(System.Text.Encoding.UTF8.GetBytes(pointer))), DiagnosticIds.MalformedModel);
        Assert.Contains("git lfs pull", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(4096)]
    public void RandomBytes_QC1001(int length)
    {
        var rng = new Random(length);
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        var r = Compile(WriteBytes(bytes));
        var e = Assert.Single(r.Diagnostics, d => d.Severity == Severity.Error);
        Assert.True(e.Id is DiagnosticIds.MalformedModel or DiagnosticIds.InvalidModel, e.ToString());
        Assert.Equal(Display, e.File);
    }

    /// <summary>mnist-8 cut at lengths that fall inside a field: the protobuf parser reports the truncation.</summary>
    [SharedTheory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(100)]
    [InlineData(1000)]
    [InlineData(13000)]
    [InlineData(26000)]
    public void TruncatedModel_QC1001(int length)
    {
        var e = AssertError(Compile(WriteBytes(Mnist().AsSpan(0, length).ToArray())), DiagnosticIds.MalformedModel);
        Assert.Contains("truncated", e.Message);
    }

    /// <summary>Cut after the first field (ir_version): a valid protobuf with no graph.</summary>
    [SharedFact]
    public void ModelWithoutGraph_QC1002()
    {
        var bytes = Mnist();
        Assert.Equal(0x08, bytes[0]); // field 1 (ir_version), varint
        AssertError(Compile(WriteBytes(bytes.AsSpan(0, 2).ToArray())), DiagnosticIds.InvalidModel);
    }

    /// <summary>Every cut of mnist-8 (in steps of 61 bytes): an error with a QC code, never a crash or a plan.</summary>
    [SharedFact]
    public void EveryTruncationIsAnError()
    {
        var bytes = Mnist();
        for (int n = 0; n < bytes.Length; n += 61)
        {
            var r = Compile(WriteBytes(bytes.AsSpan(0, n).ToArray()));
            AssertNoCrash(r, $"cut at {n}");
            Assert.False(r.Success, $"mnist-8 cut at {n} of {bytes.Length} bytes compiled");
        }
    }

    /// <summary>Random byte corruption of mnist-8: whatever comes out, the compiler reports it with a QC code.</summary>
    [SharedFact]
    public void CorruptBytesNeverCrashTheCompiler()
    {
        var original = Mnist();
        var rng = new Random(1234);
        for (int i = 0; i < 150; i++)
        {
            var bytes = (byte[])original.Clone();
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
            AssertNoCrash(Compile(WriteBytes(bytes)), $"corruption {i}");
        }
    }

    // ---- declared shapes ---------------------------------------------------------------------------------------------

    [Fact]
    public void DeclaredOutputShapeDisagreesWithInference_QC2004()
    {
        var m = Relu();
        m.Graph.Output[0] = Value("y", new object[] { 1L, 5L });
        var e = AssertError(Compile(m), DiagnosticIds.ShapeMismatch);
        Assert.Contains("'y'", e.Message);
        Assert.Contains("[1,5]", e.Message);
        Assert.Contains("f32[1,4]", e.Message);
    }

    [Fact]
    public void DeclaredOutputTypeDisagreesWithInference_QC2004()
    {
        var m = Relu();
        m.Graph.Output[0] = Value("y", new object[] { 1L, 4L }, TensorProto.Types.DataType.Int64);
        var e = AssertError(Compile(m), DiagnosticIds.ShapeMismatch);
        Assert.Contains("i64", e.Message);
    }

    [Fact]
    public void DeclaredValueInfoDisagreesWithInference_QC2004()
    {
        var g = new GraphProto { Name = "two" };
        g.Input.Add(Value("x", new object[] { 1L, 4L }));
        g.Output.Add(Value("y", new object[] { 1L, 4L }));
        g.Node.Add(Node("Relu", "first", new[] { "x" }, new[] { "h" }));
        g.Node.Add(Node("Relu", "second", new[] { "h" }, new[] { "y" }));
        g.ValueInfo.Add(Value("h", new object[] { 1L, 7L }));
        var e = AssertError(Compile(Model(g)), DiagnosticIds.ShapeMismatch);
        Assert.Equal("first", e.Node);
        Assert.Contains("Relu \"first\"", e.Message);
        Assert.Contains("'h'", e.Message);
    }

    [Fact]
    public void IncompatibleOperandShapes_QC2004()
    {
        var g = new GraphProto { Name = "add" };
        g.Input.Add(Value("a", new object[] { 2L, 3L }));
        g.Input.Add(Value("b", new object[] { 4L }));
        g.Output.Add(Value("y", null));
        g.Node.Add(Node("Add", "add0", new[] { "a", "b" }, new[] { "y" }));
        var e = AssertError(Compile(Model(g)), DiagnosticIds.ShapeMismatch);
        Assert.Equal("add0", e.Node);
    }

    // ---- tensor data -------------------------------------------------------------------------------------------------

    private static ModelProto AddConstant(TensorProto c)
    {
        var g = new GraphProto { Name = "addc" };
        g.Input.Add(Value("x", new object[] { 2L, 3L }));
        g.Output.Add(Value("y", new object[] { 2L, 3L }));
        g.Initializer.Add(c);
        g.Node.Add(Node("Add", "add0", new[] { "x", c.Name }, new[] { "y" }));
        return Model(g);
    }

    [Fact]
    public void RawDataSizeDisagreesWithDims_QC1003()
    {
        var c = FloatTensor("c", new long[] { 2, 3 }, new float[] { 1, 2, 3, 4, 5, 6 });
        c.RawData = ByteString.CopyFrom(c.RawData.Span.Slice(0, 20));
        var e = AssertError(Compile(AddConstant(c)), DiagnosticIds.TensorDataMismatch);
        Assert.Contains("'c'", e.Message);
        Assert.Contains("20 bytes", e.Message);
        Assert.Contains("24", e.Message);
    }

    [Fact]
    public void FloatDataCountDisagreesWithDims_QC1003()
    {
        var c = new TensorProto { Name = "c", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 3 }, FloatData = { 1, 2, 3, 4, 5 } };
        var e = AssertError(Compile(AddConstant(c)), DiagnosticIds.TensorDataMismatch);
        Assert.Contains("5 float_data", e.Message);
    }

    [Fact]
    public void Int64DataCountDisagreesWithDims_QC1003()
    {
        var g = new GraphProto { Name = "reshape" };
        g.Input.Add(Value("x", new object[] { 2L, 3L }));
        g.Output.Add(Value("y", null));
        g.Initializer.Add(new TensorProto { Name = "shape", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 2 }, Int64Data = { 6 } });
        g.Node.Add(Node("Reshape", "r", new[] { "x", "shape" }, new[] { "y" }));
        AssertError(Compile(Model(g)), DiagnosticIds.TensorDataMismatch);
    }

    [Fact]
    public void TensorAttributeWithoutTensor_IsNotAnInternalError()
    {
        var g = new GraphProto { Name = "const" };
        g.Output.Add(Value("y", null));
        var n = Node("Constant", "c0", Array.Empty<string>(), new[] { "y" });
        n.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor });
        g.Node.Add(n);
        var r = Compile(Model(g));
        Assert.False(r.Success);
        AssertNoCrash(r, "tensor attribute without a tensor");
    }

    [Theory]
    [InlineData(14)] // complex64
    [InlineData(16)] // bfloat16
    [InlineData(0)]  // undefined
    public void UnsupportedElementType_QC1006(int type)
    {
        var m = Relu();
        m.Graph.Input[0] = Value("x", new object[] { 1L, 4L }, (TensorProto.Types.DataType)type);
        var e = AssertError(Compile(m), DiagnosticIds.UnsupportedDataType);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void StringInput_QC1006()
    {
        var m = Relu();
        m.Graph.Input[0] = Value("x", new object[] { 1L, 4L }, TensorProto.Types.DataType.String);
        m.Graph.Output[0] = Value("y", null, TensorProto.Types.DataType.String);
        m.Graph.Node[0] = Node("Identity", "id", new[] { "x" }, new[] { "y" });
        AssertError(Compile(m), DiagnosticIds.UnsupportedDataType);
    }

    // ---- absurd sizes ------------------------------------------------------------------------------------------------

    [Fact]
    public void InitializerWith2To40Elements_QC2005()
    {
        var c = new TensorProto { Name = "huge", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1L << 20, 1L << 20 } };
        var e = AssertError(Compile(AddConstant(c)), DiagnosticIds.TensorTooLarge);
        Assert.Contains("'huge'", e.Message);
    }

    [Fact]
    public void InputWith2To40Elements_QC2005()
    {
        var e = AssertError(Compile(Relu(1L << 20, 1L << 20)), DiagnosticIds.TensorTooLarge);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void InputShapesPinningHugeDimensions_QC2005()
    {
        AssertError(Compile(Relu("n", "m"), "x=1048576x1048576"), DiagnosticIds.TensorTooLarge);
    }

    [Fact]
    public void InferredResultWithTooManyElements_QC2005()
    {
        // [65536,1] x [1,65536] = 2^32 elements: each operand is small, the product is not.
        var g = new GraphProto { Name = "outer" };
        g.Input.Add(Value("a", new object[] { 65536L, 1L }));
        g.Input.Add(Value("b", new object[] { 1L, 65536L }));
        g.Output.Add(Value("y", null));
        g.Node.Add(Node("MatMul", "outer", new[] { "a", "b" }, new[] { "y" }));
        var e = AssertError(Compile(Model(g)), DiagnosticIds.TensorTooLarge);
        Assert.Equal("outer", e.Node);
    }

    [Fact]
    public void ScratchBeyondTwoGigabytes_QC2005()
    {
        // 400M floats each: the inputs and outputs are fine as spans, but the intermediate needs 1.6 GB of arena, and
        // two live intermediates 3.2 GB, more than one .NET array can hold.
        var g = new GraphProto { Name = "big" };
        g.Input.Add(Value("x", new object[] { 400_000_000L }));
        g.Output.Add(Value("y", null));
        g.Node.Add(Node("Relu", "r1", new[] { "x" }, new[] { "h1" }));
        g.Node.Add(Node("Sigmoid", "r2", new[] { "x" }, new[] { "h2" }));
        g.Node.Add(Node("Add", "add", new[] { "h1", "h2" }, new[] { "y" }));
        var e = AssertError(Compile(Model(g)), DiagnosticIds.TensorTooLarge);
        Assert.Contains("scratch", e.Message);
    }

    // ---- ops ---------------------------------------------------------------------------------------------------------

    [Fact]
    public void UnknownOpInCustomDomain_QC2001_NamesNodeOpDomainAndOpset()
    {
        var m = Relu();
        m.Graph.Node[0] = Node("FancyActivation", "fancy_7", new[] { "x" }, new[] { "y" }, domain: "com.example");
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 3 });
        var e = AssertError(Compile(m), DiagnosticIds.UnsupportedOp);
        Assert.Equal("fancy_7", e.Node);
        Assert.Contains("\"fancy_7\"", e.Message);
        Assert.Contains("FancyActivation", e.Message);
        Assert.Contains("com.example", e.Message);
        Assert.Contains("opset 3", e.Message);
    }

    [Fact]
    public void UnknownOpInDefaultDomain_QC2001()
    {
        var m = Relu();
        m.Graph.Node[0] = Node("NotARealOp", "n0", new[] { "x" }, new[] { "y" });
        var e = AssertError(Compile(m), DiagnosticIds.UnsupportedOp);
        Assert.Contains("ai.onnx.NotARealOp", e.Message);
        Assert.Contains("opset 13", e.Message);
    }

    // ---- graph structure ---------------------------------------------------------------------------------------------

    [Fact]
    public void Cycle_QC2009()
    {
        var g = new GraphProto { Name = "cycle" };
        g.Input.Add(Value("x", new object[] { 1L, 4L }));
        g.Output.Add(Value("y", null));
        g.Node.Add(Node("Add", "a", new[] { "x", "b_out" }, new[] { "a_out" }));
        g.Node.Add(Node("Relu", "b", new[] { "a_out" }, new[] { "b_out" }));
        g.Node.Add(Node("Relu", "c", new[] { "a_out" }, new[] { "y" }));
        var e = AssertError(Compile(Model(g)), DiagnosticIds.MalformedGraph);
        Assert.Contains("cycle", e.Message);
    }

    [Fact]
    public void UndefinedInput_QC2009()
    {
        var m = Relu();
        m.Graph.Node[0] = Node("Relu", "r", new[] { "nowhere" }, new[] { "y" });
        var e = AssertError(Compile(m), DiagnosticIds.MalformedGraph);
        Assert.Contains("'nowhere'", e.Message);
        Assert.Equal("r", e.Node);
    }

    [Fact]
    public void RequiredInputOmitted_QC2009()
    {
        var m = Relu();
        m.Graph.Node[0] = Node("Relu", "r", new[] { "" }, new[] { "y" });
        var e = AssertError(Compile(m), DiagnosticIds.MalformedGraph);
        Assert.Equal("r", e.Node);
        Assert.Contains("input 0", e.Message);
    }

    [Fact]
    public void ValueProducedTwice_QC2009()
    {
        var m = Relu();
        m.Graph.Node.Add(Node("Sigmoid", "again", new[] { "x" }, new[] { "y" }));
        AssertError(Compile(m), DiagnosticIds.MalformedGraph);
    }

    [Fact]
    public void OutputNeverComputed_QC2009()
    {
        var m = Relu();
        m.Graph.Output.Add(Value("ghost", new object[] { 1L }));
        var e = AssertError(Compile(m), DiagnosticIds.MalformedGraph);
        Assert.Contains("'ghost'", e.Message);
    }

    // ---- input shapes ------------------------------------------------------------------------------------------------

    [Fact]
    public void DynamicDimensionNotPinned_QC2002_SaysHowToPin()
    {
        var e = AssertError(Compile(Relu(1L, "seq", 4L)), DiagnosticIds.DynamicDimension);
        Assert.Contains("'seq'", e.Message);
        Assert.Contains("InputShapes=\"x=1xNx4\"", e.Message);
    }

    [Fact]
    public void InputWithoutShape_QC2002()
    {
        var m = Relu();
        m.Graph.Input[0] = Value("x", null);
        var e = AssertError(Compile(m), DiagnosticIds.DynamicDimension);
        Assert.Contains("InputShapes", e.Message);
    }

    [Fact]
    public void PinnedDynamicDimensionCompiles()
    {
        var r = Compile(Relu(1L, "seq", 4L), "x=1x7x4");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        Assert.Equal("1x7x4", r.Plan!.Inputs[0].Shape);
    }

    [Theory]
    [InlineData("batch")]
    [InlineData("N")]
    [InlineData(null)]
    public void BatchDimensionDefaultsToOne_QC2003Warning(string? batch)
    {
        var r = Compile(Relu(batch, 4L));
        Log(r);
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        var w = Assert.Single(r.Diagnostics, d => d.Severity == Severity.Warning);
        Assert.Equal(DiagnosticIds.BatchDefaulted, w.Id);
        Assert.Equal(Display, w.File);
        Assert.Contains("InputShapes=\"x=1x4\"", w.Message);
        Assert.Equal("1x4", r.Plan!.Inputs[0].Shape);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("=1x4")]
    [InlineData("x=1xax4")]
    [InlineData("x=1x-4")]
    [InlineData("x=1x99999999999")]
    [InlineData("x=1 4")]
    public void MalformedInputShapes_QC0002(string spec)
    {
        var e = AssertError(Compile(Relu("n", 4L), spec), DiagnosticIds.BadMetadata);
        Assert.Contains("InputShapes", e.Message);
    }

    [Fact]
    public void InputShapesNamingNoInput_QC2007()
    {
        var e = AssertError(Compile(Relu(), "z=1x4"), DiagnosticIds.UnknownInput);
        Assert.Contains("'z'", e.Message);
        Assert.Contains("x", e.Message);
    }

    [Theory]
    [InlineData("x=1x4x1")]
    [InlineData("x=2x4")]
    public void InputShapesContradictingTheModel_QC2007(string spec)
    {
        AssertError(Compile(Relu(), spec), DiagnosticIds.UnknownInput);
    }

    // ---- external data -----------------------------------------------------------------------------------------------

    private ModelProto ExternalConstant(string location, long? length = null)
    {
        var c = new TensorProto { Name = "c", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 3 }, DataLocation = TensorProto.Types.DataLocation.External };
        c.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (length is not null) c.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return AddConstant(c);
    }

    [Theory]
    [InlineData("../outside.bin")]
    [InlineData("sub/../../outside.bin")]
    [InlineData("../model-sibling/weights.bin")]
    public void ExternalDataOutsideModelFolder_QC1004(string location)
    {
        // Make the target exist, so the refusal is about the path and not a missing file.
        string modelDir = Path.Combine(_tmp.Path, "model");
        string target = Path.GetFullPath(Path.Combine(modelDir, location));
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.WriteAllBytes(target, new byte[24]);
        var e = AssertError(Compile(Save(ExternalConstant(location), modelDir, "bad.onnx")), DiagnosticIds.ExternalDataOutsideModel);
        Assert.Contains(location, e.Message);
    }

    [Fact]
    public void ExternalDataAbsolutePath_QC1004()
    {
        string target = _tmp.File("abs.bin");
        File.WriteAllBytes(target, new byte[24]);
        var e = AssertError(Compile(ExternalConstant(target)), DiagnosticIds.ExternalDataOutsideModel);
        Assert.Contains("absolute", e.Message);
    }

    [Fact]
    public void ExternalDataFileMissing_QC1005()
    {
        var e = AssertError(Compile(ExternalConstant("weights.bin")), DiagnosticIds.ExternalDataMissing);
        Assert.Contains("weights.bin", e.Message);
    }

    [Fact]
    public void ExternalDataFileTooShort_QC1005()
    {
        File.WriteAllBytes(_tmp.File("weights.bin"), new byte[10]);
        AssertError(Compile(ExternalConstant("weights.bin")), DiagnosticIds.ExternalDataMissing);
    }

    [Fact]
    public void ExternalDataLengthDisagreesWithDims_QC1003()
    {
        File.WriteAllBytes(_tmp.File("weights.bin"), new byte[100]);
        AssertError(Compile(ExternalConstant("weights.bin", length: 20)), DiagnosticIds.TensorDataMismatch);
    }

    /// <summary>mnist-8 with every initializer in one external file beside it compiles and gives the reference outputs.</summary>
    [SharedFact]
    public void ExternalDataBesideTheModelCompilesAndRuns()
    {
        var m = Load(SharedData.Model("mnist-8/model.onnx"));
        string dir = Path.Combine(_tmp.Path, "ext");
        MoveInitializersToExternal(m, dir, "mnist-8.weights");
        Assert.All(m.Graph.Initializer, t => Assert.Equal(TensorProto.Types.DataLocation.External, t.DataLocation));
        string path = Save(m, dir);
        Assert.True(new FileInfo(path).Length < 5000, "the weights should have left the .onnx file");

        var (asm, _) = CompiledModels.CompileModel(path);
        var model = asm.Create();
        foreach (var set in TestData.Sets(SharedData.Model("mnist-8")))
        {
            var expected = TestData.Outputs(set)[0];
            var actual = model.Run(TestData.Inputs(set))[0];
            var (maxAbs, range, _) = TestData.Compare(expected, actual, double.PositiveInfinity);
            Assert.True(maxAbs <= 1e-4 * range, $"{Path.GetFileName(set)}: max abs error {maxAbs} for range {range}");
        }
    }

    // ---- run time ----------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(3, 4, "x", "input")]
    [InlineData(4, 5, "y", "output")]
    public void WrongSpanLengthThrowsArgumentExceptionNamingTensorAndShape(int inLength, int outLength, string tensor, string _)
    {
        var path = Save(Relu(1L, 4L), _tmp.Path, "relu.onnx");
        var (asm, _) = CompiledModels.CompileModel(path);
        var model = asm.Create();
        var ex = Assert.Throws<ArgumentException>(() => model.RunRaw(new Array[] { new float[inLength] }, new Array[] { new float[outLength] }));
        Assert.Equal(tensor, ex.ParamName);
        Assert.Contains($"'{tensor}'", ex.Message);
        Assert.Contains("[1,4]", ex.Message);
        Assert.Contains("4 elements", ex.Message);

        // The right lengths run.
        var y = new float[4];
        model.RunRaw(new Array[] { new float[] { -1, 2, -3, 4 } }, new Array[] { y });
        Assert.Equal(new float[] { 0, 2, 0, 4 }, y);
    }
}
