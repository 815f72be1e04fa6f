using System;
using System.Collections.Generic;
using Q.Compiler.Ir;

namespace Q.Compiler.Plan
{
    /// <summary>
    /// Chooses how a weight is stored in the plan's weight blob: as its plain little-endian elements, or coded smaller
    /// (<see cref="WeightCoding"/>) when that saves at least <see cref="MinSavedBytes"/>. Lossless: the generated code
    /// expands a coded weight once (Q.Compiler.Kernels.CodedWeights) into exactly the original bits.
    /// <list type="bullet">
    /// <item>Palette: any element type, when the tensor holds at most 256 distinct bit patterns (e.g. a detector's
    /// prior boxes: a few grid centres and sizes repeated thousands of times).</item>
    /// <item>Offset: signed integers (int16, int32, int64) whose range fits 1, 2 or 4 bytes around an offset
    /// (e.g. int32 biases that are small in accumulator scale).</item>
    /// </list>
    /// </summary>
    public static class WeightEncoder
    {
        /// <summary>
        /// A coding must save at least this many bytes: below it, the static field and the call that expand the weight
        /// cost about as much in the assembly as they save.
        /// </summary>
        public const int MinSavedBytes = 32;

        /// <summary>The bytes to store for <paramref name="weight"/> and their coding (null: the plain elements).</summary>
        public static (byte[] Bytes, WeightCoding? Coding) Encode(Tensor weight)
        {
            var raw = weight.ToBytes();
            if (weight.ElementType == DataType.String || weight.ElementType == DataType.Bool) return (raw, null);
            int size = weight.ElementType.SizeOf(), n = weight.Length;
            (byte[] Bytes, WeightCoding? Coding) best = (raw, null);
            if (TryPalette(raw, size, n) is { } palette && palette.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = palette;
            if (TryOffset(weight) is { } offset && offset.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = offset;
            return best;
        }

        /// <summary>Expands coded bytes back into the plain little-endian elements (the build-time twin of CodedWeights).</summary>
        public static byte[] Decode(ReadOnlySpan<byte> stored, WeightCoding coding, DataType type, int elements)
        {
            int size = type.SizeOf();
            var result = new byte[(long)elements * size];
            if (coding.Kind == WeightCodingKind.Palette)
            {
                var indices = stored.Slice(coding.PaletteSize * size);
                int perByte = 8 / coding.IndexBits, mask = (1 << coding.IndexBits) - 1;
                for (int i = 0; i < elements; i++)
                {
                    int index = (indices[i / perByte] >> (i % perByte * coding.IndexBits)) & mask;
                    stored.Slice(index * size, size).CopyTo(result.AsSpan(i * size, size));
                }
                return result;
            }
            for (int i = 0; i < elements; i++)
            {
                long v = ReadSigned(stored.Slice(i * coding.StoredBytes), coding.StoredBytes) + coding.Offset;
                WriteLittleEndian(result.AsSpan(i * size, size), v);
            }
            return result;
        }

        private static (byte[] Bytes, WeightCoding? Coding)? TryPalette(byte[] raw, int size, int n)
        {
            if (n == 0 || size > 8) return null;
            // Distinct bit patterns, in order of first appearance (deterministic).
            var index = new Dictionary<ulong, int>();
            var codes = new int[n];
            for (int i = 0; i < n; i++)
            {
                ulong key = 0;
                for (int k = size - 1; k >= 0; k--) key = (key << 8) | raw[i * size + k];
                if (!index.TryGetValue(key, out int code))
                {
                    if (index.Count == 256) return null;
                    code = index.Count;
                    index[key] = code;
                }
                codes[i] = code;
            }
            int bits = index.Count <= 2 ? 1 : index.Count <= 4 ? 2 : index.Count <= 16 ? 4 : 8;
            if (bits >= size * 8) return null;
            var coding = WeightCoding.Palette(index.Count, bits);
            var bytes = new byte[coding.StoredLength(n, size)];
            foreach (var kv in index)
                for (int k = 0; k < size; k++) bytes[kv.Value * size + k] = (byte)(kv.Key >> (8 * k));
            int perByte = 8 / bits, start = index.Count * size;
            for (int i = 0; i < n; i++) bytes[start + i / perByte] |= (byte)(codes[i] << (i % perByte * bits));
            return (bytes, coding);
        }

        private static (byte[] Bytes, WeightCoding? Coding)? TryOffset(Tensor weight)
        {
            long typeMax;
            switch (weight.ElementType)
            {
                case DataType.Int16: typeMax = short.MaxValue; break;
                case DataType.Int32: typeMax = int.MaxValue; break;
                case DataType.Int64: typeMax = long.MaxValue; break;
                default: return null;
            }
            var v = weight.ToLongs();
            if (v.Length == 0) return null;
            long min = long.MaxValue, max = long.MinValue;
            foreach (long x in v) { if (x < min) min = x; if (x > max) max = x; }
            int size = weight.ElementType.SizeOf();
            foreach (int stored in new[] { 1, 2, 4 })
            {
                if (stored >= size) break;
                long lo = -(1L << (8 * stored - 1)), hi = (1L << (8 * stored - 1)) - 1;
                long offset;
                if (min >= lo && max <= hi) offset = 0;                                 // fits as it is: plain narrowing
                else if ((ulong)(max - min) <= (ulong)(hi - lo) && min <= typeMax + lo) offset = min - lo;   // min is stored as lo
                else continue;
                var bytes = new byte[(long)v.Length * stored];
                for (int i = 0; i < v.Length; i++) WriteLittleEndian(bytes.AsSpan(i * stored, stored), v[i] - offset);
                return (bytes, WeightCoding.WithOffset(stored, offset));
            }
            return null;
        }

        private static long ReadSigned(ReadOnlySpan<byte> b, int bytes)
        {
            long v = 0;
            for (int k = bytes - 1; k >= 0; k--) v = (v << 8) | b[k];
            int shift = 64 - 8 * bytes;
            return (v << shift) >> shift;
        }

        private static void WriteLittleEndian(Span<byte> b, long v)
        {
            for (int k = 0; k < b.Length; k++) b[k] = (byte)(v >> (8 * k));
        }
    }
}
