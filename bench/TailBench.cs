// Times the float kernels behind a detector's post-processing and the int8 build's input quantization at UltraFace's
// shapes (QuantizeLinear 1×3×240×320, Slice/Concat of [1, 4420, 4] boxes, Softmax over 4,420 rows of 2, Exp of 8,840
// values, NHWC transposes of the heads) against the straightforward loops they replaced.
// Run: dotnet run -c Release bench/TailBench.cs [filter]
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
Console.WriteLine($"timing by {ThreadClock.Kind}");
Console.WriteLine($"{"kernel",-44} {"loop us",9} {"kernel us",9} {"speed-up",8}");

float[] Rand(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

{
    int n = 3 * 240 * 320;
    var x = Rand(n, 1f);
    var y = new byte[n];
    float scale = 2f / 255; int zp = 128;
    Row("quantize 1x3x240x320 u8", () =>
    {
        for (int i = 0; i < n; i++)
            y[i] = (byte)(Math.Clamp((int)MathF.Round(x[i] / scale, MidpointRounding.ToEven) + zp, 0, 255));
    }, () => QuantizeLinear.ToUInt8(x, [scale], [zp], y, 1, n));
    Row("  old quantize (divide) vs new", () => OldQuantize.Run(x, scale, zp, y), () => QuantizeLinear.ToUInt8(x, [scale], [zp], y, 1, n));
    float sink = 0;
    Row("  (read x once: Vector256 sum, copy to bytes)", () => { var acc = System.Runtime.Intrinsics.Vector256<float>.Zero; for (int i = 0; i + 8 <= n; i += 8) acc += System.Runtime.Intrinsics.Vector256.Create(x.AsSpan(i, 8)); sink += System.Runtime.Intrinsics.Vector256.Sum(acc); },
        () => { for (int i = 0; i < n; i++) y[i] = (byte)i; });
    int rows0 = 4420; var xs = Rand(rows0 * 4, 3f); var ys = new float[rows0 * 2];
    Row("  old Strided.Copy vs new: slice", () => OldStrided.Copy<float>(xs, ys, [rows0, 2], [4, 1], 2), () => Strided.Copy<float>(xs, ys, [rows0, 2], [4, 1], 2));
}
{
    int rows = 4420;
    var x = Rand(rows * 4, 3f);
    var y = new float[rows * 2];
    Row("slice [4420,4] -> [4420,2]", () =>
    {
        for (int r = 0; r < rows; r++) x.AsSpan(r * 4 + 2, 2).CopyTo(y.AsSpan(r * 2, 2));
    }, () => Strided.Copy<float>(x, y, [rows, 2], [4, 1], 2));
    var z = new float[rows * 4];
    Row("concat 2 x [4420,2] -> [4420,4]", () =>
    {
        for (int r = 0; r < rows; r++) { y.AsSpan(r * 2, 2).CopyTo(z.AsSpan(r * 4, 2)); y.AsSpan(r * 2, 2).CopyTo(z.AsSpan(r * 4 + 2, 2)); }
    }, () => { Strided.CopyRows<float>(y, 0, 2, z, 0, 4, rows, 2); Strided.CopyRows<float>(y, 0, 2, z, 2, 4, rows, 2); });
    var s = new float[rows * 2];
    Row("softmax 4420 rows of 2", () =>
    {
        for (int r = 0; r < rows; r++)
        {
            float a = x[2 * r], b = x[2 * r + 1], m = MathF.Max(a, b);
            float ea = MathF.Exp(a - m), eb = MathF.Exp(b - m), inv = 1f / (ea + eb);
            s[2 * r] = ea * inv; s[2 * r + 1] = eb * inv;
        }
    }, () => Softmax.Rows(x.AsSpan(0, 2 * rows), s, rows, 2, false));
    var e = new float[rows * 2];
    Row("exp 8840", () => { for (int i = 0; i < e.Length; i++) e[i] = MathF.Exp(x[i]); },
        () => Elementwise.Unary<float>(x.AsSpan(0, e.Length), e, 10, 0, 0));
}
{
    int n = 16 * 30 * 40;
    var x = Enumerable.Range(0, n).Select(_ => (byte)rng.Next(256)).ToArray();
    var table = Enumerable.Range(0, 256).Select(i => (byte)(255 - i / 2)).ToArray();
    var y = new byte[n];
    Row("lookup 19200 bytes (QLinearConcat part)", () => QLookup.RunPath(QLookup.Path.Scalar, x, table, y), () => QLookup.Run(x, table, y));
}
foreach (var (c, h, w) in new[] { (12, 30, 40), (6, 30, 40), (8, 15, 20), (4, 15, 20) })
{
    var x = Rand(c * h * w, 1f);
    var y = new float[x.Length];
    int hw = h * w;
    Row($"transpose [1,{c},{h},{w}] -> NHWC", () =>
    {
        for (int i = 0; i < hw; i++) for (int j = 0; j < c; j++) y[i * c + j] = x[i + j * hw];
    }, () => Transpose.Run<float>(x, y, [hw, c], [1, hw]));
}

void Row(string name, Action loop, Action kernel)
{
    if (!name.Contains(filter)) return;
    var (a, b) = PairTimer.Time(loop, kernel, batchMicroseconds: 10_000, batches: 11);
    Console.WriteLine($"{name,-44} {a,9:F2} {b,9:F2} {a / b,7:F2}x");
}

static class OldStrided
{
    public static void Copy<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> dims, ReadOnlySpan<int> strides, int offset)
    {
        int rank = dims.Length;
        int inner = dims[rank - 1], step = strides[rank - 1];
        if (y.Length == 0 || inner == 0) return;
        int rows = y.Length / inner;
        Span<int> idx = stackalloc int[rank];
        int off = offset;
        for (int r = 0; r < rows; r++)
        {
            var row = y.Slice(r * inner, inner);
            if (step == 1) x.Slice(off, inner).CopyTo(row);
            else if (step == 0) row.Fill(x[off]);
            else
            {
                int o = off;
                for (int i = 0; i < row.Length; i++, o += step) row[i] = x[o];
            }
            for (int d = rank - 2; d >= 0; d--)
            {
                off += strides[d];
                if (++idx[d] < dims[d]) break;
                off -= strides[d] * dims[d];
                idx[d] = 0;
            }
        }
    }
}

