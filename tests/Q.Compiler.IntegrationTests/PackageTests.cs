using System.Globalization;
using System.IO.Compression;
using Q.Compiler.IntegrationTests.Support;
using Xunit;

namespace Q.Compiler.IntegrationTests;

/// <summary>
/// The package as a user meets it: a project outside the repository with a PackageReference and one QModel line
/// (mnist-8 with its largest weight in an external data file). The tests share that project and run in order of
/// declaration within the class only by accident; each one brings the project into the state it needs.
/// </summary>
public sealed partial class PackageTests : IClassFixture<PackagedProject>
{
    private readonly PackagedProject _project;

    public PackageTests(PackagedProject project)
    {
        _project = project;
    }

    [SharedFact]
    public void PackageHoldsTasksGeneratorAndTargetsButNoLibrary()
    {
        _project.EnsureReady();
        using var zip = ZipFile.OpenRead(_project.Package);
        var files = zip.Entries.Select(e => e.FullName).Where(n => !n.StartsWith("package/", StringComparison.Ordinal) && !n.StartsWith("_rels/", StringComparison.Ordinal)).ToHashSet();

        foreach (var expected in new[]
        {
            "build/Q.Compiler.props", "build/Q.Compiler.targets",
            "tasks/netstandard2.0/Q.Compiler.Tasks.dll", "tasks/netstandard2.0/Q.Compiler.Core.dll", "tasks/netstandard2.0/Google.Protobuf.dll",
            "analyzers/dotnet/cs/Q.Compiler.Generator.dll", "docs/msbuild.md", "docs/diagnostics/QC5002.md",
        })
            Assert.Contains(expected, files);
        Assert.DoesNotContain(files, f => f.StartsWith("lib/", StringComparison.Ordinal) || f.StartsWith("ref/", StringComparison.Ordinal));
        // MSBuild hosts provide these; a second copy in the task folder would be loaded beside the host's.
        Assert.DoesNotContain(files, f => f.StartsWith("tasks/", StringComparison.Ordinal) && (f.Contains("System.", StringComparison.Ordinal) || f.Contains("Microsoft.Build", StringComparison.Ordinal)));

        string nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
        Assert.Contains("<developmentDependency>true</developmentDependency>", nuspec);
        Assert.DoesNotContain("<dependency ", nuspec);
    }

    [SharedFact]
    public void ProjectOutsideTheRepositoryBuildsAndRunsTheModel()
    {
        _project.EnsureReady();
        var build = _project.Build();
        Assert.True(build.Succeeded, build.ToString());
        Assert.True(File.Exists(_project.PlanFile), "no plan at " + _project.PlanFile + "\n" + build);

        // The shipped test digit, through the generated code, against the model's reference output.
        string set = Path.Combine(Repository.Shared, "models", "mnist-8", "test_data_set_0");
        float[] input = OnnxFiles.ReadFloats(Path.Combine(set, "input_0.pb"));
        float[] expected = OnnxFiles.ReadFloats(Path.Combine(set, "output_0.pb"));
        string inputFile = Path.Combine(_project.Root, "input_0.bin");
        var bytes = new byte[input.Length * 4];
        Buffer.BlockCopy(input, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(inputFile, bytes);

        var run = DotNet.Run(_project.Directory, $"\"{_project.Program}\" \"{inputFile}\"");
        Assert.True(run.Succeeded, run.ToString());
        float[] actual = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        double range = expected.Max() - expected.Min();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * range, $"score {i}: expected {expected[i]}, got {actual[i]} (range {range})");
    }

