// Requantization arithmetic: the product's float32-scale epilogue against a fixed-point one (Q31 multiplier, one 64-bit
// rounding shift), both in a copy of QConvNchw's AVX2 4×16 tile, timed in one process on pointwise layers of
// UltraFace and MobileNet-v2; plus the two schemes alone, scalar, per output. See docs/requantization.md.
// Run: dotnet run -c Release bench/RequantBench.cs
// Instruction listing of the two 32-output epilogues:
//   DOTNET_JitDisasm="EpilogueFloat32 EpilogueFixed32" DOTNET_JitStdOutFile=/tmp/rq.asm dotnet run -c Release bench/RequantBench.cs -- --epilogues
// (A file-based app; it builds against Q.Compiler.Kernels under the name the kernels grant access to.)
#:property AssemblyName=Q.Compiler.Benchmarks
#:property TargetFramework=net10.0
#:property Nullable=enable
#:property TieredCompilation=false
#:project ../src/Q.Compiler.Core/Q.Compiler.Core.csproj
#:project ../src/Q.Compiler.Kernels/Q.Compiler.Kernels.csproj
#:project Timing/Q.Compiler.Bench.Timing.csproj
using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Q.Compiler.Bench;
using Q.Compiler.Kernels;
using Q.Compiler.Ops.QConv;
using Q.Compiler.Quantization;

if (!Avx2.IsSupported) { Console.WriteLine("needs AVX2"); return; }
if (args.Contains("--epilogues"))
{
    // Only JIT the two epilogues (for DOTNET_JitDisasm) and check they agree on a sample.
    var acc = Enumerable.Range(0, 32).Select(i => (i - 16) * 977).ToArray();
    var e1 = Tile.EpilogueFloat32(acc, 1f / 4096, 1f / 4096, 128, 0, 255);
    var e2 = Tile.EpilogueFixed32(acc, FixedPoint.Of(1.0 / 4096), FixedPoint.Of(1.0 / 4096), 128, 0, 255);
    Console.WriteLine(e1.Equals(e2) ? "epilogues agree on the sample" : "epilogues differ on the sample");
    var y64 = new byte[64];
    Tile.EpilogueLoop(false, acc, 1f / 4096, 1f / 4096, FixedPoint.Of(1.0 / 4096), FixedPoint.Of(1.0 / 4096), y64, 128, 0, 255);
    Tile.EpilogueLoop(true, acc, 1f / 4096, 1f / 4096, FixedPoint.Of(1.0 / 4096), FixedPoint.Of(1.0 / 4096), y64, 128, 0, 255);
    return;
}

var rng = new Random(7);
Console.WriteLine($"timing by {ThreadClock.Kind}; best of 15 alternating batches of 20 ms per column");
Console.WriteLine();
Console.WriteLine("AVX2 QConvNchw 4x16 tile, whole layer (packing + tiles + epilogue), µs per call:");
Console.WriteLine($"{"layer",-40} {"product",9} {"float32",9} {"fixed",9} {"fixed/float",11} {"outputs ≠",10}");
Layer("1x1 16->32 @120x160 (ultraface)", 16, 120, 160, 32);
Layer("1x1 8->48 @64x64 (mobilenet expand)", 8, 64, 64, 48);
Layer("1x1 96->16 @16x16 (mobilenet project)", 96, 16, 16, 16);
Layer("1x1 32->32 @60x80 (ultraface)", 32, 60, 80, 32);
Console.WriteLine();
Console.WriteLine("Epilogue alone (accumulators loaded from L1), AVX2, two rows of 16 per step over a 64 KiB output:");
EpilogueOnly();
Console.WriteLine();
Console.WriteLine("Scalar, one output at a time (Requantize.Apply against the 64-bit rounding shift), 65,536 outputs:");
Scalar();