static class OldQuantize
{
    public static void Run(ReadOnlySpan<float> x, float scale, int zp, Span<byte> y)
    {
        int n = x.Length, i = 0;
        float lo = 0 - zp, hi = 255 - zp;
        ref float xr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref byte yr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        var vs = Vector256.Create(scale); var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
        var vz = Vector256.Create(zp); var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        for (; i + 32 <= n; i += 32)
        {
            var q0 = Avx2.Add(Step(Vector256.LoadUnsafe(ref xr, (nuint)i), vs, vlo, vhi), vz);
            var q1 = Avx2.Add(Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)), vs, vlo, vhi), vz);
            var q2 = Avx2.Add(Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 16)), vs, vlo, vhi), vz);
            var q3 = Avx2.Add(Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 24)), vs, vlo, vhi), vz);
            var w0 = Avx2.PackSignedSaturate(q0, q1);
            var w1 = Avx2.PackSignedSaturate(q2, q3);
            var b = Avx2.PackUnsignedSaturate(w0, w1).AsInt32();
            Avx2.PermuteVar8x32(b, order).AsByte().StoreUnsafe(ref yr, (nuint)i);
        }
    }

    private static Vector256<int> Step(Vector256<float> x, Vector256<float> scale, Vector256<float> lo, Vector256<float> hi)
    {
        var v = Avx.Divide(x, scale);
        v = Avx.And(v, Avx.CompareOrdered(v, v));
        return Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(v, lo), hi));
    }
}
