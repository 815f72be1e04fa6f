// Instruction-level ceilings of this CPU for the int8 and float convolution inner loops: throughput of single instructions
// and of the instruction mixes the kernels use, in instructions (and multiply-accumulates) per cycle, one thread.
// Run: dotnet run -c Release bench/IsaCeiling.cs
// Cycles come from a chain of dependent vpaddd (one cycle latency on every x86 since Core 2 / K10), so the figures
// need no frequency counter; each loop keeps 8-12 independent chains so latency does not limit throughput.
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:property AllowUnsafeBlocks=true
#:project Timing/Q.Compiler.Bench.Timing.csproj
using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Q.Compiler.Bench;

if (!Avx2.IsSupported || !Fma.IsSupported) { Console.WriteLine("needs AVX2 + FMA"); return; }
const int Iterations = 2_000_000;
double cycle = Best(() => AddChain(Iterations)) / (16.0 * Iterations); // µs per cycle
Console.WriteLine($"clock ≈ {1 / cycle / 1000:F2} GHz (dependent vpaddd chain), timing by {ThreadClock.Kind}");
Console.WriteLine($"{"mix (per loop iteration)",-64} {"instr/cyc",9} {"MAC/cyc",8}");
Report("vfmadd231ps ×12 (float FMA)", 12, 12 * 8, () => Fma12(Iterations));
Report("vpmaddubsw ×12", 12, 12 * 32, () => MaddUbs12(Iterations));
Report("vpmaddwd ×12", 12, 12 * 16, () => MaddWd12(Iterations));
Report("vpmaddubsw + vpmaddwd ×6 (chained pairs)", 12, 6 * 32, () => UbsWd6(Iterations));
Report("vpsignb ×12", 12, 0, () => Sign12(Iterations));
Report("vpaddd ×12", 12, 0, () => Add12(Iterations));
Report("vpsrad ×12", 12, 0, () => Sra12(Iterations));
Report("vpmaddubsw + vpaddw ×6", 12, 6 * 32, () => UbsAddW6(Iterations));
Report("vpsignb ×6 + vpmaddubsw ×6 (port sharing?)", 12, 6 * 32, () => SignUbs(Iterations));
Report("vpsrad ×6 + vpmaddubsw ×6", 12, 6 * 32, () => SraUbs(Iterations));
Report("vfmadd231ps ×6 + vpmaddubsw ×6", 12, 6 * 32 + 6 * 8, () => FmaUbs(Iterations));
Report("vpaddd ×12 + vpmaddubsw ×6", 18, 6 * 32, () => AddUbs(Iterations));
Report("kernel rows ×6: vpsignb, vpmaddubsw, vpmaddwd(1), vpaddd", 27, 6 * 32, () => KernelRows6(Iterations));
Report("rows ×6: vpsignb, vpmaddubsw, (p<<16>>16)+(p>>16) into acc", 39, 6 * 32, () => ShiftRows6(Iterations));
Report("rows ×6, 2 quads: 2×(vpsignb, vpmaddubsw), vpaddw, vpmaddwd, vpaddd", 45, 6 * 64, () => PairRows6(Iterations));
Report("rows ×6, 3 kernel + 3 shift", 33, 6 * 32, () => HalfShiftRows6(Iterations));
Report("unsigned rows ×6: vpmaddubsw(x, w), vpmaddwd(1), vpaddd", 21, 6 * 32, () => UnsignedRows6(Iterations));
Report("unsigned rows ×6, 2 quads: 2×vpmaddubsw, vpaddw, vpmaddwd, vpaddd (+3 vpxor)", 36, 6 * 64, () => UnsignedPairRows6(Iterations));
Report("int16 rows ×6: vpmaddwd(x16, w16), vpaddd", 15, 6 * 16, () => WideRows6(Iterations));
Report("int16 rows ×8, weights from memory (vpbroadcastd m32)", 16 + 8, 8 * 16, () => WideRowsLoad8(Iterations));
Report("epilogue ×8: cvtdq2ps, mulps, minps, cvtps2dq", 32, 0, () => Epilogue8(Iterations));

void Report(string name, int instructions, int macs, Func<Vector256<int>> loop)
{
    double cycles = Best(loop) / cycle / Iterations;
    Console.WriteLine($"{name,-64} {instructions / cycles,9:F2} {(macs == 0 ? "" : (macs / cycles).ToString("F1")),8}");
}