void Layer(string name, int c, int h, int wd, int m)
{
    int plane = h * wd;
    var x = Enumerable.Range(0, c * plane).Select(_ => (byte)rng.Next(256)).ToArray();
    var w = Enumerable.Range(0, m * c).Select(_ => rng.Next(-127, 128)).ToArray();
    var bias = Enumerable.Range(0, m).Select(_ => rng.Next(-2000, 2000)).ToArray();
    // Realistic multipliers: accumulators of about ±128·73·√K map onto about ±100 steps, a spread of ×2 across channels.
    double typical = 100.0 / (128 * 73 * Math.Sqrt(c));
    var real = Enumerable.Range(0, m).Select(_ => typical * (0.7 + 0.6 * rng.NextDouble())).ToArray();
    var scale = real.Select(RequantScale.FromReal).ToArray();
    var fixedPoint = real.Select(FixedPoint.Of).ToArray();
    int zy = 100, lo = 100, hi = 255;   // a fused Relu: lo = zy

    var (packedW, sums, minus128) = QConvWeights.PackNchw(w, m, c);
    if (minus128) throw new InvalidOperationException("weights have −128");
    var folded = QConvWeights.NchwBias(bias, sums, 128);
    int chunk = QConvNchw.ChunkFor(c, plane);
    var scratch = new byte[QConvNchw.ScratchLength(c, h, wd, 1, 1, 1, 1, 0, 0, 0, 0, chunk)];
    var yProduct = new byte[m * plane];
    var yFloat = new byte[m * plane];
    var yFixed = new byte[m * plane];
    var packed = new byte[chunk * 4 * ((c + 3) / 4)];
    Action product = () => QConvNchw.Gemm(x, packedW, folded, scale, yProduct, scratch, 1, c, h, wd, m, h, wd, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 128, zy, lo, hi, false);
    Action floatCopy = () => Tile.Pointwise(false, x, packedW, folded, scale, fixedPoint, yFloat, packed, c, plane, m, chunk, zy, lo, hi);
    Action fixedCopy = () => Tile.Pointwise(true, x, packedW, folded, scale, fixedPoint, yFixed, packed, c, plane, m, chunk, zy, lo, hi);

    // Correctness first: the float copy is the product bit for bit; the fixed tile is the scalar fixed-point formula.
    product(); floatCopy(); fixedCopy();
    if (!yProduct.AsSpan().SequenceEqual(yFloat)) throw new InvalidOperationException(name + ": the float copy differs from QConvNchw");
    var acc = Accumulators(x, w, folded, c, plane, m);
    for (int i = 0; i < acc.Length; i++)
    {
        var fp = fixedPoint[i / plane];
        int want = Math.Max(lo, Math.Min(hi, FixedPoint.Apply(acc[i], fp) + zy));
        if (yFixed[i] != want) throw new InvalidOperationException($"{name}: fixed tile output {i} is {yFixed[i]}, the formula gives {want}");
    }
    int differ = yFloat.Zip(yFixed).Count(p => p.First != p.Second);

    var (tp, tf) = PairTimer.Time(product, floatCopy, 20_000, 15);
    var (tf2, tx) = PairTimer.Time(floatCopy, fixedCopy, 20_000, 15);
    Console.WriteLine($"{name,-40} {tp,9:F1} {tf2,9:F1} {tx,9:F1} {tx / tf2,10:F3}x {differ,10:N0}");
}

// Σ_k (x − 128)·w + folded bias, per output (NCHW), the accumulators both tiles requantize.
static int[] Accumulators(byte[] x, int[] w, int[] folded, int c, int plane, int m)
{
    var acc = new int[m * plane];
    for (int oc = 0; oc < m; oc++)
        for (int p = 0; p < plane; p++)
        {
            int s = folded[oc];
            for (int k = 0; k < c; k++) s += (x[k * plane + p] - 128) * w[oc * c + k];
            acc[oc * plane + p] = s;
        }
    return acc;
}

void EpilogueOnly()
{
    var acc = Enumerable.Range(0, 1024).Select(_ => rng.Next(-40_000, 40_000)).ToArray();
    var y = new byte[65536];
    var fa = FixedPoint.Of(0.0013); var fb = FixedPoint.Of(0.0011);
    Action f = () => Tile.EpilogueLoop(false, acc, 0.0013f, 0.0011f, fa, fb, y, 100, 100, 255);
    Action x = () => Tile.EpilogueLoop(true, acc, 0.0013f, 0.0011f, fa, fb, y, 100, 100, 255);
    var (tf, tx) = PairTimer.Time(f, x, 20_000, 15);
    Console.WriteLine($"  float32 {tf * 1000 / y.Length,6:F3} ns per output, fixed {tx * 1000 / y.Length,6:F3} ns per output, fixed/float {tx / tf:F2}x");
}

