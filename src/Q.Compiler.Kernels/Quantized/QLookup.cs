#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// y = table[x] for uint8 tensors: the kernel of com.microsoft QLinearSigmoid / QLinearLeakyRelu, of the quantizer's
    /// QLinearHardSwish / HardSigmoid / Tanh, and of QLinearConcat's inputs whose quantization differs from the output's.
    /// Tables are built at compile time and stored with the weights, except those of the activations that are plain float
    /// arithmetic (HardSwish, HardSigmoid, LeakyRelu): <see cref="Activation(ReadOnlySpan{byte}, Span{byte}, Span{byte}, int, float, float, float, int, float, int)"/>
    /// builds those from the four quantization parameters on each call (about 0.1 µs with AVX, 256 entries), bit-identical
    /// to the compile-time table, so that they cost no weight bytes.
    /// </summary>
    /// <remarks>
    /// A byte gather has no instruction before AVX-512 VBMI. The AVX2 path looks the low nibble of x up in each of the 16
    /// table rows of 16 entries (one vpshufb per row, the row in both 128-bit lanes) and picks among the 16 results by the
    /// high nibble with a tree of vpblendvb: 8 blends on bit 4, 4 on bit 5, 2 on bit 6, 1 on bit 7 (each bit brought to
    /// the byte's top by a 16-bit shift, which is all vpblendvb reads). 35 instructions per 32 bytes, about 0.14 ns per
    /// byte on Zen 3 against 0.38 for the scalar loop (two loads and a store per byte); a chain of vpshufb whose
    /// telescoped rows are xor-ed together (46 instructions) measured the same.
    /// </remarks>
    internal static class QLookup
    {
        public enum Path { Scalar, Avx2 }

        /// <summary>The activations whose tables <see cref="BuildTable"/> computes (codes of the fused activations).</summary>
        public const int LeakyRelu = 3, HardSigmoid = 5, HardSwish = 6;

        public static Path Best => Avx2.IsSupported ? Path.Avx2 : Path.Scalar;

        public static bool IsSupported(Path p) => p != Path.Avx2 || Avx2.IsSupported;

        public static void Run(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y) => RunPath(Best, x, table, y);

        /// <summary>One path (tests).</summary>
        public static void RunPath(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            if (table.Length < 256 || y.Length < x.Length) throw new ArgumentException("QLookup operand sizes do not match");
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLookup path " + path);
            Map(path, x, table, y.Slice(0, x.Length));
        }

        /// <summary>
        /// y = f(x) on uint8 through a table built in <paramref name="table"/> (256 bytes of scratch) by
        /// <see cref="BuildTable"/>: f is activation <paramref name="kind"/> (the fused-activation codes:
        /// 3 LeakyRelu, 5 HardSigmoid or 6 HardSwish) with <paramref name="alpha"/> and <paramref name="beta"/>.
        /// </summary>
        public static void Activation(ReadOnlySpan<byte> x, Span<byte> table, Span<byte> y, int kind, float alpha, float beta,
            float xScale, int xZeroPoint, float yScale, int yZeroPoint)
        {
            BuildTable(Best, table, kind, alpha, beta, xScale, xZeroPoint, yScale, yZeroPoint);
            Run(x, table, y);
        }

        /// <summary>
        /// table[i] = quantize(f(dequantize(i))) for i = 0..255, exactly as the compiler's QLookupTable.Build computes it in
        /// float32: v = (i − zx)·sx, f(v) (HardSwish v·max(0, min(1, v/6 + 1/2)), HardSigmoid max(0, min(1, α·v + β)),
        /// LeakyRelu v ≥ 0 ? v : v·α; no fused multiply-add), then f(v)/sy clamped to ±1e9, rounded half to even, + zy,
        /// saturated to 0..255. The AVX path computes 8 entries per step with the same operations in the same order.
        /// </summary>
        public static void BuildTable(Path path, Span<byte> table, int kind, float alpha, float beta, float xScale, int xZeroPoint, float yScale, int yZeroPoint)
        {
            if (table.Length < 256) throw new ArgumentException("QLookup.BuildTable needs 256 bytes");
            if (kind != LeakyRelu && kind != HardSigmoid && kind != HardSwish)
                throw new ArgumentOutOfRangeException(nameof(kind));
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLookup path " + path);
            int i = path == Path.Avx2 ? BuildAvx(table, kind, alpha, beta, xScale, xZeroPoint, yScale, yZeroPoint) : 0;
            for (; i < 256; i++)
            {
                float v = (float)(i - xZeroPoint) * xScale;
                float f = kind == HardSwish ? v * MathF.Max(0f, MathF.Min(1f, v / 6f + 0.5f))
                    : kind == HardSigmoid ? MathF.Max(0f, MathF.Min(1f, alpha * v + beta))
                    : v >= 0 ? v : v * alpha;
                float q = f / yScale;
                double r = float.IsNaN(q) ? yZeroPoint : Math.Round((double)MathF.Max(-1e9f, MathF.Min(1e9f, q)), MidpointRounding.ToEven) + yZeroPoint;
                table[i] = (byte)Math.Max(0, Math.Min(255, r));
            }
        }

        private static int BuildAvx(Span<byte> table, int kind, float alpha, float beta, float xScale, int xZeroPoint, float yScale, int yZeroPoint)
        {
            var c = new TableConstants(kind, alpha, beta, xScale, xZeroPoint, yScale, yZeroPoint);
            ref byte t = ref MemoryMarshal.GetReference(table);
            // The packs work per 128-bit lane: the dwords come out as entries 0-3, 8-11, 16-19, 24-27, 4-7, 12-15, ...
            var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            for (int i = 0; i < 256; i += 32)
            {
                // The entries are in 0..255: the packs saturate nothing.
                var bytes = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(Entries(c, i), Entries(c, i + 8)),
                    Avx2.PackSignedSaturate(Entries(c, i + 16), Entries(c, i + 24)));
                Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsByte().StoreUnsafe(ref t, (nuint)i);
            }
            return 256;
        }

        /// <summary>Entries i..i+7 as int32, the scalar loop's operations in the same order (no fused multiply-add).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Entries(in TableConstants c, int i)
        {
            var v = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.Add(Vector256.Create(i - c.XZeroPoint), c.Step)), c.XScale);
            Vector256<float> f;
            if (c.Kind == HardSwish)
                f = Avx.Multiply(v, Avx.Max(Avx.Min(Avx.Add(Avx.Divide(v, c.A), c.B), c.One), Vector256<float>.Zero));
            else if (c.Kind == HardSigmoid)
                f = Avx.Max(Avx.Min(Avx.Add(Avx.Multiply(c.A, v), c.B), c.One), Vector256<float>.Zero);
            else
                f = Avx.BlendVariable(Avx.Multiply(v, c.A), v, Avx.CompareGreaterThanOrEqual(v, Vector256<float>.Zero));
            // f/sy is not NaN here (finite v and f): clamped to ±1e9, rounded half to even, + zy, saturated to 0..255.
            var q = Avx.RoundToNearestInteger(Avx.Max(Avx.Min(Avx.Divide(f, c.YScale), c.Big), c.Small));
            return Avx.ConvertToVector256Int32(Avx.Max(Avx.Min(Avx.Add(q, c.YZeroPoint), c.Top), Vector256<float>.Zero));
        }

        private readonly struct TableConstants
        {
            public readonly int Kind, XZeroPoint;
            public readonly Vector256<float> XScale, YScale, A, B, One, Big, Small, YZeroPoint, Top;
            public readonly Vector256<int> Step;

            public TableConstants(int kind, float alpha, float beta, float xScale, int xZeroPoint, float yScale, int yZeroPoint)
            {
                Kind = kind; XZeroPoint = xZeroPoint;
                XScale = Vector256.Create(xScale); YScale = Vector256.Create(yScale);
                // HardSwish: v / 6 + 1/2 (a division, as the reference); HardSigmoid: α·v + β; LeakyRelu: v·α.
                A = Vector256.Create(kind == HardSwish ? 6f : alpha); B = Vector256.Create(kind == HardSwish ? 0.5f : beta);
                One = Vector256.Create(1f); Big = Vector256.Create(1e9f); Small = Vector256.Create(-1e9f);
                YZeroPoint = Vector256.Create((float)yZeroPoint); Top = Vector256.Create(255f);
                Step = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            }
        }

        /// <summary>
        /// QLinearConcat part: <paramref name="rows"/> blocks of <paramref name="block"/> bytes of x mapped into y at
        /// offset <paramref name="at"/> + r · <paramref name="rowStride"/>.
        /// </summary>
        public static void Rows(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y, int at, int rowStride, int rows, int block)
        {
            if (table.Length < 256 || x.Length < rows * block) throw new ArgumentException("QLookup operand sizes do not match");
            for (int r = 0; r < rows; r++) Map(Best, x.Slice(r * block, block), table, y.Slice(at + r * rowStride, block));
        }

        private static void Map(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            ref byte t = ref MemoryMarshal.GetReference(table);
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            int n = x.Length, i = 0;
            if (path == Path.Avx2) i = MapAvx2(ref t, ref xr, ref yr, n);
            for (; i + 4 <= n; i += 4)
            {
                Unsafe.Add(ref yr, i) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i));
                Unsafe.Add(ref yr, i + 1) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 1));
                Unsafe.Add(ref yr, i + 2) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 2));
                Unsafe.Add(ref yr, i + 3) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 3));
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i));
        }

        /// <summary>Whole 32-byte blocks; returns the count done.</summary>
        private static int MapAvx2(ref byte t, ref byte xr, ref byte yr, int n)
        {
            var t0 = Row(ref t, 0); var t1 = Row(ref t, 1); var t2 = Row(ref t, 2); var t3 = Row(ref t, 3);
            var t4 = Row(ref t, 4); var t5 = Row(ref t, 5); var t6 = Row(ref t, 6); var t7 = Row(ref t, 7);
            var t8 = Row(ref t, 8); var t9 = Row(ref t, 9); var t10 = Row(ref t, 10); var t11 = Row(ref t, 11);
            var t12 = Row(ref t, 12); var t13 = Row(ref t, 13); var t14 = Row(ref t, 14); var t15 = Row(ref t, 15);
            var low = Vector256.Create((byte)15);
            int i = 0;
            for (; i + 32 <= n; i += 32)
            {
                var x = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var lo = Avx2.And(x, low);
                var m4 = Avx2.ShiftLeftLogical(x.AsUInt16(), 3).AsByte();
                var b0 = Avx2.BlendVariable(Avx2.Shuffle(t0, lo), Avx2.Shuffle(t1, lo), m4);
                var b1 = Avx2.BlendVariable(Avx2.Shuffle(t2, lo), Avx2.Shuffle(t3, lo), m4);
                var b2 = Avx2.BlendVariable(Avx2.Shuffle(t4, lo), Avx2.Shuffle(t5, lo), m4);
                var b3 = Avx2.BlendVariable(Avx2.Shuffle(t6, lo), Avx2.Shuffle(t7, lo), m4);
                var b4 = Avx2.BlendVariable(Avx2.Shuffle(t8, lo), Avx2.Shuffle(t9, lo), m4);
                var b5 = Avx2.BlendVariable(Avx2.Shuffle(t10, lo), Avx2.Shuffle(t11, lo), m4);
                var b6 = Avx2.BlendVariable(Avx2.Shuffle(t12, lo), Avx2.Shuffle(t13, lo), m4);
                var b7 = Avx2.BlendVariable(Avx2.Shuffle(t14, lo), Avx2.Shuffle(t15, lo), m4);
                var m5 = Avx2.ShiftLeftLogical(x.AsUInt16(), 2).AsByte();
                var c0 = Avx2.BlendVariable(b0, b1, m5); var c1 = Avx2.BlendVariable(b2, b3, m5);
                var c2 = Avx2.BlendVariable(b4, b5, m5); var c3 = Avx2.BlendVariable(b6, b7, m5);
                var m6 = Avx2.ShiftLeftLogical(x.AsUInt16(), 1).AsByte();
                var d0 = Avx2.BlendVariable(c0, c1, m6); var d1 = Avx2.BlendVariable(c2, c3, m6);
                Avx2.BlendVariable(d0, d1, x).StoreUnsafe(ref yr, (nuint)i);
            }
            return i;
        }

        /// <summary>Table row r (16 entries) in both 128-bit lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<byte> Row(ref byte t, int r)
        {
            var v = Vector128.LoadUnsafe(ref t, (nuint)(16 * r));
            return Vector256.Create(v, v);
        }
    }
}