static double Best(Func<Vector256<int>> loop)
{
    double best = double.MaxValue;
    Vector256<int> sink = default;
    for (int i = 0; i < 7; i++)
    {
        double t0 = ThreadClock.Microseconds();
        sink ^= loop();
        best = Math.Min(best, ThreadClock.Microseconds() - t0);
    }
    if (sink.GetElement(0) == 12345) Console.Write("");
    return best;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> AddChain(int n)
{
    var a = Vector256.Create(1); var one = Vector256.Create(3);
    for (int i = 0; i < n; i++)
    {
        a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one);
        a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one);
        a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one);
        a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one); a = Avx2.Add(a, one);
    }
    return a;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> Fma12(int n)
{
    var m = Vector256.Create(0.999f); var b = Vector256.Create(0.001f);
    Vector256<float> c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b, c10 = b, c11 = b;
    for (int i = 0; i < n; i++)
    {
        c0 = Fma.MultiplyAdd(c0, m, b); c1 = Fma.MultiplyAdd(c1, m, b); c2 = Fma.MultiplyAdd(c2, m, b); c3 = Fma.MultiplyAdd(c3, m, b);
        c4 = Fma.MultiplyAdd(c4, m, b); c5 = Fma.MultiplyAdd(c5, m, b); c6 = Fma.MultiplyAdd(c6, m, b); c7 = Fma.MultiplyAdd(c7, m, b);
        c8 = Fma.MultiplyAdd(c8, m, b); c9 = Fma.MultiplyAdd(c9, m, b); c10 = Fma.MultiplyAdd(c10, m, b); c11 = Fma.MultiplyAdd(c11, m, b);
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> MaddUbs12(int n)
{
    var w = Vector256.Create((sbyte)1);
    var b = Vector256.Create((byte)1);
    Vector256<byte> c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b, c10 = b, c11 = b;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.MultiplyAddAdjacent(c0, w).AsByte(); c1 = Avx2.MultiplyAddAdjacent(c1, w).AsByte();
        c2 = Avx2.MultiplyAddAdjacent(c2, w).AsByte(); c3 = Avx2.MultiplyAddAdjacent(c3, w).AsByte();
        c4 = Avx2.MultiplyAddAdjacent(c4, w).AsByte(); c5 = Avx2.MultiplyAddAdjacent(c5, w).AsByte();
        c6 = Avx2.MultiplyAddAdjacent(c6, w).AsByte(); c7 = Avx2.MultiplyAddAdjacent(c7, w).AsByte();
        c8 = Avx2.MultiplyAddAdjacent(c8, w).AsByte(); c9 = Avx2.MultiplyAddAdjacent(c9, w).AsByte();
        c10 = Avx2.MultiplyAddAdjacent(c10, w).AsByte(); c11 = Avx2.MultiplyAddAdjacent(c11, w).AsByte();
    }
    return (c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7 ^ c8 ^ c9 ^ c10 ^ c11).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> MaddWd12(int n)
{
    var w = Vector256.Create((short)1);
    Vector256<short> c0 = w, c1 = w, c2 = w, c3 = w, c4 = w, c5 = w, c6 = w, c7 = w, c8 = w, c9 = w, c10 = w, c11 = w;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.MultiplyAddAdjacent(c0, w).AsInt16(); c1 = Avx2.MultiplyAddAdjacent(c1, w).AsInt16();
        c2 = Avx2.MultiplyAddAdjacent(c2, w).AsInt16(); c3 = Avx2.MultiplyAddAdjacent(c3, w).AsInt16();
        c4 = Avx2.MultiplyAddAdjacent(c4, w).AsInt16(); c5 = Avx2.MultiplyAddAdjacent(c5, w).AsInt16();
        c6 = Avx2.MultiplyAddAdjacent(c6, w).AsInt16(); c7 = Avx2.MultiplyAddAdjacent(c7, w).AsInt16();
        c8 = Avx2.MultiplyAddAdjacent(c8, w).AsInt16(); c9 = Avx2.MultiplyAddAdjacent(c9, w).AsInt16();
        c10 = Avx2.MultiplyAddAdjacent(c10, w).AsInt16(); c11 = Avx2.MultiplyAddAdjacent(c11, w).AsInt16();
    }
    return (c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7 ^ c8 ^ c9 ^ c10 ^ c11).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> UbsWd6(int n)
{
    var w = Vector256.Create((sbyte)1);
    var ones = Vector256.Create((short)1);
    var b = Vector256.Create((byte)1);
    Vector256<byte> c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c0, w), ones).AsByte();
        c1 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c1, w), ones).AsByte();
        c2 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c2, w), ones).AsByte();
        c3 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c3, w), ones).AsByte();
        c4 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c4, w), ones).AsByte();
        c5 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(c5, w), ones).AsByte();
    }
    return (c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> Sign12(int n)
{
    var w = Vector256.Create((sbyte)-1);
    Vector256<sbyte> c0 = w, c1 = w, c2 = w, c3 = w, c4 = w, c5 = w, c6 = w, c7 = w, c8 = w, c9 = w, c10 = w, c11 = w;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Sign(c0, w); c1 = Avx2.Sign(c1, w); c2 = Avx2.Sign(c2, w); c3 = Avx2.Sign(c3, w);
        c4 = Avx2.Sign(c4, w); c5 = Avx2.Sign(c5, w); c6 = Avx2.Sign(c6, w); c7 = Avx2.Sign(c7, w);
        c8 = Avx2.Sign(c8, w); c9 = Avx2.Sign(c9, w); c10 = Avx2.Sign(c10, w); c11 = Avx2.Sign(c11, w);
    }
    return (c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7 ^ c8 ^ c9 ^ c10 ^ c11).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> Add12(int n)
{
    var w = Vector256.Create(1);
    Vector256<int> c0 = w, c1 = w, c2 = w, c3 = w, c4 = w, c5 = w, c6 = w, c7 = w, c8 = w, c9 = w, c10 = w, c11 = w;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, w); c1 = Avx2.Add(c1, w); c2 = Avx2.Add(c2, w); c3 = Avx2.Add(c3, w);
        c4 = Avx2.Add(c4, w); c5 = Avx2.Add(c5, w); c6 = Avx2.Add(c6, w); c7 = Avx2.Add(c7, w);
        c8 = Avx2.Add(c8, w); c9 = Avx2.Add(c9, w); c10 = Avx2.Add(c10, w); c11 = Avx2.Add(c11, w);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7 ^ c8 ^ c9 ^ c10 ^ c11;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> Sra12(int n)
{
    var w = Vector256.Create(-1000000);
    Vector256<int> c0 = w, c1 = w, c2 = w, c3 = w, c4 = w, c5 = w, c6 = w, c7 = w, c8 = w, c9 = w, c10 = w, c11 = w;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.ShiftRightArithmetic(c0, 1); c1 = Avx2.ShiftRightArithmetic(c1, 1); c2 = Avx2.ShiftRightArithmetic(c2, 1);
        c3 = Avx2.ShiftRightArithmetic(c3, 1); c4 = Avx2.ShiftRightArithmetic(c4, 1); c5 = Avx2.ShiftRightArithmetic(c5, 1);
        c6 = Avx2.ShiftRightArithmetic(c6, 1); c7 = Avx2.ShiftRightArithmetic(c7, 1); c8 = Avx2.ShiftRightArithmetic(c8, 1);
        c9 = Avx2.ShiftRightArithmetic(c9, 1); c10 = Avx2.ShiftRightArithmetic(c10, 1); c11 = Avx2.ShiftRightArithmetic(c11, 1);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7 ^ c8 ^ c9 ^ c10 ^ c11;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> UbsAddW6(int n)
{
    var w = Vector256.Create((sbyte)1);
    var b = Vector256.Create((byte)1);
    Vector256<byte> x0 = b, x1 = b, x2 = b, x3 = b, x4 = b, x5 = b;
    Vector256<short> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(x0, w)); c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(x1, w));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(x2, w)); c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(x3, w));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(x4, w)); c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(x5, w));
        x0 = c0.AsByte(); x1 = c1.AsByte(); x2 = c2.AsByte(); x3 = c3.AsByte(); x4 = c4.AsByte(); x5 = c5.AsByte();
    }
    return (c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5).AsInt32();
}

