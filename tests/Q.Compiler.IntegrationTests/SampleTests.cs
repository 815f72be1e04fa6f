using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Q.Compiler.IntegrationTests.Support;
using Xunit;

namespace Q.Compiler.IntegrationTests;

/// <summary>
/// samples/Mnist, built in the repository with the same props/targets as the package (task and generator from the
/// projects): it must score the 10,000 digits it carries like the reference, allocate nothing per inference, and publish
/// with NativeAOT into a binary that needs only the C runtime. The sample carries its own data, so these tests do not
/// need ../shared.
/// </summary>
public sealed class SampleTests
{
    /// <summary>
    /// ONNX Runtime 1.31.1 (CPU, 1 or 2 threads, optimizations on or off) and an evaluation of mnist-8 in float64 both
    /// classify 9,933 of these 10,000 digits correctly; the one near miss (digit 822, a "2" scored 0.18 below "1" at
    /// about 3,094) is the same in all of them.
    /// </summary>
    private const string ReferenceAccuracy = "accuracy: 99.33%";

    private static string SampleDirectory => Path.Combine(Repository.Root, "samples", "Mnist");

    [Fact]
    public void SampleScoresTheDigitsLikeTheReferenceWithoutAllocating()
    {
        // A rebuild: the README has users run the sample before the tests, and an up-to-date build skips the compiler
        // (and its QC3017 summary line, checked below).
        var build = DotNet.Run(SampleDirectory, $"build -c {Repository.Configuration} --no-incremental -nodeReuse:false");
        Assert.True(build.Succeeded, build.ToString());

        // Started from elsewhere: the program finds its data beside itself.
        string program = Path.Combine(SampleDirectory, "bin", Repository.Configuration, "net10.0", "Mnist.dll");
        var run = DotNet.Run(Path.GetTempPath(), $"\"{program}\"");
        Assert.True(run.Succeeded, run.ToString());
        Assert.Contains(ReferenceAccuracy, run.Output);
        // The whole line on failure: how much, and over how many runs (one clean-clone run on 2026-11-23 saw a nonzero
        // figure once that six reruns did not reproduce).
        string? allocated = run.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("allocated:", StringComparison.Ordinal));
        Assert.True(allocated?.StartsWith("allocated: 0 bytes per inference", StringComparison.Ordinal) == true, "float build: " + allocated + "\n" + run.Output);
        Assert.Matches(new Regex(@"latency: \d+(\.\d)? µs per inference"), run.Output);

