#nullable enable
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// ONNX QuantizeLinear, float32 → uint8/int8: y = saturate(round_half_even(x / scale) + zp), x / scale in float32,
    /// NaN → zp. Per tensor (channels = 1) or per channel (element i uses channel i / inner % channels); 16-bit outputs and
    /// blocked scales take the scalar <see cref="Blocked{T}"/>.
    /// </summary>
    /// <remarks>
    /// The vector paths clamp x / scale to [qmin − zp, qmax − zp] first (clamping to integers commutes with rounding),
    /// then round to nearest even with the 1.5·2^23 trick (exact for |v| &lt; 2^22), so they agree with the scalar
    /// MathF.Round(v, ToEven) bit for bit.
    /// </remarks>
    internal static class QuantizeLinear
    {
        public enum Path { Scalar, Vector128, Vector256 }

        public static Path Best => Vector256.IsHardwareAccelerated ? Path.Vector256 : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

        public static bool IsSupported(Path p) => p switch
        {
            Path.Vector256 => Vector256.IsHardwareAccelerated,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        public static void ToUInt8(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<byte> y, int channels, int inner)
            => Run(Best, x, scale, zeroPoint, y, channels, inner, 0, 255);

        public static void ToInt8(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<sbyte> y, int channels, int inner)
            => Run(Best, x, scale, zeroPoint, MemoryMarshal.Cast<sbyte, byte>(y), channels, inner, -128, 127);

        /// <summary>As <see cref="ToUInt8(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{byte}, int, int)"/> with the zero points as the model stores them (constant or computed at run time).</summary>
        public static void ToUInt8(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<byte> zeroPoint, Span<byte> y, int channels, int inner)
            => Run(Best, x, scale, zeroPoint, y, channels, inner, 0, 255);

        /// <summary>As <see cref="ToInt8(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{sbyte}, int, int)"/> with int8 zero points.</summary>
        public static void ToInt8(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<sbyte> zeroPoint, Span<sbyte> y, int channels, int inner)
            => Run(Best, x, scale, zeroPoint, MemoryMarshal.Cast<sbyte, byte>(y), channels, inner, -128, 127);

        /// <summary>Runs one path; <paramref name="y"/> receives the low 8 bits (the uint8 or int8 pattern).</summary>
        public static void Run(Path path, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<byte> y,
            int channels, int inner, int qmin, int qmax)
            => Run<int>(path, x, scale, zeroPoint, y, channels, inner, qmin, qmax);

        /// <summary>Runs one path with zero points of any integer type.</summary>
        public static void Run<TZ>(Path path, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<TZ> zeroPoint, Span<byte> y,
            int channels, int inner, int qmin, int qmax) where TZ : unmanaged, IBinaryInteger<TZ>
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QuantizeLinear path " + path);
            if (channels <= 0 || inner <= 0 || scale.Length < channels || zeroPoint.Length < channels || x.Length % (channels * inner) != 0 || y.Length < x.Length)
                throw new ArgumentException("QuantizeLinear operand sizes do not match");
            int i = 0;
            while (i < x.Length)
            {
                int c = i / inner % channels;
                int run = inner - i % inner;
                Block(path, x.Slice(i, run), scale[c], int.CreateTruncating(zeroPoint[c]), y.Slice(i, run), qmin, qmax);
                i += run;
            }
        }

        /// <summary>
        /// The general scalar form, for any output type T (uint8, int8, uint16, int16) and every granularity. x is viewed as
        /// [outer, axis, inner]; element (o, c, j) uses scale and zero point number 0 (per tensor), c (per axis), or
        /// (o·scaleAxis + c / block)·inner + j (blocked: scaleAxis = ceil(axis / block) &gt; 0).
        /// </summary>
        public static void Blocked<T>(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<T> zeroPoint, Span<T> y,
            int outer, int axis, int inner, int block, int scaleAxis, bool perAxis, int qmin, int qmax) where T : unmanaged, IBinaryInteger<T>
        {
            if ((long)outer * axis * inner != x.Length || y.Length < x.Length || block <= 0 || zeroPoint.Length < scale.Length)
                throw new ArgumentException("QuantizeLinear operand sizes do not match");
            int i = 0;
            for (int o = 0; o < outer; o++)
                for (int c = 0; c < axis; c++)
                    for (int j = 0; j < inner; j++, i++)
                    {
                        int s = scaleAxis == 0 ? (perAxis ? c : 0) : (o * scaleAxis + c / block) * inner + j;
                        float v = x[i] / scale[s];
                        int zp = int.CreateTruncating(zeroPoint[s]);
                        if (float.IsNaN(v)) v = 0;
                        v = MathF.Min(MathF.Max(v, qmin - zp), qmax - zp);
                        y[i] = T.CreateTruncating((int)MathF.Round(v, MidpointRounding.ToEven) + zp);
                    }
        }

        /// <summary>
        /// One per-tensor run on the fastest path: y[i] = saturate(round_half_even(x[i] / scale) + zp) into [qmin, qmax], the
        /// low 8 bits stored (for kernels that quantize their float input on the fly, e.g. QConvNchw's float-input entry).
        /// </summary>
        public static void Row(ReadOnlySpan<float> x, float scale, int zp, Span<byte> y, int qmin, int qmax)
        {
            if (y.Length < x.Length) throw new ArgumentException("QuantizeLinear operand sizes do not match");
            Block(Best, x, scale, zp, y, qmin, qmax);
        }

        /// <summary>
        /// <see cref="Row"/> to uint8 with the results of even and odd x indices stored apart: even[j] = q(x[2j]),
        /// odd[j] = q(x[2j + 1]) (a stride-2 convolution's column phases). The same arithmetic as <see cref="Block"/>.
        /// </summary>
        public static void RowSplit2(ReadOnlySpan<float> x, float scale, int zp, Span<byte> even, Span<byte> odd)
        {
            int n = x.Length, i = 0;
            if (even.Length < (n + 1) / 2 || odd.Length < n / 2) throw new ArgumentException("QuantizeLinear operand sizes do not match");
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref byte e0 = ref MemoryMarshal.GetReference(even);
            ref byte o0 = ref MemoryMarshal.GetReference(odd);
            float lo = -zp, hi = 255 - zp;
            if (Avx512BW.IsSupported && Avx512Vbmi.IsSupported)
            {
                // 64 values per step, the arithmetic of the AVX2 loop below on 16 lanes; after the packs, byte 16L + 4g + j is
                // x[16g + 4L + j] (L = 128-bit lane); one vpermb gathers [even 0–31 | odd 0–31].
                var vs = Vector512.Create(scale); var vlo = Vector512.Create(lo); var vhi = Vector512.Create(hi);
                var vz = Vector512.Create(zp);
                var split = Vector512.Create((byte)0, 2, 16, 18, 32, 34, 48, 50, 4, 6, 20, 22, 36, 38, 52, 54, 8, 10, 24, 26, 40, 42, 56, 58,
                    12, 14, 28, 30, 44, 46, 60, 62, 1, 3, 17, 19, 33, 35, 49, 51, 5, 7, 21, 23, 37, 39, 53, 55, 9, 11, 25, 27, 41, 43, 57, 59,
                    13, 15, 29, 31, 45, 47, 61, 63);
                for (; i + 64 <= n; i += 64)
                {
                    var q0 = ClampConvert512(Avx512F.Divide(Vector512.LoadUnsafe(ref xr, (nuint)i), vs), vlo, vhi) + vz;
                    var q1 = ClampConvert512(Avx512F.Divide(Vector512.LoadUnsafe(ref xr, (nuint)(i + 16)), vs), vlo, vhi) + vz;
                    var q2 = ClampConvert512(Avx512F.Divide(Vector512.LoadUnsafe(ref xr, (nuint)(i + 32)), vs), vlo, vhi) + vz;
                    var q3 = ClampConvert512(Avx512F.Divide(Vector512.LoadUnsafe(ref xr, (nuint)(i + 48)), vs), vlo, vhi) + vz;
                    var b = Avx512BW.PackUnsignedSaturate(Avx512BW.PackSignedSaturate(q0, q1), Avx512BW.PackSignedSaturate(q2, q3));
                    var halves = Avx512Vbmi.PermuteVar64x8(b, split);
                    halves.GetLower().StoreUnsafe(ref e0, (nuint)(i / 2));
                    halves.GetUpper().StoreUnsafe(ref o0, (nuint)(i / 2));
                }
            }
            if (Avx2.IsSupported)
            {
                var vs = Vector256.Create(scale); var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                var vz = Vector256.Create(zp);
                // After the packs, dword d of the result holds x[4·order[d] ..]; vpermd puts them in order, vpshufb gathers
                // each lane's even bytes then its odd bytes, vpermq joins the halves: [even 0–15 | odd 0–15].
                var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
                var split = Vector256.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (; i + 32 <= n; i += 32)
                {
                    var q0 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)i), vs, vlo, vhi), vz);
                    var q1 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)), vs, vlo, vhi), vz);
                    var q2 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 16)), vs, vlo, vhi), vz);
                    var q3 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 24)), vs, vlo, vhi), vz);
                    var b = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(q0, q1), Avx2.PackSignedSaturate(q2, q3)).AsInt32();
                    var inOrder = Avx2.Shuffle(Avx2.PermuteVar8x32(b, order).AsByte(), split);
                    var halves = Avx2.Permute4x64(inOrder.AsUInt64(), 0b11_01_10_00).AsByte();
                    halves.GetLower().StoreUnsafe(ref e0, (nuint)(i / 2));
                    halves.GetUpper().StoreUnsafe(ref o0, (nuint)(i / 2));
                }
            }
            for (; i < n; i++)
            {
                float v = Unsafe.Add(ref xr, i) / scale;
                if (float.IsNaN(v)) v = 0;
                v = MathF.Min(MathF.Max(v, lo), hi);
                Unsafe.Add(ref (i % 2 == 0 ? ref e0 : ref o0), i / 2) = (byte)((int)MathF.Round(v, MidpointRounding.ToEven) + zp);
            }
        }

        private static void Block(Path path, ReadOnlySpan<float> x, float scale, int zp, Span<byte> y, int qmin, int qmax)
        {
            int n = x.Length, i = 0;
            float lo = qmin - zp, hi = qmax - zp;
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            const float Magic = 12582912f; // 1.5·2^23: v + Magic − Magic rounds v to nearest even
            if (path == Path.Vector256 && Avx2.IsSupported)
            {
                // x / scale, NaN → 0 (an ordered-compare mask), clamped to [lo, hi] (integers within ±255), then cvtps2dq, which
                // rounds half to even under the default MXCSR (as Requantize.Avx2Scale); the values are in range, so the
                // saturating packs only narrow: int32 → int16 → uint8 (or int8), dwords 0, 4, 1, 5, ... back in order.
                var vs = Vector256.Create(scale); var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                var vz = Vector256.Create(zp); var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
                bool signed = qmin < 0;
                for (; i + 32 <= n; i += 32)
                {
                    var q0 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)i), vs, vlo, vhi), vz);
                    var q1 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)), vs, vlo, vhi), vz);
                    var q2 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 16)), vs, vlo, vhi), vz);
                    var q3 = Avx2.Add(Avx2Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 24)), vs, vlo, vhi), vz);
                    var w0 = Avx2.PackSignedSaturate(q0, q1);
                    var w1 = Avx2.PackSignedSaturate(q2, q3);
                    var b = signed ? Avx2.PackSignedSaturate(w0, w1).AsInt32() : Avx2.PackUnsignedSaturate(w0, w1).AsInt32();
                    Avx2.PermuteVar8x32(b, order).AsByte().StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (path == Path.Vector256)
            {
                var vs = Vector256.Create(scale); var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                var vm = Vector256.Create(Magic); var vz = Vector256.Create(zp);
                for (; i + 32 <= n; i += 32)
                {
                    var q0 = Step(Vector256.LoadUnsafe(ref xr, (nuint)i), vs, vlo, vhi, vm) + vz;
                    var q1 = Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)), vs, vlo, vhi, vm) + vz;
                    var q2 = Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 16)), vs, vlo, vhi, vm) + vz;
                    var q3 = Step(Vector256.LoadUnsafe(ref xr, (nuint)(i + 24)), vs, vlo, vhi, vm) + vz;
                    var w0 = Vector256.Narrow(q0, q1).AsUInt16();
                    var w1 = Vector256.Narrow(q2, q3).AsUInt16();
                    Vector256.Narrow(w0, w1).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (path == Path.Vector128)
            {
                var vs = Vector128.Create(scale); var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi);
                var vm = Vector128.Create(Magic); var vz = Vector128.Create(zp);
                for (; i + 16 <= n; i += 16)
                {
                    var q0 = Step(Vector128.LoadUnsafe(ref xr, (nuint)i), vs, vlo, vhi, vm) + vz;
                    var q1 = Step(Vector128.LoadUnsafe(ref xr, (nuint)(i + 4)), vs, vlo, vhi, vm) + vz;
                    var q2 = Step(Vector128.LoadUnsafe(ref xr, (nuint)(i + 8)), vs, vlo, vhi, vm) + vz;
                    var q3 = Step(Vector128.LoadUnsafe(ref xr, (nuint)(i + 12)), vs, vlo, vhi, vm) + vz;
                    var w0 = Vector128.Narrow(q0, q1).AsUInt16();
                    var w1 = Vector128.Narrow(q2, q3).AsUInt16();
                    Vector128.Narrow(w0, w1).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                float v = Unsafe.Add(ref xr, i) / scale;
                if (float.IsNaN(v)) v = 0;
                v = MathF.Min(MathF.Max(v, lo), hi);
                Unsafe.Add(ref yr, i) = (byte)((int)MathF.Round(v, MidpointRounding.ToEven) + zp);
            }
        }

        /// <summary><see cref="Avx2Step"/> on 16 lanes after the division: NaN → 0, clamped, converted (round half to even).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> ClampConvert512(Vector512<float> v, Vector512<float> lo, Vector512<float> hi)
        {
            v &= Avx512F.CompareOrdered(v, v);
            return Avx512F.ConvertToVector512Int32(Avx512F.Min(Avx512F.Max(v, lo), hi));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Avx2Step(Vector256<float> x, Vector256<float> scale, Vector256<float> lo, Vector256<float> hi)
        {
            var v = Avx.Divide(x, scale);
            v = Avx.And(v, Avx.CompareOrdered(v, v));
            return Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(v, lo), hi));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Step(Vector256<float> x, Vector256<float> scale, Vector256<float> lo, Vector256<float> hi, Vector256<float> magic)
        {
            var v = x / scale;
            v = Vector256.ConditionalSelect(Vector256.Equals(v, v), v, Vector256<float>.Zero);
            v = Vector256.Min(Vector256.Max(v, lo), hi);
            return Vector256.ConvertToInt32(v + magic - magic);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> Step(Vector128<float> x, Vector128<float> scale, Vector128<float> lo, Vector128<float> hi, Vector128<float> magic)
        {
            var v = x / scale;
            v = Vector128.ConditionalSelect(Vector128.Equals(v, v), v, Vector128<float>.Zero);
            v = Vector128.Min(Vector128.Max(v, lo), hi);
            return Vector128.ConvertToInt32(v + magic - magic);
        }
    }
}