void Scalar()
{
    var acc = Enumerable.Range(0, 65536).Select(_ => rng.Next(-40_000, 40_000)).ToArray();
    var y = new byte[acc.Length];
    const double real = 0.0013;
    float scale = RequantScale.FromReal(real);
    var fp = FixedPoint.Of(real);
    int zy = 100, lo = 100, hi = 255;
    Action f = () =>
    {
        for (int i = 0; i < acc.Length; i++) y[i] = (byte)(Requantize.Apply(acc[i], scale, lo - zy, hi - zy) + zy);
    };
    Action x = () =>
    {
        for (int i = 0; i < acc.Length; i++) y[i] = (byte)Math.Max(lo, Math.Min(hi, FixedPoint.Apply(acc[i], fp) + zy));
    };
    var (tf, tx) = PairTimer.Time(f, x, 20_000, 15);
    Console.WriteLine($"  float32 {tf * 1000 / acc.Length,6:F3} ns per output, fixed {tx * 1000 / acc.Length,6:F3} ns per output, fixed/float {tx / tf:F2}x");
}

/// <summary>
/// A fixed-point multiplier: M ≈ Q·2^−Shift with Q ∈ [2^30, 2^31) (TFLite's QuantizeMultiplier) and the total right shift
/// S = 31 − exponent; the AVX2 tile below needs 32 ≤ S ≤ 62 (2^−32 ≤ M &lt; 0.5), which every layer here has.
/// </summary>
readonly record struct FixedPoint(int Q, int Shift)
{
    public static FixedPoint Of(double m)
    {
        int e = Math.ILogB(m) + 1;
        long q = (long)Math.Round(Math.ScaleB(m, 31 - e), MidpointRounding.AwayFromZero);
        if (q == 1L << 31) { q >>= 1; e++; }
        return new FixedPoint((int)q, 31 - e);
    }

    /// <summary>(acc·Q + 2^(S−1)) >> S: one rounding, ties toward +∞.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Apply(int acc, FixedPoint f) => (int)(((long)acc * f.Q + (1L << (f.Shift - 1))) >> f.Shift);
}

/// <summary>A copy of QConvNchw's pointwise path and AVX2 tile with the epilogue as a choice.</summary>
static class Tile
{
    const int PixelBlock = 16, RowBlock = 4;

    public static void Pointwise(bool fixedPoint, byte[] x, sbyte[] packedW, int[] folded, float[] scale, FixedPoint[] fp, byte[] y,
        byte[] packed, int c, int plane, int m, int chunk, int zy, int lo, int hi)
    {
        int quads = (c + 3) / 4, blocks = (m + RowBlock - 1) / RowBlock;
        Span<int> offsets = stackalloc int[blocks * RowBlock];
        Span<float> scales = stackalloc float[blocks * RowBlock];
        Span<FixedPoint> fps = stackalloc FixedPoint[blocks * RowBlock];
        offsets.Clear(); scales.Clear(); fps.Fill(new FixedPoint(0, 32));
        for (int oc = 0; oc < m; oc++) { offsets[oc] = folded[oc]; scales[oc] = scale[oc]; fps[oc] = fp[oc]; }
        for (int p0 = 0; p0 < plane; p0 += chunk)
        {
            int pixels = Math.Min(chunk, plane - p0);
            Pack(x.AsSpan(p0), plane, plane - p0, packed, c, pixels);
            for (int b = 0; b < blocks; b++)
            {
                int oc0 = b * RowBlock, rows = Math.Min(RowBlock, m - oc0);
                var wBlock = packedW.AsSpan(b * quads * 16, quads * 16);
                var yBlock = y.AsSpan(oc0 * plane + p0);
                if (fixedPoint) BlockFixed(packed, wBlock, quads, pixels, offsets.Slice(oc0, 4), fps.Slice(oc0, 4), yBlock, plane, rows, zy, lo, hi);
                else BlockFloat(packed, wBlock, quads, pixels, offsets.Slice(oc0, 4), scales.Slice(oc0, 4), yBlock, plane, rows, zy, lo, hi);
            }
        }
    }