        // The int8 build (calibrated at build time on the first 1,000 digits) against the float build on the other 9,000:
        // the acceptance figures of issue 3, no allocation, and a quantization report beside the plan.
        Assert.Contains("QC3017", build.Output);
        string qmodels = Path.Combine(SampleDirectory, "obj", Repository.Configuration, "net10.0", "qmodels");
        Assert.True(File.Exists(Path.Combine(qmodels, "MnistInt8.qreport.md")), "no report in " + qmodels);
        Assert.False(File.Exists(Path.Combine(qmodels, "Mnist.qreport.md")), "the float build has a quantization report");
        AssertInt8Comparison(run.Output);
    }

    /// <summary>The slow one (a NativeAOT publish takes a minute or two), but part of the suite: it is the product's promise.</summary>
    [LinuxX64Fact]
    [Trait("Category", "Slow")]
    public void NativeAotBinaryNeedsOnlyTheCRuntimeAndScoresTheSame()
    {
        var publish = DotNet.Run(SampleDirectory, "publish -c Release -r linux-x64 -p:PublishAot=true -nodeReuse:false", TimeSpan.FromMinutes(15));
        Assert.True(publish.Succeeded, publish.ToString());
        Assert.DoesNotContain("QC5002", publish.Output); // The sample sets IlcInstructionSet.
        string binary = Path.Combine(SampleDirectory, "bin", "Release", "net10.0", "linux-x64", "publish", "Mnist");
        Assert.True(File.Exists(binary), "no binary at " + binary + "\n" + publish);

        var ldd = DotNet.Exec("ldd", $"\"{binary}\"", SampleDirectory, TimeSpan.FromMinutes(1));
        Assert.True(ldd.Succeeded, ldd.ToString());
        var libraries = ldd.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => Path.GetFileName(line.Split(' ')[0])).ToList();
        Assert.Contains(libraries, l => l.StartsWith("libc.so", StringComparison.Ordinal));
        var others = libraries.Where(l => !IsCRuntime(l)).ToList();
        Assert.True(others.Count == 0, "the NativeAOT binary needs more than the C runtime: " + string.Join(", ", others) + "\n" + ldd.Output);

        // The binary alone, run from the sample's folder, finds data/ there.
        string alone = Path.Combine(Path.GetTempPath(), "qcompiler-aot-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(alone);
        try
        {
            string copy = Path.Combine(alone, "Mnist");
            File.Copy(binary, copy);
            if (OperatingSystem.IsLinux()) File.SetUnixFileMode(copy, File.GetUnixFileMode(binary));
            var run = DotNet.Exec(copy, "", SampleDirectory, TimeSpan.FromMinutes(5));
            Assert.True(run.Succeeded, run.ToString());
            Assert.Contains(ReferenceAccuracy, run.Output);
            Assert.Contains("allocated: 0 bytes per inference", run.Output);
            AssertInt8Comparison(run.Output);
        }
        finally
        {
            Directory.Delete(alone, recursive: true);
        }
    }

    /// <summary>Checks the sample's comparison lines (Program.cs, MNIST_INT8) against the acceptance figures of issue 3.</summary>
    internal static void AssertInt8Comparison(string output)
    {
        var model = Regex.Match(output, @"int8 model: Demo\.MnistInt8, .*\(([\d.]+)% of float32\)");
        Assert.True(model.Success, "no int8 model line:\n" + output);
        Assert.True(Number(model.Groups[1].Value) <= 27.0, "int8 weights are not at most 27% of the float build's:\n" + output);
        var line = new Regex(@"^(float32|int8): accuracy ([\d.]+)% \([\d,]+\), latency [\d.]+ µs, allocated ([\d.]+) bytes per inference", RegexOptions.Multiline);
        var rows = line.Matches(output).ToDictionary(m => m.Groups[1].Value, m => (Accuracy: Number(m.Groups[2].Value), Allocated: Number(m.Groups[3].Value)));
        Assert.True(rows.ContainsKey("float32") && rows.ContainsKey("int8"), "no float32/int8 comparison lines:\n" + output);
        Assert.Equal(HeldOutFloatAccuracy, rows["float32"].Accuracy);
        Assert.True(Math.Abs(rows["int8"].Accuracy - rows["float32"].Accuracy) <= 0.15, "int8 accuracy is not within 0.15 points of float32:\n" + output);
        Assert.Equal(0, rows["float32"].Allocated);
        Assert.Equal(0, rows["int8"].Allocated);
        var agreement = Regex.Match(output, @"agreement: ([\d.]+)% \(([\d,]+) of 9,000");
        Assert.True(agreement.Success, "no agreement line:\n" + output);
        Assert.True(Number(agreement.Groups[1].Value) >= 99.5, "int8 agrees with float32 on fewer than 99.5% of the digits:\n" + output);
    }

    /// <summary>The float model on digits 1,000 to 9,999 (8,942 of 9,000 correct; 99.33% on all 10,000).</summary>
    private const double HeldOutFloatAccuracy = 99.36;

    private static double Number(string s) => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The C runtime: glibc's libraries, the dynamic loader, the vDSO and GCC's support library.</summary>
    private static bool IsCRuntime(string library) =>
        library.StartsWith("linux-vdso.so", StringComparison.Ordinal) || library.StartsWith("ld-linux", StringComparison.Ordinal) ||
        new[] { "libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "libgcc_s.so" }.Any(p => library.StartsWith(p, StringComparison.Ordinal));
}

/// <summary>A fact that runs on Linux x64 only (the NativeAOT publish targets linux-x64 and checks ldd).</summary>
public sealed class LinuxX64FactAttribute : FactAttribute
{
    public LinuxX64FactAttribute()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
            Skip = "NativeAOT publish for linux-x64 is tested on Linux x64 only.";
    }
}
