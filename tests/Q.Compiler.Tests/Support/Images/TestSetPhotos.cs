using System.Text.RegularExpressions;

namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// Which photo of ../shared/datasets/images each shared test set of an image model was made from, read from the
/// "Test data" table of the model's SOURCE.md: a row <c>| `test_data_set_N` | … `photo.png` … |</c> names exactly one
/// file of the image folder in its second cell, or says "same …" to reuse the row above's photo (ppocr's rotated
/// crops). Anything else fails with the row, so a reworded SOURCE.md cannot silently drop a photo from the exclusion.
/// </summary>
public static class TestSetPhotos
{
    private static readonly Regex Row = new(@"^\|\s*`(test_data_set_\d+)`\s*\|([^|]*)\|", RegexOptions.CultureInvariant);
    private static readonly Regex Quoted = new("`([^`]+)`", RegexOptions.CultureInvariant);

    /// <summary>Test set folder name (test_data_set_N) → photo file name, for every test set of <paramref name="modelFolder"/>.</summary>
    public static IReadOnlyDictionary<string, string> Of(string modelFolder)
    {
        string source = SharedData.Model(modelFolder + "/SOURCE.md");
        var photos = Directory.GetFiles(ImageModels.ImagesFolder).Select(p => Path.GetFileName(p)).ToHashSet(StringComparer.Ordinal);
        var map = Parse(File.ReadAllLines(source), photos, source);
        var missing = TestData.Sets(SharedData.Model(modelFolder)).Select(p => Path.GetFileName(p)).Where(s => !map.ContainsKey(s)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{source}: no row of the test data table for {string.Join(", ", missing)}");
        return map;
    }

    /// <summary>The distinct photos behind all of <paramref name="modelFolder"/>'s test sets (ordinal order).</summary>
    public static IReadOnlyList<string> All(string modelFolder) =>
        Of(modelFolder).Values.Distinct(StringComparer.Ordinal).OrderBy(p => p, StringComparer.Ordinal).ToList();

    /// <summary>
    /// The table rows of <paramref name="lines"/> mapped to the one name of <paramref name="photos"/> each quotes;
    /// <paramref name="what"/> names the file in errors.
    /// </summary>
    public static Dictionary<string, string> Parse(IEnumerable<string> lines, IReadOnlySet<string> photos, string what)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        string? previous = null;
        foreach (string line in lines)
        {
            var row = Row.Match(line.Trim());
            if (!row.Success) continue;
            string set = row.Groups[1].Value, cell = row.Groups[2].Value.Trim();
            var named = Quoted.Matches(cell).Select(m => Path.GetFileName(m.Groups[1].Value)).Where(photos.Contains).Distinct(StringComparer.Ordinal).ToList();
            string photo = named.Count switch
            {
                1 => named[0],
                0 when previous is not null && cell.StartsWith("same ", StringComparison.OrdinalIgnoreCase) => previous,
                0 => throw new InvalidDataException($"{what}: the row of {set} names no photo of {ImageModels.ImagesFolder}: \"{cell}\""),
                _ => throw new InvalidDataException($"{what}: the row of {set} names several photos ({string.Join(", ", named)}): \"{cell}\""),
            };
            if (!map.TryAdd(set, photo)) throw new InvalidDataException($"{what}: two rows for {set}");
            previous = photo;
        }
        return map;
    }
}
