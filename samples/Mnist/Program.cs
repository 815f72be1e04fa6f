using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

// Scores mnist-8 (compiled at build time into Demo.Mnist by the <QModel> item in Mnist.csproj) on 10,000 MNIST digits,
// and measures the latency and managed allocations of one inference. Built with -p:MnistInt8=true, it also compares the
// int8 build of the model (Demo.MnistInt8) with the float one on the 9,000 digits its calibration did not use.

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

#if MNIST_INT8
// The int8 build of the same model (Demo.MnistInt8, Quantize="Int8" in Mnist.csproj), calibrated on the first 1,000
// digits at build time: both models on the other 9,000, which the calibration never saw.
const int CalibrationDigits = 1000;
var int8 = new Demo.MnistInt8();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"int8 model: Demo.MnistInt8, scratch {Demo.MnistInt8.ScratchBytes:N0} B, weights {Demo.MnistInt8.WeightBytes:N0} B ({100.0 * Demo.MnistInt8.WeightBytes / Demo.Mnist.WeightBytes:F1}% of float32)"));
for (int i = 0; i < Math.Min(count, 1000); i++) ClassifyInt8(i);

int heldOut = count - CalibrationDigits;
var floatPredictions = new int[count];
var int8Predictions = new int[count];
var (floatLatency, floatAllocated) = Measure(Classify, floatPredictions);
var (int8Latency, int8Allocated) = Measure(ClassifyInt8, int8Predictions);
int floatCorrect = 0, int8Correct = 0, agree = 0;
for (int i = CalibrationDigits; i < count; i++)
{
    if (floatPredictions[i] == labels[i]) floatCorrect++;
    if (int8Predictions[i] == labels[i]) int8Correct++;
    if (floatPredictions[i] == int8Predictions[i]) agree++;
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"held out: digits {CalibrationDigits:N0} to {count - 1:N0} ({heldOut:N0}; the int8 model was calibrated on the first {CalibrationDigits:N0})"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"float32: accuracy {100.0 * floatCorrect / heldOut:F2}% ({floatCorrect:N0}), latency {floatLatency:F1} µs, allocated {floatAllocated:0.##} bytes per inference"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"int8: accuracy {100.0 * int8Correct / heldOut:F2}% ({int8Correct:N0}), latency {int8Latency:F1} µs, allocated {int8Allocated:0.##} bytes per inference"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"agreement: {100.0 * agree / heldOut:F2}% ({agree:N0} of {heldOut:N0} digits get the same class)"));

// Classifies the held-out digits into predictions; returns the mean latency (µs) and allocated bytes per inference.
(double Microseconds, double Bytes) Measure(Func<int, int> classify, int[] predictions)
{
    long before = GC.GetAllocatedBytesForCurrentThread();
    long begin = Stopwatch.GetTimestamp();
    for (int i = CalibrationDigits; i < count; i++) predictions[i] = classify(i);
    long elapsed = Stopwatch.GetTimestamp() - begin;
    long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
    return (elapsed * 1e6 / Stopwatch.Frequency / heldOut, (double)bytes / heldOut);
}

int ClassifyInt8(int index)
{
    LoadDigit(index);
    int8.Run(pixels, logits);
    return ArgMax(logits);
}
#endif
return 0;

// The model takes the 28x28 grey levels as floats 0..255 (white digit on black) and returns ten unnormalised scores.
int Classify(int index)
{
    LoadDigit(index);
    model.Run(pixels, logits);
    return ArgMax(logits);
}

void LoadDigit(int index)
{
    ReadOnlySpan<byte> digit = images.AsSpan(index * Pixels, Pixels);
    for (int p = 0; p < Pixels; p++) pixels[p] = digit[p];
}

static int ArgMax(ReadOnlySpan<float> scores)
{
    int best = 0;
    for (int c = 1; c < scores.Length; c++)
        if (scores[c] > scores[best]) best = c;
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