    /// <summary>QConvNchw.BlockAvx2 as it is (float32 scale epilogue).</summary>
    static void BlockFloat(ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
        ReadOnlySpan<int> offsets, ReadOnlySpan<float> scales, Span<byte> y, int plane, int rows, int yZeroPoint, int clampMin, int clampMax)
    {
        ref byte a0 = ref MemoryMarshal.GetReference(packed);
        ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
        ref byte y0 = ref MemoryMarshal.GetReference(y);
        var off0 = Vector256.Create(offsets[0]); var off1 = Vector256.Create(offsets[1]);
        var off2 = Vector256.Create(offsets[2]); var off3 = Vector256.Create(offsets[3]);
        var s0 = Vector256.Create(scales[0]); var s1 = Vector256.Create(scales[1]);
        var s2 = Vector256.Create(scales[2]); var s3 = Vector256.Create(scales[3]);
        var lo = Vector256.Create((byte)clampMin); var hi = Vector256.Create((float)(clampMax - yZeroPoint));
        var zy = Vector256.Create((short)yZeroPoint);
        var ones = Vector256.Create((short)1);
        Span<byte> partial = stackalloc byte[2 * PixelBlock];
        for (int p = 0; p < pixels; p += PixelBlock)
        {
            ref byte a = ref Unsafe.Add(ref a0, p * 4 * quads);
            Vector256<int> c00 = off0, c01 = off0, c10 = off1, c11 = off1, c20 = off2, c21 = off2, c30 = off3, c31 = off3;
            ref sbyte wq = ref w0;
            for (int q = 0; q < quads; q++)
            {
                var xa = Vector256.LoadUnsafe(ref a).AsSByte();
                var xb = Vector256.LoadUnsafe(ref a, 32).AsSByte();
                a = ref Unsafe.Add(ref a, 64);
                var aa = Avx2.Abs(xa);
                var ab = Avx2.Abs(xb);
                var w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref wq))).AsSByte();
                c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 4)))).AsSByte();
                c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 8)))).AsSByte();
                c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 12)))).AsSByte();
                c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                wq = ref Unsafe.Add(ref wq, 16);
            }
            int count = Math.Min(PixelBlock, pixels - p);
            var r01 = FloatRows(c00, c01, c10, c11, s0, s1, hi, zy, lo);
            StoreRows(r01, ref Unsafe.Add(ref y0, p), plane, Math.Min(rows, 2), count, partial);
            if (rows > 2)
            {
                var r23 = FloatRows(c20, c21, c30, c31, s2, s3, hi, zy, lo);
                StoreRows(r23, ref Unsafe.Add(ref y0, 2 * plane + p), plane, rows - 2, count, partial);
            }
        }
    }

    /// <summary>The same tile with the fixed-point epilogue (<see cref="FixedRows"/>).</summary>
    static void BlockFixed(ReadOnlySpan<byte> packed, ReadOnlySpan<sbyte> wBlock, int quads, int pixels,
        ReadOnlySpan<int> offsets, ReadOnlySpan<FixedPoint> fp, Span<byte> y, int plane, int rows, int yZeroPoint, int clampMin, int clampMax)
    {
        ref byte a0 = ref MemoryMarshal.GetReference(packed);
        ref sbyte w0 = ref MemoryMarshal.GetReference(wBlock);
        ref byte y0 = ref MemoryMarshal.GetReference(y);
        var off0 = Vector256.Create(offsets[0]); var off1 = Vector256.Create(offsets[1]);
        var off2 = Vector256.Create(offsets[2]); var off3 = Vector256.Create(offsets[3]);
        var k0 = new FixedRow(fp[0], yZeroPoint); var k1 = new FixedRow(fp[1], yZeroPoint);
        var k2 = new FixedRow(fp[2], yZeroPoint); var k3 = new FixedRow(fp[3], yZeroPoint);
        var lo = Vector256.Create((byte)clampMin); var hi = Vector256.Create((byte)clampMax);
        var ones = Vector256.Create((short)1);
        Span<byte> partial = stackalloc byte[2 * PixelBlock];
        for (int p = 0; p < pixels; p += PixelBlock)
        {
            ref byte a = ref Unsafe.Add(ref a0, p * 4 * quads);
            Vector256<int> c00 = off0, c01 = off0, c10 = off1, c11 = off1, c20 = off2, c21 = off2, c30 = off3, c31 = off3;
            ref sbyte wq = ref w0;
            for (int q = 0; q < quads; q++)
            {
                var xa = Vector256.LoadUnsafe(ref a).AsSByte();
                var xb = Vector256.LoadUnsafe(ref a, 32).AsSByte();
                a = ref Unsafe.Add(ref a, 64);
                var aa = Avx2.Abs(xa);
                var ab = Avx2.Abs(xb);
                var w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref wq))).AsSByte();
                c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 4)))).AsSByte();
                c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 8)))).AsSByte();
                c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                w = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref wq, 12)))).AsSByte();
                c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aa, Avx2.Sign(w, xa)), ones));
                c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ab, Avx2.Sign(w, xb)), ones));
                wq = ref Unsafe.Add(ref wq, 16);
            }
            int count = Math.Min(PixelBlock, pixels - p);
            var r01 = FixedRows(c00, c01, c10, c11, k0, k1, lo, hi);
            StoreRows(r01, ref Unsafe.Add(ref y0, p), plane, Math.Min(rows, 2), count, partial);
            if (rows > 2)
            {
                var r23 = FixedRows(c20, c21, c30, c31, k2, k3, lo, hi);
                StoreRows(r23, ref Unsafe.Add(ref y0, 2 * plane + p), plane, rows - 2, count, partial);
            }
        }
    }

    /// <summary>QConvNchw.PackRows: cvtdq2ps, mulps, minps, cvtps2dq per 8; packssdw, vpaddsw zy, packuswb, vpmaxub, vpermd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> FloatRows(Vector256<int> a0, Vector256<int> a1, Vector256<int> b0, Vector256<int> b1,
        Vector256<float> sa, Vector256<float> sb, Vector256<float> hi, Vector256<short> zy, Vector256<byte> lo)
    {
        var wa = Avx2.AddSaturate(Avx2.PackSignedSaturate(ScaleMin(a0, sa, hi), ScaleMin(a1, sa, hi)), zy);
        var wb = Avx2.AddSaturate(Avx2.PackSignedSaturate(ScaleMin(b0, sb, hi), ScaleMin(b1, sb, hi)), zy);
        var bytes = Avx2.Max(Avx2.PackUnsignedSaturate(wa, wb), lo).AsInt32();
        return Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> ScaleMin(Vector256<int> acc, Vector256<float> scale, Vector256<float> hi)
        => Avx.ConvertToVector256Int32(Avx.Min(Avx.Multiply(Avx.ConvertToVector256Single(acc), scale), hi));

    /// <summary>
    /// One output row's fixed-point constants: Q broadcast (vpmuldq reads the even dwords), the 64-bit addend
    /// 2^62 + 2^(S−1) (2^62 makes every sum positive, so the logical vpsrlq acts as an arithmetic shift; |acc·Q| &lt; 2^62),
    /// the shift counts S (even lanes) and S − 32 (odd lanes: their result lands in the high dword), and zy − 2^(62−S)
    /// (mod 2^32) to add after the shift.
    /// </summary>
    readonly struct FixedRow
    {
        public readonly Vector256<int> Q;
        public readonly Vector256<long> Round;
        public readonly Vector128<long> ShiftEven, ShiftOdd;
        public readonly Vector256<int> Zero;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public FixedRow(FixedPoint f, int zy)
        {
            if (f.Shift < 32 || f.Shift > 62) throw new ArgumentOutOfRangeException(nameof(f), "this tile takes 2^−32 ≤ M < 0.5");
            Q = Vector256.Create(f.Q);
            Round = Vector256.Create((1L << 62) + (1L << (f.Shift - 1)));
            ShiftEven = Vector128.CreateScalar((long)f.Shift);
            ShiftOdd = Vector128.CreateScalar((long)f.Shift - 32);
            Zero = Vector256.Create(unchecked(zy - (int)(1L << (62 - f.Shift))));
        }
    }

    /// <summary>8 lanes: vpsrlq 32 (odd lanes down), 2× vpmuldq, 2× vpaddq, 2× vpsrlq, vpblendd, vpaddd (zero point and bias).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> FixedScale(Vector256<int> acc, in FixedRow k)
    {
        var even = Avx2.Add(Avx2.Multiply(acc, k.Q), k.Round);
        var odd = Avx2.Add(Avx2.Multiply(Avx2.ShiftRightLogical(acc.AsInt64(), 32).AsInt32(), k.Q), k.Round);
        var r = Avx2.Blend(Avx2.ShiftRightLogical(even, k.ShiftEven).AsInt32(), Avx2.ShiftRightLogical(odd, k.ShiftOdd).AsInt32(), 0b10101010);
        return Avx2.Add(r, k.Zero);
    }

    /// <summary>Two rows of 16: <see cref="FixedScale"/> (zero point included), packssdw, packuswb, vpmaxub lo, vpminub hi, vpermd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> FixedRows(Vector256<int> a0, Vector256<int> a1, Vector256<int> b0, Vector256<int> b1,
        in FixedRow ka, in FixedRow kb, Vector256<byte> lo, Vector256<byte> hi)
    {
        var wa = Avx2.PackSignedSaturate(FixedScale(a0, ka), FixedScale(a1, ka));
        var wb = Avx2.PackSignedSaturate(FixedScale(b0, kb), FixedScale(b1, kb));
        var bytes = Avx2.Min(Avx2.Max(Avx2.PackUnsignedSaturate(wa, wb), lo), hi).AsInt32();
        return Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsByte();
    }

    /// <summary>
    /// Both epilogues over accumulators cycled from a small array (L1-resident; <paramref name="acc"/>.Length a power of
    /// two ≥ 32): per 32 outputs, four loads, one epilogue of two rows of 16, one 32-byte store.
    /// </summary>
    public static void EpilogueLoop(bool fixedPoint, int[] acc, float sa, float sb, FixedPoint fa, FixedPoint fb, byte[] y, int zy, int lo, int hi)
    {
        ref int a = ref acc[0];
        ref byte d = ref y[0];
        int mask = acc.Length - 1;
        if (fixedPoint)
        {
            var ka = new FixedRow(fa, zy); var kb = new FixedRow(fb, zy);
            var vlo = Vector256.Create((byte)lo); var vhi = Vector256.Create((byte)hi);
            for (int i = 0; i < y.Length; i += 32)
            {
                nuint j = (nuint)(i & mask);
                FixedRows(Vector256.LoadUnsafe(ref a, j), Vector256.LoadUnsafe(ref a, j + 8), Vector256.LoadUnsafe(ref a, j + 16), Vector256.LoadUnsafe(ref a, j + 24),
                    ka, kb, vlo, vhi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else
        {
            var va = Vector256.Create(sa); var vb = Vector256.Create(sb);
            var vhi = Vector256.Create((float)(hi - zy)); var vzy = Vector256.Create((short)zy); var vlo = Vector256.Create((byte)lo);
            for (int i = 0; i < y.Length; i += 32)
            {
                nuint j = (nuint)(i & mask);
                FloatRows(Vector256.LoadUnsafe(ref a, j), Vector256.LoadUnsafe(ref a, j + 8), Vector256.LoadUnsafe(ref a, j + 16), Vector256.LoadUnsafe(ref a, j + 24),
                    va, vb, vhi, vzy, vlo).StoreUnsafe(ref d, (nuint)i);
            }
        }
    }

    /// <summary>32 outputs (two rows of 16) with the float epilogue, not inlined: for DOTNET_JitDisasm.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Vector256<byte> EpilogueFloat32(int[] acc, float sa, float sb, int zy, int lo, int hi)
        => FloatRows(Vector256.Create(acc, 0), Vector256.Create(acc, 8), Vector256.Create(acc, 16), Vector256.Create(acc, 24),
            Vector256.Create(sa), Vector256.Create(sb), Vector256.Create((float)(hi - zy)), Vector256.Create((short)zy), Vector256.Create((byte)lo));

    /// <summary>32 outputs with the fixed-point epilogue, not inlined: for DOTNET_JitDisasm.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Vector256<byte> EpilogueFixed32(int[] acc, FixedPoint fa, FixedPoint fb, int zy, int lo, int hi)
        => FixedRows(Vector256.Create(acc, 0), Vector256.Create(acc, 8), Vector256.Create(acc, 16), Vector256.Create(acc, 24),
            new FixedRow(fa, zy), new FixedRow(fb, zy), Vector256.Create((byte)lo), Vector256.Create((byte)hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRows(Vector256<byte> pair, ref byte dst, int plane, int rows, int count, Span<byte> partial)
    {
        if (count == PixelBlock)
        {
            pair.GetLower().StoreUnsafe(ref dst);
            if (rows > 1) pair.GetUpper().StoreUnsafe(ref Unsafe.Add(ref dst, plane));
            return;
        }
        pair.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
        for (int j = 0; j < count; j++) Unsafe.Add(ref dst, j) = partial[j];
        if (rows > 1)
            for (int j = 0; j < count; j++) Unsafe.Add(ref dst, plane + j) = partial[PixelBlock + j];
    }

    /// <summary>QConvNchw.Pack (x86): K rows interleaved by quads into 16-pixel blocks, flipped to x − 128.</summary>
    static void Pack(ReadOnlySpan<byte> src, int stride, int available, Span<byte> dst, int k, int pixels)
    {
        int quads = (k + 3) / 4;
        ref byte s0 = ref MemoryMarshal.GetReference(src);
        ref byte d0 = ref MemoryMarshal.GetReference(dst);
        Span<byte> edge = stackalloc byte[4 * PixelBlock];
        ref byte e0 = ref MemoryMarshal.GetReference(edge);
        for (int p = 0, blk = 0; p < pixels; p += PixelBlock, blk++)
        {
            bool whole = p + PixelBlock <= available;
            int count = Math.Min(PixelBlock, available - p);
            for (int q = 0; q < quads; q++)
            {
                scoped ref byte r0 = ref Unsafe.Add(ref s0, Math.Min(4 * q, k - 1) * stride + p);
                scoped ref byte r1 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 1, k - 1) * stride + p);
                scoped ref byte r2 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 2, k - 1) * stride + p);
                scoped ref byte r3 = ref Unsafe.Add(ref s0, Math.Min(4 * q + 3, k - 1) * stride + p);
                if (!whole)
                {
                    edge.Clear();
                    for (int j = 0; j < count; j++)
                    {
                        Unsafe.Add(ref e0, j) = Unsafe.Add(ref r0, j);
                        Unsafe.Add(ref e0, PixelBlock + j) = Unsafe.Add(ref r1, j);
                        Unsafe.Add(ref e0, 2 * PixelBlock + j) = Unsafe.Add(ref r2, j);
                        Unsafe.Add(ref e0, 3 * PixelBlock + j) = Unsafe.Add(ref r3, j);
                    }
                    r0 = ref e0; r1 = ref Unsafe.Add(ref e0, PixelBlock); r2 = ref Unsafe.Add(ref e0, 2 * PixelBlock); r3 = ref Unsafe.Add(ref e0, 3 * PixelBlock);
                }
                var xor = Vector128.Create((byte)0x80);
                var va = Vector128.LoadUnsafe(ref r0) ^ xor;
                var vb = Vector128.LoadUnsafe(ref r1) ^ xor;
                var vc = Vector128.LoadUnsafe(ref r2) ^ xor;
                var ve = Vector128.LoadUnsafe(ref r3) ^ xor;
                var abLo = Sse2.UnpackLow(va, vb); var abHi = Sse2.UnpackHigh(va, vb);
                var ceLo = Sse2.UnpackLow(vc, ve); var ceHi = Sse2.UnpackHigh(vc, ve);
                ref byte dq = ref Unsafe.Add(ref d0, (blk * quads + q) * 64);
                Sse2.UnpackLow(abLo.AsUInt16(), ceLo.AsUInt16()).AsByte().StoreUnsafe(ref dq);
                Sse2.UnpackHigh(abLo.AsUInt16(), ceLo.AsUInt16()).AsByte().StoreUnsafe(ref dq, 16);
                Sse2.UnpackLow(abHi.AsUInt16(), ceHi.AsUInt16()).AsByte().StoreUnsafe(ref dq, 32);
                Sse2.UnpackHigh(abHi.AsUInt16(), ceHi.AsUInt16()).AsByte().StoreUnsafe(ref dq, 48);
            }
        }
    }
}
