#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// y = table[x] for uint8 tensors: the kernel of com.microsoft QLinearSigmoid / QLinearLeakyRelu and of QLinearConcat's
    /// inputs whose quantization differs from the output's (the 256-entry tables are built at compile time). A byte
    /// gather has no SIMD form before AVX-512 VBMI; with SSSE3/AVX2 the table is read as sixteen 16-byte shuffles (see
    /// <see cref="Avx2Map"/>), elsewhere by a plain unrolled loop (about one byte per cycle).
    /// </summary>
    internal static class QLookup
    {
        public static void Run(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            if (table.Length < 256 || y.Length < x.Length) throw new ArgumentException("QLookup operand sizes do not match");
            Map(x, table, y.Slice(0, x.Length));
        }

        /// <summary>
        /// QLinearConcat part: <paramref name="rows"/> blocks of <paramref name="block"/> bytes of x mapped into y at
        /// offset <paramref name="at"/> + r · <paramref name="rowStride"/>.
        /// </summary>
        public static void Rows(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y, int at, int rowStride, int rows, int block)
        {
            if (table.Length < 256 || x.Length < rows * block) throw new ArgumentException("QLookup operand sizes do not match");
            for (int r = 0; r < rows; r++) Map(x.Slice(r * block, block), table, y.Slice(at + r * rowStride, block));
        }

        public enum Path { Scalar, Avx2 }

        public static Path Best => Avx2.IsSupported ? Path.Avx2 : Path.Scalar;

        public static bool IsSupported(Path p) => p == Path.Scalar || Avx2.IsSupported;

        /// <summary>y = table[x] by one path (tests compare them).</summary>
        public static void RunPath(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLookup path " + path);
            if (table.Length < 256 || y.Length < x.Length) throw new ArgumentException("QLookup operand sizes do not match");
            if (path == Path.Avx2) Avx2Map(x, table, y);
            else ScalarMap(x, table, y, 0);
        }

        private static void Map(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            if (Avx2.IsSupported && x.Length >= 64) Avx2Map(x, table, y);
            else ScalarMap(x, table, y, 0);
        }

        /// <summary>
        /// 32 bytes at a time: vpshufb looks up the low four bits of each index in a 16-byte table (in each 128-bit half)
        /// and gives 0 where the index's top bit is set. For x &lt; 128, index x − 16k (k = 0..7) has its top bit clear
        /// exactly when k ≤ x / 16, so XOR-ing the lookups in D_k = T_k ⊕ T_(k−1) (T_k = table[16k .. 16k + 15], T_−1 = 0)
        /// telescopes to T_(x/16)[x mod 16]; x ≥ 128 the same with x − 128 and the upper tables, and the top bit of x picks
        /// between the two. 50 vector operations per 32 bytes instead of 32 byte loads and stores.
        /// </summary>
        private static void Avx2Map(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            ref byte t = ref MemoryMarshal.GetReference(table);
            Span<Vector256<byte>> d = stackalloc Vector256<byte>[16];
            var previous = Vector128<byte>.Zero;
            for (int k = 0; k < 16; k++)
            {
                var tk = Vector128.LoadUnsafe(ref t, (nuint)(16 * k));
                d[k] = Vector256.Create(tk ^ (k == 8 ? Vector128<byte>.Zero : previous), tk ^ (k == 8 ? Vector128<byte>.Zero : previous));
                previous = tk;
            }
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            int n = x.Length, i = 0;
            var sixteen = Vector256.Create((byte)16);
            var half = Vector256.Create((byte)128);
            for (; i + 32 <= n; i += 32)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var lo = Avx2.Shuffle(d[0], v);
                var hi = v - half;
                var up = Avx2.Shuffle(d[8], hi);
                var a = v; var b = hi;
                for (int k = 1; k < 8; k++)
                {
                    a -= sixteen; b -= sixteen;
                    lo ^= Avx2.Shuffle(d[k], a);
                    up ^= Avx2.Shuffle(d[8 + k], b);
                }
                Avx2.BlendVariable(lo, up, v).StoreUnsafe(ref yr, (nuint)i);
            }
            ScalarMap(x, table, y, i);
        }

        private static void ScalarMap(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y, int start)
        {
            ref byte t = ref MemoryMarshal.GetReference(table);
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            int n = x.Length, i = start;
            for (; i + 4 <= n; i += 4)
            {
                Unsafe.Add(ref yr, i) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i));
                Unsafe.Add(ref yr, i + 1) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 1));
                Unsafe.Add(ref yr, i + 2) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 2));
                Unsafe.Add(ref yr, i + 3) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i + 3));
            }
            for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref t, Unsafe.Add(ref xr, i));
        }
    }
}
