// Times the uint8 element kernels of ppocr-cls-mobile's int8 build on its shapes, one thread, per path: the
// squeeze-excite QLinearMul ([C,H·W] × [C,1], and one long row) and the 256-entry table lookup (QLinearHardSwish).
// (The float twins are in the model's per-layer profile: --profile ppocr-cls-mobile in Q.Compiler.Benchmarks.)
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

byte[] Bytes(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }

static double Time(Action a) => PairTimer.Time(a, a, batchMicroseconds: 5_000, batches: 9).A;
