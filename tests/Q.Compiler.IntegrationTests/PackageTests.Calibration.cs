using System.Text.Json;
using Q.Compiler.Ir;
using Q.Compiler.IntegrationTests.Support;
using Xunit;

namespace Q.Compiler.IntegrationTests;

/// <summary>
/// Calibration data is read at build time only: no calibration sample, nor anything from which one can be rebuilt,
/// may reach the program. The packaged project builds an int8 mnist-8 calibrated on 17 digits (a stacked .npy and a
/// .pb) and every file of its output folder is searched for those digits (<see cref="LeakSearch"/>).
/// </summary>
public sealed partial class PackageTests
{
    private static List<float[]> CalibrationSamples() => PackagedProject.CalibrationDigits.Select(Digits.AsFloats).ToList();

    /// <summary>
    /// Every finding of the search in every file of the output folder, as "file: what at offset N", and in every coded
    /// weight of the project's plans as the program expands it at run time ("Class.qplan, weight W expanded: ..."): a
    /// coded weight (palette, Huffman, ...) hides its values from a search of the assembly's bytes.
    /// </summary>
    private List<string> SearchOutput(LeakSearch search) =>
        Directory.GetFiles(_project.OutputDirectory, "*", SearchOption.AllDirectories)
            .SelectMany(f => search.FindIn(File.ReadAllBytes(f)).Select(hit => Path.GetFileName(f) + ": " + hit))
            .Concat(ExpandedWeights().SelectMany(w => search.FindIn(w.Bytes).Select(hit => w.Where + ": " + hit)))
            .ToList();

    /// <summary>The coded weights of every plan in the intermediate folder, expanded as CodedWeights does at run time.</summary>
    private IEnumerable<(string Where, byte[] Bytes)> ExpandedWeights()
    {
        if (!Directory.Exists(_project.IntermediateDirectory)) yield break;
        foreach (var file in Directory.GetFiles(_project.IntermediateDirectory, "*.qplan"))
        {
            var plan = Q.Compiler.Plan.PlanText.Read(File.ReadAllText(file));
            foreach (var b in plan.Buffers)
            {
                if (b.Coding is null) continue;
                var type = DataTypes.ParseShortName(b.Type);
                long stored = b.Coding.StoredLength(b.Elements, type.SizeOf());
                yield return (Path.GetFileName(file) + ", weight " + b.Name + " expanded",
                    Q.Compiler.Plan.WeightEncoder.Decode(plan.Weights.AsSpan((int)b.Offset, (int)stored), b.Coding, type, b.Elements));
            }
        }
    }

    /// <summary>
    /// The search can fail: a model whose weights hold a calibration digit puts it into the assembly, and the search
    /// finds it there; the same project without that model holds nothing of the digits.
    /// </summary>
    [SharedFact]
    public void LeakSearchFindsADigitPlantedInAModelsWeightsAndNothingWithoutIt()
    {
        _project.EnsureReady();
        var search = new LeakSearch(CalibrationSamples(), Digits.Cols, []);

        var planted = _project.Build("-p:WithPlantedDigit=true");
        Assert.True(planted.Succeeded, planted.ToString());
        var hits = SearchOutput(search);
        // In the assembly's bytes, or (when the weight is coded, as a digit's few distinct pixel values are) in the weight the
        // program expands at run time.
        Assert.Contains(hits, h => (h.StartsWith("App.dll: ", StringComparison.Ordinal) || h.Contains(" expanded: ", StringComparison.Ordinal))
            && h.Contains($"sample {PackagedProject.PlantedDigit}: float32 values", StringComparison.Ordinal));
        Assert.All(hits, h => Assert.Contains($"sample {PackagedProject.PlantedDigit}:", h));

        var clean = _project.Build();
        Assert.True(clean.Succeeded, clean.ToString());
        var none = SearchOutput(search);
        Assert.True(none.Count == 0, "the float build holds calibration digits?\n" + string.Join("\n", none.Take(20)));
    }

    [SharedFact]
    public void NoCalibrationSampleReachesTheOutput()
    {
        _project.EnsureReady();
        var build = _project.Build("-p:WithInt8=true");
        Assert.True(build.Succeeded, build.ToString());

        // The int8 model was really calibrated on the set: its report says so.
        string reportFile = Path.Combine(_project.IntermediateDirectory, "MnistInt8.qreport.json");
        Assert.True(File.Exists(reportFile), "no quantization report at " + reportFile + "\n" + build);
        using var report = JsonDocument.Parse(File.ReadAllText(reportFile));
        Assert.Equal("Int8", report.RootElement.GetProperty("mode").GetString());
        Assert.Contains(PackagedProject.CalibrationDigits.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            report.RootElement.GetProperty("calibration").GetString());
        Assert.Contains(Path.Combine(_project.Directory, "calib", "digits.npy"), File.ReadAllLines(Path.Combine(_project.IntermediateDirectory, "MnistInt8.qdep")));

        // The input as the int8 code would hold it: quantized with the scale and zero point of each quantized layer's input.
        var quantizations = report.RootElement.GetProperty("layers").EnumerateArray()
            .Where(l => l.GetProperty("inputScale").ValueKind == JsonValueKind.Number)
            .Select(l => (l.GetProperty("inputScale").GetDouble(), l.GetProperty("inputZeroPoint").GetInt32()))
            .Distinct().ToList();
        Assert.NotEmpty(quantizations);
        var search = new LeakSearch(CalibrationSamples(), Digits.Cols, quantizations);
        var hits = SearchOutput(search);
        Assert.True(hits.Count == 0, $"calibration data in the output ({hits.Count} windows):\n" + string.Join("\n", hits.Take(20)));
    }
}
