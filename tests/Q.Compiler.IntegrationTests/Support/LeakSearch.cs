using System.Runtime.InteropServices;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>
/// Looks for calibration samples in a file's bytes (an assembly): every distinctive 64-byte window of each sample as
/// float32 and as float64, and every distinctive 28-byte pixel row as raw uint8 and as quantized with given (scale,
/// zero point) pairs, in uint8 and in int8 (the uint8 value minus 128, as the compiler's int8 ↔ uint8 shift makes it).
/// Windows are matched at every byte offset of the file. "Distinctive" keeps out windows that any file may hold (runs
/// of zero pixels): a window needs at least <see cref="MinDistinctValues"/> distinct non-zero values.
/// </summary>
public sealed class LeakSearch
{
    public const int FloatWindowBytes = 64;
    public const int MinDistinctValues = 4;

    private readonly List<(string What, byte[] Bytes)> _patterns = new();

    /// <param name="samples">Each sample's values (for mnist-8: 784 grey levels 0..255 as float).</param>
    /// <param name="rowLength">Length of a pixel row (28 for MNIST).</param>
    /// <param name="quantizations">Input quantizations to look for besides the raw pixels (scale, zero point).</param>
    public LeakSearch(IReadOnlyList<float[]> samples, int rowLength, IEnumerable<(double Scale, int ZeroPoint)> quantizations)
    {
        var quants = quantizations.ToList();
        for (int s = 0; s < samples.Count; s++)
        {
            float[] x = samples[s];
            const int perFloatWindow = FloatWindowBytes / 4, perDoubleWindow = FloatWindowBytes / 8;
            for (int i = 0; i + perFloatWindow <= x.Length; i++)
                if (Distinct(x.AsSpan(i, perFloatWindow)))
                    _patterns.Add(($"sample {s}: float32 values {i}..{i + perFloatWindow - 1}", MemoryMarshal.AsBytes(x.AsSpan(i, perFloatWindow)).ToArray()));
            double[] d = x.Select(v => (double)v).ToArray();
            for (int i = 0; i + perDoubleWindow <= d.Length; i++)
                if (Distinct(x.AsSpan(i, perDoubleWindow)))
                    _patterns.Add(($"sample {s}: float64 values {i}..{i + perDoubleWindow - 1}", MemoryMarshal.AsBytes(d.AsSpan(i, perDoubleWindow)).ToArray()));
            for (int r = 0; r + rowLength <= x.Length; r += rowLength)
            {
                var row = x.AsSpan(r, rowLength);
                if (!Distinct(row)) continue;
                if (row.ToArray().All(v => v >= 0 && v <= 255 && v == MathF.Round(v)))
                    _patterns.Add(($"sample {s}: row {r / rowLength} as raw uint8 pixels", row.ToArray().Select(v => (byte)v).ToArray()));
                foreach (var (scale, zp) in quants)
                {
                    byte[] q = row.ToArray().Select(v => (byte)Math.Clamp(Math.Round(v / scale, MidpointRounding.ToEven) + zp, 0, 255)).ToArray();
                    if (q.Where(b => b != zp).Distinct().Count() < MinDistinctValues) continue;
                    _patterns.Add(($"sample {s}: row {r / rowLength} quantized (scale {scale:R}, zero point {zp}) as uint8", q));
                    _patterns.Add(($"sample {s}: row {r / rowLength} quantized (scale {scale:R}, zero point {zp}) as int8", q.Select(b => (byte)(b ^ 0x80)).ToArray()));
                }
            }
        }
    }

    /// <summary>How many windows are looked for (a test checks it is not zero: an empty search finds nothing).</summary>
    public int PatternCount => _patterns.Count;

    /// <summary>Every pattern found in <paramref name="haystack"/>, as "what at offset N".</summary>
    public List<string> FindIn(ReadOnlySpan<byte> haystack)
    {
        var found = new List<string>();
        foreach (var group in _patterns.GroupBy(p => p.Bytes.Length))
        {
            int length = group.Key;
            var byHash = new Dictionary<int, List<(string What, byte[] Bytes)>>();
            foreach (var p in group)
            {
                int h = Hash(p.Bytes);
                if (!byHash.TryGetValue(h, out var list)) byHash[h] = list = new();
                list.Add(p);
            }
            for (int offset = 0; offset + length <= haystack.Length; offset++)
            {
                var window = haystack.Slice(offset, length);
                if (!byHash.TryGetValue(Hash(window), out var candidates)) continue;
                foreach (var c in candidates)
                    if (window.SequenceEqual(c.Bytes)) found.Add($"{c.What} at offset {offset}");
            }
        }
        return found;
    }

    private static bool Distinct(ReadOnlySpan<float> values)
    {
        var seen = new HashSet<float>();
        foreach (var v in values)
            if (v != 0) seen.Add(v);
        return seen.Count >= MinDistinctValues;
    }

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var h = new HashCode();
        h.AddBytes(bytes);
        return h.ToHashCode();
    }
}