// Two instruction kinds interleaved, 6 independent chains each: whether they share execution ports.
[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> SignUbs(int n)
{
    var w = Vector256.Create((sbyte)-1);
    Vector256<sbyte> s0 = w, s1 = w, s2 = w, s3 = w, s4 = w, s5 = w, m0 = w, m1 = w, m2 = w, m3 = w, m4 = w, m5 = w;
    for (int i = 0; i < n; i++)
    {
        s0 = Avx2.Sign(s0, w); m0 = Avx2.MultiplyAddAdjacent(m0.AsByte(), w).AsSByte(); s1 = Avx2.Sign(s1, w); m1 = Avx2.MultiplyAddAdjacent(m1.AsByte(), w).AsSByte();
        s2 = Avx2.Sign(s2, w); m2 = Avx2.MultiplyAddAdjacent(m2.AsByte(), w).AsSByte(); s3 = Avx2.Sign(s3, w); m3 = Avx2.MultiplyAddAdjacent(m3.AsByte(), w).AsSByte();
        s4 = Avx2.Sign(s4, w); m4 = Avx2.MultiplyAddAdjacent(m4.AsByte(), w).AsSByte(); s5 = Avx2.Sign(s5, w); m5 = Avx2.MultiplyAddAdjacent(m5.AsByte(), w).AsSByte();
    }
    return (s0 ^ s1 ^ s2 ^ s3 ^ s4 ^ s5 ^ m0 ^ m1 ^ m2 ^ m3 ^ m4 ^ m5).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> SraUbs(int n)
{
    var w = Vector256.Create((sbyte)-1);
    Vector256<sbyte> s0 = w, s1 = w, s2 = w, s3 = w, s4 = w, s5 = w, m0 = w, m1 = w, m2 = w, m3 = w, m4 = w, m5 = w;
    for (int i = 0; i < n; i++)
    {
        s0 = Sra(s0); m0 = Avx2.MultiplyAddAdjacent(m0.AsByte(), w).AsSByte(); s1 = Sra(s1); m1 = Avx2.MultiplyAddAdjacent(m1.AsByte(), w).AsSByte();
        s2 = Sra(s2); m2 = Avx2.MultiplyAddAdjacent(m2.AsByte(), w).AsSByte(); s3 = Sra(s3); m3 = Avx2.MultiplyAddAdjacent(m3.AsByte(), w).AsSByte();
        s4 = Sra(s4); m4 = Avx2.MultiplyAddAdjacent(m4.AsByte(), w).AsSByte(); s5 = Sra(s5); m5 = Avx2.MultiplyAddAdjacent(m5.AsByte(), w).AsSByte();
    }
    return (s0 ^ s1 ^ s2 ^ s3 ^ s4 ^ s5 ^ m0 ^ m1 ^ m2 ^ m3 ^ m4 ^ m5).AsInt32();

    static Vector256<sbyte> Sra(Vector256<sbyte> v) => Avx2.ShiftRightArithmetic(v.AsInt32(), 1).AsSByte();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> FmaUbs(int n)
{
    var w = Vector256.Create((sbyte)-1);
    var m = Vector256.Create(0.999f); var b = Vector256.Create(0.001f);
    Vector256<float> f0 = b, f1 = b, f2 = b, f3 = b, f4 = b, f5 = b;
    Vector256<sbyte> m0 = w, m1 = w, m2 = w, m3 = w, m4 = w, m5 = w;
    for (int i = 0; i < n; i++)
    {
        f0 = Fma.MultiplyAdd(f0, m, b); m0 = Avx2.MultiplyAddAdjacent(m0.AsByte(), w).AsSByte(); f1 = Fma.MultiplyAdd(f1, m, b); m1 = Avx2.MultiplyAddAdjacent(m1.AsByte(), w).AsSByte();
        f2 = Fma.MultiplyAdd(f2, m, b); m2 = Avx2.MultiplyAddAdjacent(m2.AsByte(), w).AsSByte(); f3 = Fma.MultiplyAdd(f3, m, b); m3 = Avx2.MultiplyAddAdjacent(m3.AsByte(), w).AsSByte();
        f4 = Fma.MultiplyAdd(f4, m, b); m4 = Avx2.MultiplyAddAdjacent(m4.AsByte(), w).AsSByte(); f5 = Fma.MultiplyAdd(f5, m, b); m5 = Avx2.MultiplyAddAdjacent(m5.AsByte(), w).AsSByte();
    }
    return (f0 + f1 + f2 + f3 + f4 + f5).AsInt32() ^ (m0 ^ m1 ^ m2 ^ m3 ^ m4 ^ m5).AsInt32();
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> AddUbs(int n)
{
    var w = Vector256.Create((sbyte)-1);
    var one = Vector256.Create(1);
    Vector256<int> a0 = one, a1 = one, a2 = one, a3 = one, a4 = one, a5 = one;
    Vector256<sbyte> m0 = w, m1 = w, m2 = w, m3 = w, m4 = w, m5 = w;
    for (int i = 0; i < n; i++)
    {
        a0 = Avx2.Add(Avx2.Add(a0, one), one); m0 = Avx2.MultiplyAddAdjacent(m0.AsByte(), w).AsSByte();
        a1 = Avx2.Add(Avx2.Add(a1, one), one); m1 = Avx2.MultiplyAddAdjacent(m1.AsByte(), w).AsSByte();
        a2 = Avx2.Add(Avx2.Add(a2, one), one); m2 = Avx2.MultiplyAddAdjacent(m2.AsByte(), w).AsSByte();
        a3 = Avx2.Add(Avx2.Add(a3, one), one); m3 = Avx2.MultiplyAddAdjacent(m3.AsByte(), w).AsSByte();
        a4 = Avx2.Add(Avx2.Add(a4, one), one); m4 = Avx2.MultiplyAddAdjacent(m4.AsByte(), w).AsSByte();
        a5 = Avx2.Add(Avx2.Add(a5, one), one); m5 = Avx2.MultiplyAddAdjacent(m5.AsByte(), w).AsSByte();
    }
    return (a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5) ^ (m0 ^ m1 ^ m2 ^ m3 ^ m4 ^ m5).AsInt32();
}

// The kernels' "rows": a broadcast weight against an activation vector, 6 rows = 3 weights × 2 activation vectors, as
// 6 independent accumulator chains. The weights change each iteration through a one-cycle chain (3 vpaddb, counted), so
// the JIT cannot hoist the products; |x| is x itself (the values do not matter, the register count does).
[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> KernelRows6(int n)
{
    var ones = Vector256.Create((short)1);
    var xa = Vector256.Create((sbyte)-3); var xb = Vector256.Create((sbyte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w0, xa)), ones));
        c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w0, xb)), ones));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w1, xa)), ones));
        c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w1, xb)), ones));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w2, xa)), ones));
        c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w2, xb)), ones));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> ShiftRows6(int n)
{
    var xa = Vector256.Create((sbyte)-3); var xb = Vector256.Create((sbyte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Widen(c0, Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w0, xa)));
        c1 = Widen(c1, Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w0, xb)));
        c2 = Widen(c2, Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w1, xa)));
        c3 = Widen(c3, Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w1, xb)));
        c4 = Widen(c4, Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w2, xa)));
        c5 = Widen(c5, Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w2, xb)));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.AggressiveInlining)]
