using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

// Scores mnist-8 (compiled at build time into Demo.Mnist by the <QModel> item in Mnist.csproj) on 10,000 MNIST digits,
// and measures the latency and managed allocations of one inference.

const int Pixels = 28 * 28;
const int Classes = 10;

string? dataDir = FindDataDirectory();
if (dataDir is null)
{
    Console.Error.WriteLine("Cannot find data/images-idx3-ubyte.gz beside the program or in the current folder; run from samples/Mnist.");
    return 1;
}
byte[] images = ReadIdx(Path.Combine(dataDir, "images-idx3-ubyte.gz"), magic: 0x803, out int count);
byte[] labels = ReadIdx(Path.Combine(dataDir, "labels-idx1-ubyte.gz"), magic: 0x801, out int labelCount);
if (labelCount != count || images.Length != count * Pixels)
{
    Console.Error.WriteLine($"The digit files disagree: {count} images, {labelCount} labels.");
    return 1;
}

var model = new Demo.Mnist();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"model: Demo.Mnist from mnist-8.onnx, {Demo.Mnist.Inputs[0]} -> {Demo.Mnist.Outputs[0]}, scratch {Demo.Mnist.ScratchBytes:N0} B, weights {Demo.Mnist.WeightBytes:N0} B"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"digits: {count:N0} from {dataDir}"));
Console.WriteLine("simd: " + InstructionSets());

float[] pixels = new float[Pixels];
float[] logits = new float[Classes];

// Warm up (the JIT's tiers; nothing to do under NativeAOT).
for (int i = 0; i < Math.Min(count, 1000); i++) Classify(i);

long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
long start = Stopwatch.GetTimestamp();
int correct = 0;
for (int i = 0; i < count; i++)
{
    if (Classify(i) == labels[i]) correct++;
}
long ticks = Stopwatch.GetTimestamp() - start;
long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

double accuracy = 100.0 * correct / count;
double microseconds = ticks * 1e6 / Stopwatch.Frequency / count;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy: {accuracy:F2}% ({correct:N0} of {count:N0})"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"latency: {microseconds:F1} µs per inference (mean of {count:N0}, pixel conversion included)"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocated: {(double)allocated / count:0.##} bytes per inference ({allocated:N0} bytes in all)"));
return 0;

// The model takes the 28x28 grey levels as floats 0..255 (white digit on black) and returns ten unnormalised scores.
int Classify(int index)
{
    ReadOnlySpan<byte> digit = images.AsSpan(index * Pixels, Pixels);
    for (int p = 0; p < Pixels; p++) pixels[p] = digit[p];
    model.Run(pixels, logits);
    int best = 0;
    for (int c = 1; c < Classes; c++)
        if (logits[c] > logits[best]) best = c;
    return best;
}

// What the kernels can use here (under NativeAOT: what IlcInstructionSet allowed at publish time).
static string InstructionSets()
{
    if (Avx512F.IsSupported) return "AVX-512F, AVX2, FMA";
    if (Avx2.IsSupported) return Fma.IsSupported ? "AVX2, FMA" : "AVX2";
    if (Sse41.IsSupported) return "SSE4.1 (128-bit)";
    if (AdvSimd.IsSupported) return "AdvSimd (128-bit)";
    return "none (scalar)";
}

// data/ beside the executable (dotnet run, the publish folder) or under the current folder (the NativeAOT binary run from samples/Mnist).
static string? FindDataDirectory()
{
    foreach (var root in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory, Path.Combine(Environment.CurrentDirectory, "samples", "Mnist") })
    {
        string dir = Path.Combine(root, "data");
        if (File.Exists(Path.Combine(dir, "images-idx3-ubyte.gz"))) return dir;
    }
    return null;
}

// IDX (gzip-compressed): big-endian magic and dimensions, then one byte per value.
static byte[] ReadIdx(string path, int magic, out int count)
{
    using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
    using var buffer = new MemoryStream();
    gzip.CopyTo(buffer);
    byte[] all = buffer.ToArray();
    int BigEndian(int offset) => (all[offset] << 24) | (all[offset + 1] << 16) | (all[offset + 2] << 8) | all[offset + 3];
    if (all.Length < 8 || BigEndian(0) != magic) throw new InvalidDataException($"{path} is not an IDX file with magic 0x{magic:x}");
    int dims = magic & 0xff;
    count = BigEndian(4);
    int header = 4 + 4 * dims;
    return all[header..];
}
