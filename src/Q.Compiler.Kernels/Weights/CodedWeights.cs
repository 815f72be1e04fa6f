#nullable enable
using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Expands weights that the compiler stored coded (smaller in the assembly) into the plain arrays the kernels read.
    /// Called once per coded constant, from the model class's type initializer; the result is bit-identical to the
    /// constant the compiler coded. Two codings (all data little-endian):
    /// <list type="bullet">
    /// <item><b>Palette</b>: <c>paletteSize</c> distinct values of the element type, then one <c>indexBits</c>-bit index
    /// (1, 2, 4 or 8) per element, packed from the lowest bit of each byte up.</item>
    /// <item><b>Offset</b>: each integer element (a float32: its bits as an int32) stored as <c>value − offset</c>,
    /// a signed integer of <c>storedBytes</c> (1 to 4) bytes.</item>
    /// <item><b>Packed</b>: each integer element (a float32: its bits as an int32) stored as <c>value − offset</c> in an
    /// unsigned field of <c>bits</c> (1 to 32) bits, fields packed from the lowest bit of each byte up.</item>
    /// <item><b>Huffman</b> (one-byte elements): 256 code lengths of 4 bits (two a byte, low nibble first; 0 = value
    /// absent, at most 12), then each element's canonical Huffman code, most significant bit first. Canonical: codes
    /// are numbered in order of length, then of value.</item>
    /// <item><b>Scaled</b> (float32 weights that are int8 values times a scale per channel, or a vector of int16 values
    /// times one scale): the channel scales, then the integer values, each part stored plain or in one of the codings above; element i is
    /// <c>(float)value[i] · scale[channel(i)]</c>, one float multiplication, so the bits are the compiler's.</item>
    /// </list>
    /// </summary>
    internal static class CodedWeights
    {
        /// <summary>Expands palette-coded data into <paramref name="length"/> elements.</summary>
        public static T[] Palette<T>(ReadOnlySpan<byte> data, int paletteSize, int indexBits, int length) where T : struct
        {
            int valueBytes = Unsafe.SizeOf<T>();
            ReadOnlySpan<T> palette = MemoryMarshal.Cast<byte, T>(data.Slice(0, paletteSize * valueBytes));
            ReadOnlySpan<byte> indices = data.Slice(paletteSize * valueBytes);
            var result = new T[length];
            int perByte = 8 / indexBits, mask = (1 << indexBits) - 1;
            for (int i = 0; i < length; i++)
            {
                int index = (indices[i / perByte] >> (i % perByte * indexBits)) & mask;
                result[i] = palette[index];
            }
            return result;
        }

        /// <summary>Decodes Huffman-coded data into <paramref name="length"/> one-byte elements (byte or sbyte).</summary>
        public static T[] Huffman<T>(ReadOnlySpan<byte> data, int length) where T : struct
        {
            const int MaxBits = 12, TableBytes = 128;
            // Lookup table: for every MaxBits-bit prefix of the stream, the value it starts with and its code length.
            var table = new ushort[1 << MaxBits];
            int code = 0;
            for (int len = 1; len <= MaxBits; len++)
            {
                for (int v = 0; v < 256; v++)
                {
                    if (((data[v >> 1] >> ((v & 1) * 4)) & 15) != len) continue;
                    int first = code << (MaxBits - len), count = 1 << (MaxBits - len);
                    table.AsSpan(first, count).Fill((ushort)(v | len << 8));
                    code++;
                }
                code <<= 1;
            }
            var result = new T[length];
            Span<byte> output = MemoryMarshal.AsBytes(result.AsSpan());
            ulong window = 0;   // the next bits of the stream, most significant first
            int bits = 0, next = TableBytes;
            for (int i = 0; i < output.Length; i++)
            {
                while (bits <= 56)
                {
                    window |= (ulong)(next < data.Length ? data[next] : 0) << (56 - bits);
                    next++;
                    bits += 8;
                }
                int entry = table[(int)(window >> (64 - MaxBits))];
                output[i] = (byte)entry;
                window <<= entry >> 8;
                bits -= entry >> 8;
            }
            return result;
        }

        /// <summary>Widens offset-coded data into <paramref name="length"/> int32 elements.</summary>
        public static int[] Int32(ReadOnlySpan<byte> data, int storedBytes, int offset, int length)
        {
            var result = new int[length];
            for (int i = 0; i < length; i++) result[i] = (int)Stored(data, storedBytes, i) + offset;
            return result;
        }

        /// <summary>Widens offset-coded data into <paramref name="length"/> int16 elements.</summary>
        public static short[] Int16(ReadOnlySpan<byte> data, int storedBytes, int offset, int length)
        {
            var result = new short[length];
            for (int i = 0; i < length; i++) result[i] = (short)(Stored(data, storedBytes, i) + offset);
            return result;
        }

        /// <summary>Widens offset-coded data into <paramref name="length"/> int64 elements.</summary>
        public static long[] Int64(ReadOnlySpan<byte> data, int storedBytes, long offset, int length)
        {
            var result = new long[length];
            for (int i = 0; i < length; i++) result[i] = Stored(data, storedBytes, i) + offset;
            return result;
        }

        /// <summary>Expands offset-coded float32 bits into <paramref name="length"/> floats.</summary>
        public static float[] Single(ReadOnlySpan<byte> data, int storedBytes, int offset, int length)
        {
            var result = new float[length];
            for (int i = 0; i < length; i++) result[i] = BitConverter.Int32BitsToSingle((int)Stored(data, storedBytes, i) + offset);
            return result;
        }

        /// <summary>Expands bit-packed int32 data (value − offset in <paramref name="bits"/>-bit fields).</summary>
        public static int[] PackedInt32(ReadOnlySpan<byte> data, int bits, int offset, int length)
        {
            var result = new int[length];
            for (int i = 0; i < length; i++) result[i] = (int)Field(data, bits, i) + offset;
            return result;
        }

        /// <summary>Expands bit-packed int16 data (value − offset in <paramref name="bits"/>-bit fields).</summary>
        public static short[] PackedInt16(ReadOnlySpan<byte> data, int bits, int offset, int length)
        {
            var result = new short[length];
            for (int i = 0; i < length; i++) result[i] = (short)((int)Field(data, bits, i) + offset);
            return result;
        }

        /// <summary>Expands bit-packed int64 data (value − offset in <paramref name="bits"/>-bit fields).</summary>
        public static long[] PackedInt64(ReadOnlySpan<byte> data, int bits, long offset, int length)
        {
            var result = new long[length];
            for (int i = 0; i < length; i++) result[i] = (long)Field(data, bits, i) + offset;
            return result;
        }

        /// <summary>Expands bit-packed float32 bits (bits − offset in <paramref name="bits"/>-bit fields).</summary>
        public static float[] PackedSingle(ReadOnlySpan<byte> data, int bits, int offset, int length)
        {
            var result = new float[length];
            for (int i = 0; i < length; i++) result[i] = BitConverter.Int32BitsToSingle((int)Field(data, bits, i) + offset);
            return result;
        }

        /// <summary>The plain little-endian elements of a part of a scaled weight, copied into an array.</summary>
        public static T[] Plain<T>(ReadOnlySpan<byte> data, int length) where T : struct =>
            MemoryMarshal.Cast<byte, T>(data.Slice(0, length * Unsafe.SizeOf<T>())).ToArray();

        /// <summary>
        /// Expands a scaled weight: element i is <c>values[i] · scales[c]</c> in float32 with
        /// c = ((i / stride) mod blocks) · blockWidth + i mod blockWidth (axis 0: stride = elements per channel, blocks =
        /// channels, blockWidth = 1; last axis: stride 1; GEMM panels [P, K, W]: stride K·W, blocks P, blockWidth W).
        /// </summary>
        public static float[] Scaled(float[] scales, sbyte[] values, int stride, int blocks, int blockWidth)
        {
            var result = new float[values.Length];
            for (int i = 0; i < result.Length; i++)
                result[i] = values[i] * scales[i / stride % blocks * blockWidth + i % blockWidth];
            return result;
        }

        /// <summary>As <see cref="Scaled(float[], sbyte[], int, int, int)"/> with int16 values (a weight-only layer's bias: one scale).</summary>
        public static float[] Scaled(float[] scales, short[] values, int stride, int blocks, int blockWidth)
        {
            var result = new float[values.Length];
            for (int i = 0; i < result.Length; i++)
                result[i] = values[i] * scales[i / stride % blocks * blockWidth + i % blockWidth];
            return result;
        }

        /// <summary>Field <paramref name="i"/> of <paramref name="bits"/> bits (at most 32), fields packed lowest bit first.</summary>
        private static ulong Field(ReadOnlySpan<byte> data, int bits, int i)
        {
            long bit = (long)i * bits;
            int first = (int)(bit >> 3);
            ulong window = 0;
            for (int k = 0; k < 5 && first + k < data.Length; k++) window |= (ulong)data[first + k] << (8 * k);
            return (window >> (int)(bit & 7)) & ((1UL << bits) - 1);
        }

        private static long Stored(ReadOnlySpan<byte> data, int storedBytes, int i) => storedBytes switch
        {
            1 => (sbyte)data[i],
            2 => BinaryPrimitives.ReadInt16LittleEndian(data.Slice(2 * i)),
            3 => data[3 * i] | data[3 * i + 1] << 8 | (sbyte)data[3 * i + 2] << 16,
            _ => BinaryPrimitives.ReadInt32LittleEndian(data.Slice(4 * i)),
        };
    }
}