static Vector256<int> Widen(Vector256<int> acc, Vector256<short> pairs)
{
    var p = pairs.AsInt32();
    return Avx2.Add(Avx2.Add(acc, Avx2.ShiftRightArithmetic(p, 16)), Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(p, 16), 16));
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> PairRows6(int n)
{
    var ones = Vector256.Create((short)1);
    var xa = Vector256.Create((sbyte)-3); var xb = Vector256.Create((sbyte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w0, xa)), Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w1, xb))), ones));
        c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w0, xb)), Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w2, xa))), ones));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w1, xa)), Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w2, xb))), ones));
        c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w1, xa)), Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w0, xb))), ones));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w2, xb)), Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w0, xa))), ones));
        c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w2, xa)), Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w1, xb))), ones));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> HalfShiftRows6(int n)
{
    var ones = Vector256.Create((short)1);
    var xa = Vector256.Create((sbyte)-3); var xb = Vector256.Create((sbyte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w0, xa)), ones));
        c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w0, xb)), ones));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w1, xa)), ones));
        c3 = Widen(c3, Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w1, xb)));
        c4 = Widen(c4, Avx2.MultiplyAddAdjacent(xa.AsByte(), Avx2.Sign(w2, xa)));
        c5 = Widen(c5, Avx2.MultiplyAddAdjacent(xb.AsByte(), Avx2.Sign(w2, xb)));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> UnsignedRows6(int n)
{
    var ones = Vector256.Create((short)1);
    var xa = Vector256.Create((byte)3); var xb = Vector256.Create((byte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa, w0), ones));
        c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb, w0), ones));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa, w1), ones));
        c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb, w1), ones));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xa, w2), ones));
        c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(xb, w2), ones));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> UnsignedPairRows6(int n)
{
    var ones = Vector256.Create((short)1);
    var xa = Vector256.Create((byte)3); var xb = Vector256.Create((byte)5);
    var w0 = Vector256.Create((sbyte)7); var w1 = Vector256.Create((sbyte)-9); var w2 = Vector256.Create((sbyte)11); var step = Vector256.Create((sbyte)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa, w0), Avx2.MultiplyAddAdjacent(xb, w1)), ones));
        c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb, w0), Avx2.MultiplyAddAdjacent(xa, w2)), ones));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa, w1), Avx2.MultiplyAddAdjacent(xb, w2)), ones));
        c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb, w1), Avx2.MultiplyAddAdjacent(xa, w0.AsSByte() ^ step)), ones));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xa, w2), Avx2.MultiplyAddAdjacent(xb, w0 ^ step)), ones));
        c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(Avx2.Add(Avx2.MultiplyAddAdjacent(xb, w2), Avx2.MultiplyAddAdjacent(xa, w1 ^ step)), ones));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> Epilogue8(int n)
{
    var s = Vector256.Create(0.5f); var hi = Vector256.Create(100f);
    Vector256<int> c0 = Vector256.Create(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int i = 0; i < n; i++)
    {
        c0 = E(c0, s, hi); c1 = E(c1, s, hi); c2 = E(c2, s, hi); c3 = E(c3, s, hi);
        c4 = E(c4, s, hi); c5 = E(c5, s, hi); c6 = E(c6, s, hi); c7 = E(c7, s, hi);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7;

    static Vector256<int> E(Vector256<int> a, Vector256<float> s, Vector256<float> hi) =>
        Avx.ConvertToVector256Int32(Avx.Min(Avx.Multiply(Avx.ConvertToVector256Single(a), s), hi));
}

[MethodImpl(MethodImplOptions.NoInlining)]
static Vector256<int> WideRows6(int n)
{
    var xa = Vector256.Create((short)3); var xb = Vector256.Create((short)-5);
    var w0 = Vector256.Create((short)7); var w1 = Vector256.Create((short)-9); var w2 = Vector256.Create((short)11); var step = Vector256.Create((short)1);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
    for (int i = 0; i < n; i++)
    {
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(xa, w0)); c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(xb, w0));
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(xa, w1)); c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(xb, w1));
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(xa, w2)); c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(xb, w2));
        w0 = Avx2.Add(w0, step); w1 = Avx2.Add(w1, step); w2 = Avx2.Add(w2, step);
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5;
}

