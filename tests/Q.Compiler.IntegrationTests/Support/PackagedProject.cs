using System.Globalization;
using System.Text;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>
/// A fresh project outside the repository that uses Q.Compiler the way a user does: the package is packed into a
/// local folder feed, and the project has its own nuget.config (that folder and nuget.org), one PackageReference and
/// one QModel line. Its packages go to a folder of its own, because every build of the package has the same version
/// and the user-wide cache would keep the first one. Made once per test class (packing and restoring take a while).
/// </summary>
public sealed class PackagedProject : IDisposable
{
    public const string ClassName = "Mnist";
    public const string Namespace = "Demo";

    public PackagedProject()
    {
        Root = Path.Combine(Path.GetTempPath(), "qcompiler-it-" + Guid.NewGuid().ToString("N")[..8]);
        Feed = Path.Combine(Root, "feed");
        Directory = Path.Combine(Root, "app");
        System.IO.Directory.CreateDirectory(Directory);
        if (!Repository.SharedExists) return; // The tests skip (or fail in CI) on their own.

        Pack = DotNet.Run(Repository.Root,
            $"pack src/Q.Compiler/Q.Compiler.csproj -c {Repository.Configuration} -o \"{Feed}\" -nodeReuse:false", TimeSpan.FromMinutes(10));
        if (!Pack.Succeeded) return;

        ModelPath = Path.Combine(Directory, "models", "mnist-8.onnx");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(ModelPath)!);
        ExternalDataPath = OnnxFiles.WriteWithExternalData(Repository.SharedFile("models/mnist-8/model.onnx"), ModelPath);
        WriteBrokenModels();
        WriteCalibrationSet();
        WritePlantedModel();
        File.WriteAllText(Path.Combine(Directory, "nuget.config"), NuGetConfig(Feed));
        File.WriteAllText(Path.Combine(Directory, "App.csproj"), ProjectFile);
        File.WriteAllText(Path.Combine(Directory, "Program.cs"), ProgramFile);
        Restore = DotNet.Run(Directory, "restore -nodeReuse:false", TimeSpan.FromMinutes(10));
    }

    public string Root { get; }
    public string Feed { get; }
    public string Directory { get; }
    public string ModelPath { get; } = "";
    public string ExternalDataPath { get; } = "";
    public CommandResult? Pack { get; }
    public CommandResult? Restore { get; }

    public string Package => Path.Combine(Feed, "Q.Compiler.0.1.0.nupkg");

    public string IntermediateDirectory => Path.Combine(Directory, "obj", "Debug", "net10.0", "qmodels");
    public string PlanFile => Path.Combine(IntermediateDirectory, ClassName + ".qplan");
    public string DependencyFile => Path.Combine(IntermediateDirectory, ClassName + ".qdep");
    public string StampFile => Path.Combine(IntermediateDirectory, ClassName + ".qstamp");
    public string Program => Path.Combine(Directory, "bin", "Debug", "net10.0", "App.dll");
    public string OutputDirectory => Path.Combine(Directory, "bin", "Debug", "net10.0");

    /// <summary>The digits (of samples/Mnist/data) in the calibration folder calib/: 0..15 stacked in digits.npy, 16 in test_data_set_0/input_0.pb.</summary>
    public static readonly int[] CalibrationDigits = Enumerable.Range(0, 17).ToArray();

    /// <summary>The calibration digit that models/planted.onnx carries in its weights (-p:WithPlantedDigit=true).</summary>
    public const int PlantedDigit = 3;

    /// <summary>Fails the calling test with the pack or restore output if setting up went wrong.</summary>
    public void EnsureReady()
    {
        if (Pack is null) throw new InvalidOperationException(SharedFactAttribute.MissingMessage);
        if (!Pack.Succeeded) throw new InvalidOperationException("packing failed: " + Pack);
        if (Restore is null || !Restore.Succeeded) throw new InvalidOperationException("restoring the test project failed: " + Restore);
    }

    public CommandResult Build(string extra = "") => DotNet.Build(Directory, extra);

    /// <summary>A build that has compiled a model logs its one-line summary, QC4001.</summary>
    public static bool RanQCompile(CommandResult build) => build.Output.Contains("QC4001", StringComparison.Ordinal);

    /// <summary>
    /// Two models only included with -p:WithBrokenModels=true: the first 60% of mnist-8 (a truncated download) and a
    /// text file with an .onnx name.
    /// </summary>
    private void WriteBrokenModels()
    {
        var bytes = File.ReadAllBytes(Repository.SharedFile("models/mnist-8/model.onnx"));
        File.WriteAllBytes(Path.Combine(Directory, "models", "truncated.onnx"), bytes[..(bytes.Length * 6 / 10)]);
        File.WriteAllText(Path.Combine(Directory, "models", "not-a-model.onnx"), "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n");
    }

    /// <summary>calib/ for the int8 model (-p:WithInt8=true): both calibration formats, real digits as mnist-8 takes them.</summary>
    private void WriteCalibrationSet()
    {
        string calib = Path.Combine(Directory, "calib");
        Digits.WriteNpy(Path.Combine(calib, "digits.npy"), CalibrationDigits[..16].SelectMany(Digits.AsFloats).ToArray(), 16, 1, 28, 28);
        Digits.WritePb(Path.Combine(calib, "test_data_set_0", "input_0.pb"), "Input3", Digits.AsFloats(CalibrationDigits[16]), 1, 1, 28, 28);
    }

    /// <summary>
    /// models/planted.onnx: y = x + d, where the constant d is calibration digit <see cref="PlantedDigit"/>. Its weights
    /// carry the digit into the assembly, which the leak search must then find (a check that the search can fail).
    /// </summary>
    private void WritePlantedModel()
    {
        var digit = new global::Onnx.TensorProto { Name = "d", DataType = (int)global::Onnx.TensorProto.Types.DataType.Float };
        digit.Dims.AddRange([1, 1, 28, 28]);
        digit.FloatData.AddRange(Digits.AsFloats(PlantedDigit));
        var graph = new global::Onnx.GraphProto { Name = "planted" };
        graph.Initializer.Add(digit);
        graph.Node.Add(new global::Onnx.NodeProto { OpType = "Add", Name = "add", Input = { "x", "d" }, Output = { "y" } });
        graph.Input.Add(FloatValue("x", 1, 1, 28, 28));
        graph.Output.Add(FloatValue("y", 1, 1, 28, 28));
        var model = new global::Onnx.ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = "", Version = 13 });
        File.WriteAllBytes(Path.Combine(Directory, "models", "planted.onnx"), Google.Protobuf.MessageExtensions.ToByteArray(model));
    }

    private static global::Onnx.ValueInfoProto FloatValue(string name, params long[] dims)
    {
        var shape = new global::Onnx.TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = d });
        return new global::Onnx.ValueInfoProto
        {
            Name = name,
            Type = new global::Onnx.TypeProto { TensorType = new global::Onnx.TypeProto.Types.Tensor { ElemType = (int)global::Onnx.TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static string NuGetConfig(string feed) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <clear />
            <add key="local" value="{feed}" />
            <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
          </packageSources>
        </configuration>
        """;

    private const string ProjectFile = """
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <ImplicitUsings>enable</ImplicitUsings>
            <Nullable>enable</Nullable>
            <RestorePackagesPath>$(MSBuildThisFileDirectory)packages</RestorePackagesPath>
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="Q.Compiler" Version="0.1.0" PrivateAssets="all" />
            <QModel Include="models/mnist-8.onnx" ClassName="Mnist" Namespace="Demo" InputShapes="$(TestInputShapes)" />
          </ItemGroup>
          <ItemGroup>
            <QModel Include="models/mnist-8.onnx" ClassName="MnistInt8" Namespace="Demo" Condition="'$(WithInt8)' == 'true'"
                    Quantize="Int8" Calibration="calib" />
            <QModel Include="models/planted.onnx" ClassName="Planted" Namespace="Demo" Condition="'$(WithPlantedDigit)' == 'true'" />
          </ItemGroup>
          <ItemGroup Condition="'$(WithBrokenModels)' == 'true'">
            <QModel Include="models/truncated.onnx" />
            <QModel Include="models/not-a-model.onnx" />
          </ItemGroup>
        </Project>
        """;

    /// <summary>Reads the 784 input floats from the file named by its argument, runs the model, prints the 10 scores.</summary>
    private const string ProgramFile = """
        using System.Globalization;

        var bytes = File.ReadAllBytes(args[0]);
        var input = new float[Demo.Mnist.Inputs[0].Length];
        Buffer.BlockCopy(bytes, 0, input, 0, bytes.Length);
        var scores = new float[Demo.Mnist.Outputs[0].Length];
        var model = new Demo.Mnist();
        model.Run(input, scores);
        foreach (var s in scores) Console.WriteLine(s.ToString("R", CultureInfo.InvariantCulture));
        """;

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
