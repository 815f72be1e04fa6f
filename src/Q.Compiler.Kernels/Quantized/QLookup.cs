#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// y = table[x] for uint8 tensors: the kernel of com.microsoft QLinearSigmoid / QLinearLeakyRelu and of QLinearConcat's
    /// inputs whose quantization differs from the output's (the 256-entry tables are built at compile time). A byte
    /// gather has no SIMD form before AVX-512 VBMI, so this is a plain unrolled loop (about one byte per cycle).
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

        private static void Map(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
        {
            ref byte t = ref MemoryMarshal.GetReference(table);
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            int n = x.Length, i = 0;
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