// 4 rows × 2 activation vectors with the weights broadcast from memory each time, as a kernel does (the 16 ints cycle
// through a small table in L1; the activations advance through a 4 KB ring).
[MethodImpl(MethodImplOptions.NoInlining)]
static unsafe Vector256<int> WideRowsLoad8(int n)
{
    int* w = stackalloc int[64];
    short* x = stackalloc short[2048];
    for (int i = 0; i < 64; i++) w[i] = i * 65537;
    for (int i = 0; i < 2048; i++) x[i] = (short)(i - 1000);
    Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
    for (int i = 0; i < n; i++)
    {
        int o = i & 63, wo = (i & 3) * 4;
        var xa = Avx.LoadVector256(x + o * 32); var xb = Avx.LoadVector256(x + o * 32 + 16);
        var v = Avx2.BroadcastScalarToVector256((int*)(w + wo)).AsInt16();
        c0 = Avx2.Add(c0, Avx2.MultiplyAddAdjacent(xa, v)); c1 = Avx2.Add(c1, Avx2.MultiplyAddAdjacent(xb, v));
        v = Avx2.BroadcastScalarToVector256((int*)(w + wo + 1)).AsInt16();
        c2 = Avx2.Add(c2, Avx2.MultiplyAddAdjacent(xa, v)); c3 = Avx2.Add(c3, Avx2.MultiplyAddAdjacent(xb, v));
        v = Avx2.BroadcastScalarToVector256((int*)(w + wo + 2)).AsInt16();
        c4 = Avx2.Add(c4, Avx2.MultiplyAddAdjacent(xa, v)); c5 = Avx2.Add(c5, Avx2.MultiplyAddAdjacent(xb, v));
        v = Avx2.BroadcastScalarToVector256((int*)(w + wo + 3)).AsInt16();
        c6 = Avx2.Add(c6, Avx2.MultiplyAddAdjacent(xa, v)); c7 = Avx2.Add(c7, Avx2.MultiplyAddAdjacent(xb, v));
    }
    return c0 ^ c1 ^ c2 ^ c3 ^ c4 ^ c5 ^ c6 ^ c7;
}
