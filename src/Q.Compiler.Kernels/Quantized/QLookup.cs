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
    /// QLinearHardSwish / HardSigmoid / Tanh, and of QLinearConcat's inputs whose quantization differs from the output's
    /// (the 256-entry tables are built at compile time).
    /// </summary>
    /// <remarks>
    /// A byte gather has no instruction before AVX-512 VBMI. The AVX2 path looks up 16 entries per vpshufb: the table as
    /// two halves of eight 16-byte rows, each half a chain of eight vpshufb whose results are xor-ed together. In the
    /// chain of the low half, the index x − 16j of step j has its top bit set (vpshufb gives 0) unless x lies in row j or
    /// above, so for x &lt; 128 in row h the chain xors steps 0..h; storing row j xor row j−1 at step j makes that sum
    /// row h's entry. The high half runs the same chain on x − 128, and x's top bit selects between the two (vpblendvb).
    /// About 46 vector instructions per 32 bytes, against two loads and a store per byte for the scalar loop.
    /// </remarks>
    internal static class QLookup
    {
        public enum Path { Scalar, Avx2 }

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
            var l0 = Row(ref t, 0); var l1 = Row(ref t, 1); var l2 = Row(ref t, 2); var l3 = Row(ref t, 3);
            var l4 = Row(ref t, 4); var l5 = Row(ref t, 5); var l6 = Row(ref t, 6); var l7 = Row(ref t, 7);
            var h0 = Row(ref t, 8); var h1 = Row(ref t, 9); var h2 = Row(ref t, 10); var h3 = Row(ref t, 11);
            var h4 = Row(ref t, 12); var h5 = Row(ref t, 13); var h6 = Row(ref t, 14); var h7 = Row(ref t, 15);
            // Telescoped rows: step j holds row j xor row j − 1 (within each half).
            l7 ^= l6; l6 ^= l5; l5 ^= l4; l4 ^= l3; l3 ^= l2; l2 ^= l1; l1 ^= l0;
            h7 ^= h6; h6 ^= h5; h5 ^= h4; h4 ^= h3; h3 ^= h2; h2 ^= h1; h1 ^= h0;
            var sixteen = Vector256.Create((byte)16);
            var top = Vector256.Create((byte)0x80);
            int i = 0;
            for (; i + 32 <= n; i += 32)
            {
                var x = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var idx = x;
                var lo = Avx2.Shuffle(l0, idx);
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l1, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l2, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l3, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l4, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l5, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l6, idx));
                idx = Avx2.Subtract(idx, sixteen); lo = Avx2.Xor(lo, Avx2.Shuffle(l7, idx));
                idx = Avx2.Xor(x, top);
                var hi = Avx2.Shuffle(h0, idx);
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h1, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h2, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h3, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h4, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h5, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h6, idx));
                idx = Avx2.Subtract(idx, sixteen); hi = Avx2.Xor(hi, Avx2.Shuffle(h7, idx));
                Avx2.BlendVariable(lo, hi, x).StoreUnsafe(ref yr, (nuint)i);
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
