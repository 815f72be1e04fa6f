#nullable enable
using System;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// ONNX DequantizeLinear, uint8/int8 → float32: y = (float)(q − zp) · scale (one rounding, no FMA, so every path agrees).
    /// Per tensor (channels = 1) or per channel (element i uses channel i / inner % channels).
    /// </summary>
    internal static class DequantizeLinear
    {
        public enum Path { Scalar, Vector256 }

        public static Path Best => Vector256.IsHardwareAccelerated ? Path.Vector256 : Path.Scalar;

        public static void FromUInt8(ReadOnlySpan<byte> q, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<float> y, int channels, int inner)
            => Run(Best, q, false, scale, zeroPoint, y, channels, inner);

        public static void FromInt8(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<float> y, int channels, int inner)
            => Run(Best, MemoryMarshal.Cast<sbyte, byte>(q), true, scale, zeroPoint, y, channels, inner);

        /// <summary>As <see cref="FromUInt8(ReadOnlySpan{byte}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int, int)"/> with the zero points as the model stores them.</summary>
        public static void FromUInt8(ReadOnlySpan<byte> q, ReadOnlySpan<float> scale, ReadOnlySpan<byte> zeroPoint, Span<float> y, int channels, int inner)
            => Run(Best, q, false, scale, zeroPoint, y, channels, inner);

        /// <summary>As <see cref="FromInt8(ReadOnlySpan{sbyte}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int, int)"/> with int8 zero points.</summary>
        public static void FromInt8(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scale, ReadOnlySpan<sbyte> zeroPoint, Span<float> y, int channels, int inner)
            => Run(Best, MemoryMarshal.Cast<sbyte, byte>(q), true, scale, zeroPoint, y, channels, inner);

        /// <summary>
        /// The general scalar form for any quantized type T (uint8, int8, uint16, int16, int32) and every granularity: q is
        /// viewed as [outer, axis, inner]; element (o, c, j) uses scale and zero point number 0 (per tensor), c (per axis),
        /// or (o·scaleAxis + c / block)·inner + j (blocked: scaleAxis = ceil(axis / block) &gt; 0).
        /// </summary>
        public static void Blocked<T>(ReadOnlySpan<T> q, ReadOnlySpan<float> scale, ReadOnlySpan<T> zeroPoint, Span<float> y,
            int outer, int axis, int inner, int block, int scaleAxis, bool perAxis) where T : unmanaged, IBinaryInteger<T>
        {
            if ((long)outer * axis * inner != q.Length || y.Length < q.Length || block <= 0 || zeroPoint.Length < scale.Length)
                throw new ArgumentException("DequantizeLinear operand sizes do not match");
            int i = 0;
            for (int o = 0; o < outer; o++)
                for (int c = 0; c < axis; c++)
                    for (int j = 0; j < inner; j++, i++)
                    {
                        int s = scaleAxis == 0 ? (perAxis ? c : 0) : (o * scaleAxis + c / block) * inner + j;
                        y[i] = (float)(long.CreateTruncating(q[i]) - long.CreateTruncating(zeroPoint[s])) * scale[s];
                    }
        }

        /// <summary>Runs one path; <paramref name="q"/> holds uint8 values, or int8 bit patterns when <paramref name="signed"/>.</summary>
        public static void Run(Path path, ReadOnlySpan<byte> q, bool signed, ReadOnlySpan<float> scale, ReadOnlySpan<int> zeroPoint, Span<float> y,
            int channels, int inner)
            => Run<int>(path, q, signed, scale, zeroPoint, y, channels, inner);

        /// <summary>Runs one path with zero points of any integer type.</summary>
        public static void Run<TZ>(Path path, ReadOnlySpan<byte> q, bool signed, ReadOnlySpan<float> scale, ReadOnlySpan<TZ> zeroPoint, Span<float> y,
            int channels, int inner) where TZ : unmanaged, IBinaryInteger<TZ>
        {
            if (path == Path.Vector256 && !Vector256.IsHardwareAccelerated) throw new PlatformNotSupportedException("DequantizeLinear path " + path);
            if (channels <= 0 || inner <= 0 || scale.Length < channels || zeroPoint.Length < channels || q.Length % (channels * inner) != 0 || y.Length < q.Length)
                throw new ArgumentException("DequantizeLinear operand sizes do not match");
            int i = 0;
            while (i < q.Length)
            {
                int c = i / inner % channels;
                int run = inner - i % inner;
                Block(path, q.Slice(i, run), signed, scale[c], int.CreateTruncating(zeroPoint[c]), y.Slice(i, run));
                i += run;
            }
        }

        private static void Block(Path path, ReadOnlySpan<byte> q, bool signed, float scale, int zp, Span<float> y)
        {
            int n = q.Length, i = 0;
            ref byte qr = ref MemoryMarshal.GetReference(q);
            ref float yr = ref MemoryMarshal.GetReference(y);
            if (path == Path.Vector256)
            {
                var vs = Vector256.Create(scale);
                var vz = Vector256.Create(zp);
                for (; i + 16 <= n; i += 16)
                {
                    var b = Vector128.LoadUnsafe(ref qr, (nuint)i);
                    Vector256<int> lo, hi;
                    if (signed)
                    {
                        var w = Vector256.Create(Vector128.WidenLower(b.AsSByte()), Vector128.WidenUpper(b.AsSByte()));
                        (lo, hi) = Vector256.Widen(w);
                    }
                    else
                    {
                        var w = Vector256.Create(Vector128.WidenLower(b), Vector128.WidenUpper(b));
                        var (ulo, uhi) = Vector256.Widen(w);
                        lo = ulo.AsInt32(); hi = uhi.AsInt32();
                    }
                    (Vector256.ConvertToSingle(lo - vz) * vs).StoreUnsafe(ref yr, (nuint)i);
                    (Vector256.ConvertToSingle(hi - vz) * vs).StoreUnsafe(ref yr, (nuint)(i + 8));
                }
            }
            for (; i < n; i++)
            {
                int v = signed ? (sbyte)q[i] : q[i];
                y[i] = (float)(v - zp) * scale;
            }
        }
    }
}
