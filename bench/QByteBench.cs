// Times the uint8 element kernels of ppocr-cls-mobile's int8 build on its shapes, one thread, per path: the
// squeeze-excite QLinearMul ([C,H·W] × [C,1], and one long row) and the 256-entry table lookup (QLinearHardSwish).
// "built table": the table built by the kernel on each call (QLookup.Activation) against a stored one, paired.
// (The float twins are in the model's per-layer profile: --profile ppocr-cls-mobile in Q.Compiler.Benchmarks.)
// "fusion": what fusing HardSwish into a convolution's requantization epilogue would save, on int32 accumulators of
// a layer's size: the epilogue alone (what the conv pays today), epilogue + the separate table lookup pass (today's
// HardSwish), and an epilogue that applies HardSwish in float before rounding (the proposed fused form).
// Run: dotnet run -c Release bench/QByteBench.cs [filter]
// (A file-based app; it builds Q.Compiler.Kernels' sources into itself under the name the kernels grant access to.)
#:property AssemblyName=Q.Compiler.Benchmarks
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:project ../src/Q.Compiler.Kernels/Q.Compiler.Kernels.csproj
#:project Timing/Q.Compiler.Bench.Timing.csproj
using System;
using System.Linq;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Q.Compiler.Bench;
using Q.Compiler.Kernels;

var rng = new Random(1);
string filter = args.Length > 0 ? args[0] : "";
Console.WriteLine($"timing by {ThreadClock.Kind}; µs per call");
Mul("se mul 8x12x96", 8, 12 * 96);
Mul("se mul 88x3x96", 88, 3 * 96);
Mul("se mul 200x2x96", 200, 2 * 96);
Mul("mul 1x38400 (one row)", 1, 38400);
Lookup("lookup 8x24x96", 8 * 24 * 96);
Lookup("lookup 88x3x96", 88 * 3 * 96);
Lookup("lookup 200x2x96", 200 * 2 * 96);
Built("built table 8x24x96", 8 * 24 * 96);
Built("built table 200x2x96", 200 * 2 * 96);
Built("built table 200x1x1", 200);
Fusion("fusion 200x2x96", 200 * 2 * 96);
Fusion("fusion 88x3x96", 88 * 3 * 96);

void Mul(string name, int c, int plane)
{
    if (!name.Contains(filter)) return;
    var a = Bytes(c * plane); var b = Bytes(c); var y = new byte[c * plane];
    // sA·sB/sC = 0.05·0.004/0.03 as QFixedMultiplier.FromReal makes it.
    double real = 0.05 * 0.004 / 0.03;
    int e = (int)Math.Floor(Math.Log2(real)) + 1, shift = 31 - e, m = (int)Math.Round(real * Math.Pow(2, shift));
    var line = $"{name,-24}";
    foreach (var path in Enum.GetValues<QLinearBinary.Path>().Where(QLinearBinary.IsSupported))
    {
        Action q = () => QLinearBinary.Run(path, true, a, b, y, [c, plane], [plane, 1], [1, 0], 3, 0, m, 0, shift, int.MaxValue, 5, 0, 255);
        line += $"  {path} {Time(q),8:F2}";
    }
    Console.WriteLine(line);
}

void Lookup(string name, int n)
{
    if (!name.Contains(filter)) return;
    var x = Bytes(n); var table = Bytes(256); var y = new byte[n];
    var line = $"{name,-24}";
    foreach (var path in Enum.GetValues<QLookup.Path>().Where(QLookup.IsSupported))
    {
        Action q = () => QLookup.RunPath(path, x, table, y);
        line += $"  {path} {Time(q),8:F2}";
    }
    Console.WriteLine(line);
}

// QLinearHardSwish as lowered now: the kernel builds the table from the quantization parameters on each call
// (QLookup.Activation) instead of reading a stored one; paired against the lookup of a stored table.
void Built(string name, int n)
{
    if (!name.Contains(filter)) return;
    var x = Bytes(n); var stored = Bytes(256); var scratch = new byte[256]; var y = new byte[n];
    var (a, b) = PairTimer.Time(() => QLookup.Run(x, stored, y),
        () => QLookup.Activation(x, scratch, y, QLookup.HardSwish, 0, 0, 0.0922333f, 103, 0.0603675f, 6), batchMicroseconds: 5_000, batches: 9);
    var build = Time(() => QLookup.BuildTable(QLookup.Best, scratch, QLookup.HardSwish, 0, 0, 0.0922333f, 103, 0.0603675f, 6));
    Console.WriteLine($"{name,-24}  stored table {a,8:F2}  built table {b,8:F2}  (build alone {build:F3})");
}

void Fusion(string name, int n)
{
    if (!name.Contains(filter) || !Avx2.IsSupported) return;
    var acc = Enumerable.Range(0, n).Select(_ => rng.Next(-40000, 40000)).ToArray();
    var mid = new byte[n]; var y = new byte[n]; var table = Bytes(256);
    float scale = 1f / 300, sy6 = 0.05f / 6;
    Action plain = () => Epilogue(acc, mid, scale, 0f, 128, false);
    Action separate = () => { Epilogue(acc, mid, scale, 0f, 128, false); QLookup.Run(mid, table, y); };
    Action fused = () => Epilogue(acc, y, scale, sy6, 128, true);
    Console.WriteLine($"{name,-24}  epilogue {Time(plain),8:F2}  + lookup pass {Time(separate),8:F2}  fused HardSwish {Time(fused),8:F2}");
}

// acc → u = acc·scale → (HardSwish in output units: u·clamp(u·sy/6 + 0.5, 0, 1)) → round half even → + zy → [0, 255].
static void Epilogue(int[] acc, byte[] y, float scale, float sy6, int zy, bool hardSwish)
{
    var vs = Vector256.Create(scale); var v6 = Vector256.Create(sy6); var vz = Vector256.Create(zy);
    for (int i = 0; i + 32 <= acc.Length; i += 32)
    {
        var r0 = Step(Vector256.LoadUnsafe(ref acc[i]), vs, v6, vz, hardSwish);
        var r1 = Step(Vector256.LoadUnsafe(ref acc[i + 8]), vs, v6, vz, hardSwish);
        var r2 = Step(Vector256.LoadUnsafe(ref acc[i + 16]), vs, v6, vz, hardSwish);
        var r3 = Step(Vector256.LoadUnsafe(ref acc[i + 24]), vs, v6, vz, hardSwish);
        var bytes = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(r0, r1), Avx2.PackSignedSaturate(r2, r3));
        Avx2.Permute4x64(bytes.AsInt64(), 0b11_01_10_00).AsByte().StoreUnsafe(ref y[i]);
    }
}

[System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
static Vector256<int> Step(Vector256<int> a, Vector256<float> scale, Vector256<float> sy6, Vector256<int> zy, bool hardSwish)
{
    var u = Vector256.ConvertToSingle(a) * scale;
    // vmaxps/vminps (Vector256.Max/Min also order NaN and −0, at several instructions each)
    if (hardSwish) u *= Avx.Min(Avx.Max(u * sy6 + Vector256.Create(0.5f), Vector256<float>.Zero), Vector256.Create(1f));
    return Avx.ConvertToVector256Int32(u) + zy;
}

byte[] Bytes(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }

static double Time(Action a) => PairTimer.Time(a, a, batchMicroseconds: 5_000, batches: 9).A;