    [SharedFact]
    public void SecondBuildDoesNotCompileAgainButTouchingModelDataOrMetadataDoes()
    {
        _project.EnsureReady();
        var first = _project.Build();
        Assert.True(first.Succeeded, first.ToString());
        DateTime planTime = File.GetLastWriteTimeUtc(_project.PlanFile);

        // Nothing changed: the batched up-to-date check skips the compiler.
        var second = _project.Build();
        Assert.True(second.Succeeded, second.ToString());
        Assert.False(PackagedProject.RanQCompile(second), "QCompile ran in a build where nothing changed:\n" + second);
        Assert.Contains("Skipping target \"_QCompile_GatherStale\" because all output files are up-to-date", second.Output);

        // The dependency file names the external data, so that it is an input of the next builds.
        Assert.Contains(Path.GetFullPath(_project.ExternalDataPath), File.ReadAllLines(_project.DependencyFile));

        // Touching the model compiles it again; the plan's text is the same, so the file (and the C# compile) stay put.
        Touch(_project.ModelPath);
        var touched = _project.Build();
        Assert.True(touched.Succeeded, touched.ToString());
        Assert.True(PackagedProject.RanQCompile(touched), "touching the model did not rerun QCompile:\n" + touched);
        Assert.Contains("plan unchanged", touched.Output);
        Assert.Equal(planTime, File.GetLastWriteTimeUtc(_project.PlanFile));
        var settled = _project.Build();
        Assert.False(PackagedProject.RanQCompile(settled), "QCompile ran again after a touched model was compiled:\n" + settled);

        // Touching the external data file does too.
        Touch(_project.ExternalDataPath);
        var dataTouched = _project.Build();
        Assert.True(dataTouched.Succeeded, dataTouched.ToString());
        Assert.True(PackagedProject.RanQCompile(dataTouched), "touching the external data did not rerun QCompile:\n" + dataTouched);

        // So does a change of the item's metadata (here InputShapes, pinned to the shape the model already has).
        var pinned = _project.Build("-p:TestInputShapes=Input3=1x1x28x28");
        Assert.True(pinned.Succeeded, pinned.ToString());
        Assert.True(PackagedProject.RanQCompile(pinned), "changing InputShapes did not rerun QCompile:\n" + pinned);
        Assert.Contains("InputShapes=Input3=1x1x28x28", File.ReadAllText(_project.StampFile));
        var pinnedAgain = _project.Build("-p:TestInputShapes=Input3=1x1x28x28");
        Assert.False(PackagedProject.RanQCompile(pinnedAgain), "QCompile ran again with unchanged metadata:\n" + pinnedAgain);
        var unpinned = _project.Build();
        Assert.True(PackagedProject.RanQCompile(unpinned), "removing InputShapes did not rerun QCompile:\n" + unpinned);
    }

    [SharedFact]
    public void CleanRemovesWhatTheCompilerWrote()
    {
        _project.EnsureReady();
        var build = _project.Build();
        Assert.True(build.Succeeded, build.ToString());
        Assert.True(File.Exists(_project.PlanFile) && File.Exists(_project.DependencyFile) && File.Exists(_project.StampFile));

        var clean = DotNet.Run(_project.Directory, "clean -nodeReuse:false -v:n");
        Assert.True(clean.Succeeded, clean.ToString());
        Assert.False(File.Exists(_project.PlanFile), "clean left the plan:\n" + clean);
        Assert.False(File.Exists(_project.DependencyFile), "clean left the dependency file:\n" + clean);
        Assert.False(File.Exists(_project.StampFile), "clean left the metadata stamp:\n" + clean);

        // And the next build starts over.
        var rebuild = _project.Build();
        Assert.True(rebuild.Succeeded, rebuild.ToString());
        Assert.True(PackagedProject.RanQCompile(rebuild), rebuild.ToString());
    }

    [SharedFact]
    public void BrokenModelsFailTheBuildWithACodeAndTheFileNotACrash()
    {
        _project.EnsureReady();
        var build = _project.Build("-p:WithBrokenModels=true");
        Assert.False(build.Succeeded, "a build with broken models succeeded:\n" + build);

        foreach (var name in new[] { "truncated.onnx", "not-a-model.onnx" })
        {
            var line = build.Output.Split('\n').FirstOrDefault(l => l.Contains(name, StringComparison.Ordinal) && l.Contains(": error QC1", StringComparison.Ordinal));
            Assert.True(line is not null, $"no QC1xxx error naming {name}:\n{build}");
        }
        // A task that throws shows up as MSB4018/MSB4181, an internal error as QC9001: neither may happen here.
        Assert.DoesNotContain("MSB4018", build.Output);
        Assert.DoesNotContain("MSB4181", build.Output);
        Assert.DoesNotContain("QC9001", build.Output);
    }

    [SharedFact]
    public void NativeAotWithoutInstructionSetWarnsWithQC5002()
    {
        _project.EnsureReady();
        // Only the public target: evaluation with PublishAot=true needs no restore of the NativeAOT compiler for this.
        var warned = DotNet.Run(_project.Directory, "msbuild -t:QCompileModels -p:PublishAot=true -p:RuntimeIdentifier=linux-x64 -nodeReuse:false -v:m");
        Assert.True(warned.Succeeded, warned.ToString());
        Assert.Contains("warning QC5002", warned.Output);
        Assert.Contains("IlcInstructionSet", warned.Output);

        var quiet = DotNet.Run(_project.Directory, "msbuild -t:QCompileModels -p:PublishAot=true -p:RuntimeIdentifier=linux-x64 -p:IlcInstructionSet=x86-64-v3 -nodeReuse:false -v:m");
        Assert.True(quiet.Succeeded, quiet.ToString());
        Assert.DoesNotContain("QC5002", quiet.Output);
    }

    private static void Touch(string path)
    {
        // Later than anything the last build wrote (a build takes seconds; timestamps resolve far finer).
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
    }
}
