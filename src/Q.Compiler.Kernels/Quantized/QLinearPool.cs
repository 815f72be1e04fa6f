#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// Requires: Requantize
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// com.microsoft QLinearAveragePool (2-D, NCHW) and QLinearGlobalAveragePool (NCHW) on uint8, in integer arithmetic:
    /// acc = Σ window (x − zx) over the window's n valid elements, y = clamp(zy + round(acc · M[n]), 0, 255) with
    /// M[n] = sx / (sy · n) (n = the kernel size when padding counts) as a fixed-point pair per n, applied as
    /// <see cref="Requantize"/> does (64-bit product, ties toward +∞) after clamping acc to ±limit[n].
    /// Window sums are vectorized across output columns when the horizontal stride is 1.
    /// </summary>
    internal static class QLinearPool
    {
        public enum Path { Scalar, Vector128, Vector256 }

        public static Path Best => Vector256.IsHardwareAccelerated ? Path.Vector256 : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

        public static bool IsSupported(Path p) => p switch
        {
            Path.Vector256 => Vector256.IsHardwareAccelerated,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        /// <summary>
        /// Average pooling of <paramref name="planes"/> planes. <paramref name="mult"/>, <paramref name="shift"/>,
        /// <paramref name="limit"/> are indexed by the divisor n (1..kH·kW); <paramref name="acc"/> is scratch of outW ints.
        /// </summary>
        public static void Average(ReadOnlySpan<byte> x, Span<byte> y, Span<int> acc, int planes, int inH, int inW, int outH, int outW,
            int kH, int kW, int sH, int sW, int padT, int padL, bool includePad, int zx, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift,
            ReadOnlySpan<int> limit, int zy)
            => AverageRun(Best, x, y, acc, planes, inH, inW, outH, outW, kH, kW, sH, sW, padT, padL, includePad, zx, mult, shift, limit, zy);

        public static void AverageRun(Path path, ReadOnlySpan<byte> x, Span<byte> y, Span<int> acc, int planes, int inH, int inW, int outH, int outW,
            int kH, int kW, int sH, int sW, int padT, int padL, bool includePad, int zx, ReadOnlySpan<int> mult, ReadOnlySpan<int> shift,
            ReadOnlySpan<int> limit, int zy)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLinearPool path " + path);
            if (acc.Length < outW || x.Length < planes * inH * inW || y.Length < planes * outH * outW || mult.Length <= kH * kW)
                throw new ArgumentException("QLinearPool operand sizes do not match");
            var row = acc.Slice(0, outW);
            for (int p = 0; p < planes; p++)
            {
                var xp = x.Slice(p * inH * inW, inH * inW);
                for (int oy = 0; oy < outH; oy++)
                {
                    int y0 = Math.Max(0, oy * sH - padT), y1 = Math.Min(inH, oy * sH - padT + kH);
                    int rowsValid = Math.Max(0, y1 - y0);
                    row.Clear();
                    for (int iy = y0; iy < y1; iy++)
                    {
                        var xr = xp.Slice(iy * inW, inW);
                        if (sW == 1 && path != Path.Scalar)
                            for (int kx = 0; kx < kW; kx++)
                            {
                                // Output columns whose tap kx is inside the row: 0 ≤ ox + kx − padL < inW.
                                int ox0 = Math.Max(0, padL - kx), ox1 = Math.Min(outW, inW + padL - kx);
                                if (ox1 > ox0) AddRow(path, xr.Slice(ox0 + kx - padL, ox1 - ox0), row.Slice(ox0, ox1 - ox0));
                            }
                        else
                            for (int ox = 0; ox < outW; ox++)
                            {
                                int x0 = Math.Max(0, ox * sW - padL), x1 = Math.Min(inW, ox * sW - padL + kW);
                                int s = 0;
                                for (int ix = x0; ix < x1; ix++) s += xr[ix];
                                row[ox] += s;
                            }
                    }
                    var yr = y.Slice((p * outH + oy) * outW, outW);
                    for (int ox = 0; ox < outW; ox++)
                    {
                        int x0 = Math.Max(0, ox * sW - padL), x1 = Math.Min(inW, ox * sW - padL + kW);
                        int n = rowsValid * Math.Max(0, x1 - x0);
                        int d = includePad ? kH * kW : n;
                        if (d == 0) { yr[ox] = (byte)zy; continue; }
                        yr[ox] = Finish(row[ox] - n * zx, mult[d], shift[d], limit[d], zy);
                    }
                }
            }
        }

        /// <summary>Global average pooling: each of <paramref name="planes"/> planes of <paramref name="size"/> bytes to one byte.</summary>
        public static void GlobalAverage(ReadOnlySpan<byte> x, Span<byte> y, int planes, int size, int zx, int mult, int shift, int limit, int zy)
            => GlobalAverageRun(Best, x, y, planes, size, zx, mult, shift, limit, zy);

        public static void GlobalAverageRun(Path path, ReadOnlySpan<byte> x, Span<byte> y, int planes, int size, int zx, int mult, int shift, int limit, int zy)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLinearPool path " + path);
            if (x.Length < planes * size || y.Length < planes) throw new ArgumentException("QLinearPool operand sizes do not match");
            for (int p = 0; p < planes; p++)
                y[p] = Finish(Sum(path, x.Slice(p * size, size)) - size * zx, mult, shift, limit, zy);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static byte Finish(int acc, int mult, int shift, int limit, int zy)
        {
            acc = Math.Max(-limit, Math.Min(limit, acc));
            return (byte)Math.Max(0, Math.Min(255, Requantize.Apply(acc, mult, shift) + zy));
        }

        /// <summary>acc[i] += x[i].</summary>
        private static void AddRow(Path path, ReadOnlySpan<byte> x, Span<int> acc)
        {
            int n = x.Length, i = 0;
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref int ar = ref MemoryMarshal.GetReference(acc);
            if (path == Path.Vector256)
                for (; i + 16 <= n; i += 16)
                {
                    var w = Vector256.WidenLower(Vector256.Create(Vector128.LoadUnsafe(ref xr, (nuint)i), Vector128<byte>.Zero));
                    (Vector256.LoadUnsafe(ref ar, (nuint)i) + Vector256.WidenLower(w).AsInt32()).StoreUnsafe(ref ar, (nuint)i);
                    (Vector256.LoadUnsafe(ref ar, (nuint)(i + 8)) + Vector256.WidenUpper(w).AsInt32()).StoreUnsafe(ref ar, (nuint)(i + 8));
                }
            if (path != Path.Scalar)
                for (; i + 8 <= n; i += 8)
                {
                    var w = Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref xr, i))).AsByte());
                    (Vector128.LoadUnsafe(ref ar, (nuint)i) + Vector128.WidenLower(w).AsInt32()).StoreUnsafe(ref ar, (nuint)i);
                    (Vector128.LoadUnsafe(ref ar, (nuint)(i + 4)) + Vector128.WidenUpper(w).AsInt32()).StoreUnsafe(ref ar, (nuint)(i + 4));
                }
            for (; i < n; i++) Unsafe.Add(ref ar, i) += Unsafe.Add(ref xr, i);
        }

        /// <summary>Σ bytes (AVX2: vpsadbw against zero; Vector128: widening adds).</summary>
        private static int Sum(Path path, ReadOnlySpan<byte> x)
        {
            int n = x.Length, i = 0;
            ref byte xr = ref MemoryMarshal.GetReference(x);
            long s = 0;
            if (path == Path.Vector256 && Avx2.IsSupported)
            {
                var acc = Vector256<ulong>.Zero;
                for (; i + 32 <= n; i += 32)
                    acc = Avx2.Add(acc, Avx2.SumAbsoluteDifferences(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256<byte>.Zero).AsUInt64());
                s += (long)Vector256.Sum(acc);
            }
            if (path != Path.Scalar)
            {
                var acc = Vector128<uint>.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    var v = Vector128.LoadUnsafe(ref xr, (nuint)i);
                    var w = Vector128.WidenLower(v) + Vector128.WidenUpper(v);
                    acc += Vector128.WidenLower(w) + Vector128.WidenUpper(w);
                }
                s += Vector128.Sum(acc);
            }
            for (; i < n; i++) s += Unsafe.Add(ref xr, i);
            return (int)s;
        }
    }
}
