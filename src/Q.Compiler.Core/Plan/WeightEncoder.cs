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
    /// <item>Offset: signed integers (int16, int32, int64) whose range fits 1 to 4 bytes around an offset
    /// (e.g. int32 biases that are small in accumulator scale), and float32 by their bits (per-channel scales of one
    /// sign within two binades fit 3 bytes).</item>
    /// <item>Packed: the same integers as value − minimum in fields of just enough bits (1 to 32), for ranges
    /// that fall between byte widths (a layer's scales over five binades: 26 bits).</item>
    /// <item>Huffman: one-byte elements (int8 weights), whose values cluster around zero: about 6 to 7 bits a weight
    /// instead of 8, and packing padding (zeros) almost free.</item>
    /// <item>Scaled: float32 weights that are exactly int8 values times a scale per channel (the dequantized weights of
    /// a weight-only layer: float activations, int8 weights), stored as the scales and the int8 values, each part coded
    /// as above when that is smaller. The channel layout is found from the shape: axis 0, the last axis, or the packed
    /// GEMM panels [P, K, W].</item>
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
            var best = EncodePart(weight);
            if (weight.ElementType == DataType.Float && TryScaled(weight) is { } scaled && scaled.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = scaled;
            return best;
        }

        /// <summary>The codings other than <see cref="WeightCodingKind.Scaled"/> (also those of a scaled weight's two parts).</summary>
        private static (byte[] Bytes, WeightCoding? Coding) EncodePart(Tensor weight)
        {
            var raw = weight.ToBytes();
            if (weight.ElementType == DataType.String || weight.ElementType == DataType.Bool) return (raw, null);
            int size = weight.ElementType.SizeOf(), n = weight.Length;
            (byte[] Bytes, WeightCoding? Coding) best = (raw, null);
            if (TryPalette(raw, size, n) is { } palette && palette.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = palette;
            if (TryOffset(weight) is { } offset && offset.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = offset;
            if (TryPacked(weight) is { } packed && packed.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = packed;
            if (size == 1 && TryHuffman(raw) is { } huffman && huffman.Bytes.Length <= best.Bytes.Length - MinSavedBytes) best = huffman;
            return best;
        }

        /// <summary>Expands coded bytes back into the plain little-endian elements (the build-time twin of CodedWeights).</summary>
        public static byte[] Decode(ReadOnlySpan<byte> stored, WeightCoding coding, DataType type, int elements)
        {
            int size = type.SizeOf();
            var result = new byte[(long)elements * size];
            if (coding.Kind == WeightCodingKind.Scaled)
            {
                int scaleBytes = checked((int)coding.ScaleBytes);
                var scaleData = coding.ScaleCoding is null ? stored.Slice(0, scaleBytes).ToArray()
                    : Decode(stored.Slice(0, scaleBytes), coding.ScaleCoding, DataType.Float, coding.Channels);
                int vb = coding.ValueBytes;
                var valueData = coding.ValueCoding is null ? stored.Slice(scaleBytes, elements * vb).ToArray()
                    : Decode(stored.Slice(scaleBytes), coding.ValueCoding, vb == 2 ? DataType.Int16 : DataType.Int8, elements);
                for (int i = 0; i < elements; i++)
                {
                    float scale = BitConverter.ToSingle(scaleData, 4 * ScaledChannel(coding, i));
                    float value = vb == 2 ? BitConverter.ToInt16(valueData, 2 * i) : (sbyte)valueData[i];
                    var bytes = BitConverter.GetBytes(value * scale);
                    if (!BitConverter.IsLittleEndian) Array.Reverse(bytes);
                    bytes.CopyTo(result, 4 * i);
                }
                return result;
            }
            if (coding.Kind == WeightCodingKind.Huffman)
            {
                var table = DecodingTable(stored);
                var bits = new BitReader(stored, WeightCoding.HuffmanTableBytes);
                for (int i = 0; i < elements; i++)
                {
                    int entry = table[bits.Peek(WeightCoding.HuffmanMaxBits)];
                    result[i] = (byte)entry;
                    bits.Skip(entry >> 8);
                }
                return result;
            }
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
            if (coding.Kind == WeightCodingKind.Packed)
            {
                for (int i = 0; i < elements; i++)
                {
                    ulong field = 0;
                    for (int k = 0; k < coding.Bits; k++)
                    {
                        long bit = (long)i * coding.Bits + k;
                        field |= (ulong)((stored[(int)(bit >> 3)] >> (int)(bit & 7)) & 1) << k;
                    }
                    WriteLittleEndian(result.AsSpan(i * size, size), (long)field + coding.Offset);
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

        /// <summary>
        /// Huffman code lengths for byte frequencies, at most <see cref="WeightCoding.HuffmanMaxBits"/> long: the classic
        /// merge of the two rarest subtrees (ties: the subtree made first), repeated with halved counts while a code is
        /// too long. Deterministic.
        /// </summary>
        public static int[] HuffmanLengths(long[] counts)
        {
            var lengths = new int[256];
            var c = (long[])counts.Clone();
            while (true)
            {
                var trees = new List<(long Count, int Order, List<int> Symbols)>();
                for (int s = 0; s < 256; s++) if (c[s] > 0) trees.Add((c[s], s, new List<int> { s }));
                Array.Clear(lengths, 0, 256);
                if (trees.Count == 1) { lengths[trees[0].Symbols[0]] = 1; return lengths; }
                int order = 256;
                while (trees.Count > 1)
                {
                    int a = Rarest(trees, -1), b = Rarest(trees, a);
                    var merged = new List<int>(trees[a].Symbols);
                    merged.AddRange(trees[b].Symbols);
                    foreach (int s in merged) lengths[s]++;
                    var t = (trees[a].Count + trees[b].Count, order++, merged);
                    trees.RemoveAt(Math.Max(a, b));
                    trees.RemoveAt(Math.Min(a, b));
                    trees.Add(t);
                }
                int longest = 0;
                foreach (int l in lengths) longest = Math.Max(longest, l);
                if (longest <= WeightCoding.HuffmanMaxBits) return lengths;
                for (int s = 0; s < 256; s++) if (c[s] > 0) c[s] = Math.Max(1, c[s] / 2);
            }
        }

        private static int Rarest(List<(long Count, int Order, List<int> Symbols)> trees, int except)
        {
            int best = -1;
            for (int i = 0; i < trees.Count; i++)
                if (i != except && (best < 0 || trees[i].Count < trees[best].Count || (trees[i].Count == trees[best].Count && trees[i].Order < trees[best].Order)))
                    best = i;
            return best;
        }

        /// <summary>Canonical codes for the lengths: shorter codes first, then by symbol (the order the decoder rebuilds).</summary>
        private static int[] CanonicalCodes(int[] lengths)
        {
            var codes = new int[256];
            int code = 0;
            for (int len = 1; len <= WeightCoding.HuffmanMaxBits; len++)
            {
                for (int s = 0; s < 256; s++) if (lengths[s] == len) codes[s] = code++;
                code <<= 1;
            }
            return codes;
        }

        /// <summary>The decoder's table: for each <see cref="WeightCoding.HuffmanMaxBits"/>-bit prefix, symbol | length &lt;&lt; 8.</summary>
        private static int[] DecodingTable(ReadOnlySpan<byte> stored)
        {
            var lengths = new int[256];
            for (int s = 0; s < 256; s++) lengths[s] = (stored[s / 2] >> (s % 2 * 4)) & 15;
            var codes = CanonicalCodes(lengths);
            var table = new int[1 << WeightCoding.HuffmanMaxBits];
            for (int s = 0; s < 256; s++)
            {
                int len = lengths[s];
                if (len == 0) continue;
                int first = codes[s] << (WeightCoding.HuffmanMaxBits - len);
                for (int j = 0; j < 1 << (WeightCoding.HuffmanMaxBits - len); j++) table[first + j] = s | len << 8;
            }
            return table;
        }

        private static (byte[] Bytes, WeightCoding? Coding)? TryHuffman(byte[] raw)
        {
            if (raw.Length < 2 * WeightCoding.HuffmanTableBytes) return null;
            var counts = new long[256];
            foreach (byte b in raw) counts[b]++;
            var lengths = HuffmanLengths(counts);
            long bits = 0;
            for (int s = 0; s < 256; s++) bits += counts[s] * lengths[s];
            long total = WeightCoding.HuffmanTableBytes + (bits + 7) / 8;
            if (total >= raw.Length) return null;
            var codes = CanonicalCodes(lengths);
            var bytes = new byte[total];
            for (int s = 0; s < 256; s++) bytes[s / 2] |= (byte)(lengths[s] << (s % 2 * 4));
            long at = 8L * WeightCoding.HuffmanTableBytes;   // bit position, most significant bit of each byte first
            foreach (byte b in raw)
                for (int k = lengths[b] - 1; k >= 0; k--, at++)
                    if (((codes[b] >> k) & 1) != 0) bytes[at >> 3] |= (byte)(0x80 >> (int)(at & 7));
            return (bytes, WeightCoding.Huffman(checked((int)total)));
        }

        /// <summary>Reads bits most significant first; past the end it reads zeros.</summary>
        private ref struct BitReader
        {
            private readonly ReadOnlySpan<byte> _data;
            private long _bit;
            public BitReader(ReadOnlySpan<byte> data, int startByte) { _data = data; _bit = 8L * startByte; }
            public int Peek(int n)
            {
                int v = 0;
                for (int k = 0; k < n; k++)
                {
                    long b = _bit + k;
                    int bit = (b >> 3) < _data.Length ? (_data[(int)(b >> 3)] >> (7 - (int)(b & 7))) & 1 : 0;
                    v = (v << 1) | bit;
                }
                return v;
            }
            public void Skip(int n) => _bit += n;
        }

        /// <summary>The elements as integers (float32: their bits as int32) and the type's largest value; null for other types.</summary>
        private static (long[] Values, long TypeMax)? Integers(Tensor weight)
        {
            switch (weight.ElementType)
            {
                case DataType.Int16: return (weight.ToLongs(), short.MaxValue);
                case DataType.Int32: return (weight.ToLongs(), int.MaxValue);
                case DataType.Int64: return (weight.ToLongs(), long.MaxValue);
                case DataType.Float:
                    // The bits as int32: values of one sign within a few binades (per-channel scales) differ in fewer bits.
                    var f = weight.As<float>();
                    var bits = new long[f.Length];
                    for (int i = 0; i < f.Length; i++) bits[i] = FloatBits.Of(f[i]);
                    return (bits, int.MaxValue);
                default: return null;
            }
        }

        private static (byte[] Bytes, WeightCoding? Coding)? TryPacked(Tensor weight)
        {
            if (!(Integers(weight) is { } ints) || ints.Values.Length == 0) return null;
            var v = ints.Values;
            long min = long.MaxValue, max = long.MinValue;
            foreach (long x in v) { if (x < min) min = x; if (x > max) max = x; }
            ulong range = (ulong)(max - min);
            int bits = 1;
            while (bits < 64 && range >> bits != 0) bits++;
            if (bits > 32 || bits >= 8 * weight.ElementType.SizeOf()) return null;
            var coding = WeightCoding.Packed(bits, min);
            var bytes = new byte[coding.StoredLength(v.Length, weight.ElementType.SizeOf())];
            for (int i = 0; i < v.Length; i++)
            {
                ulong field = (ulong)(v[i] - min);
                for (int k = 0; k < bits; k++)
                {
                    long bit = (long)i * bits + k;
                    if (((field >> k) & 1) != 0) bytes[bit >> 3] |= (byte)(1 << (int)(bit & 7));
                }
            }
            return (bytes, coding);
        }

        private static (byte[] Bytes, WeightCoding? Coding)? TryOffset(Tensor weight)
        {
            if (!(Integers(weight) is { } ints)) return null;
            var (v, typeMax) = ints;
            if (v.Length == 0) return null;
            long min = long.MaxValue, max = long.MinValue;
            foreach (long x in v) { if (x < min) min = x; if (x > max) max = x; }
            int size = weight.ElementType.SizeOf();
            foreach (int stored in new[] { 1, 2, 3, 4 })
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

        /// <summary>The fewest elements per channel a scaled coding is tried with.</summary>
        private const int MinScaledChannelElements = 4;

        /// <summary>The channel of element <paramref name="i"/> in a scaled coding's layout.</summary>
        public static int ScaledChannel(WeightCoding c, int i) => i / c.Stride % c.Blocks * c.BlockWidth + i % c.BlockWidth;

        /// <summary>
        /// The channel layouts a float weight of this shape may have (see <see cref="WeightCodingKind.Scaled"/>): axis 0
        /// (Conv weights, Gemm weights [N, K]), the last axis of a matrix (MatMul weights [K, N]) and packed GEMM panels
        /// [P, K, W] (Gemm.RunPacked's B: panel p, row k, column p·W + j).
        /// </summary>
        private static IEnumerable<(int Stride, int Blocks, int Width)> ScaledLayouts(Shape shape, int n)
        {
            // Weights only (rank 2 and more), with enough elements per channel for the scales to pay: a vector of
            // biases or scales is each element times ±127 over itself, which is exact and not worth coding so (vectors
            // are tried as int16 values of one scale instead: TryScaledVector).
            if (shape.Rank < 2 || n == 0) yield break;
            int first = shape[0], last = shape[shape.Rank - 1];
            if (first > 0 && n / first >= MinScaledChannelElements) yield return (n / first, first, 1);
            if (shape.Rank == 2 && last > 1 && n / last >= MinScaledChannelElements) yield return (1, last, 1);
            if (shape.Rank == 3 && last > 1 && shape[1] >= MinScaledChannelElements) yield return (shape[1] * last, first, last);
        }

        /// <summary>
        /// Finds int8 values q and one positive scale s per channel with every element bit for bit (float)q · s, trying the
        /// scales near max|w| / m for m = 127 down to 1 (symmetric per-channel quantization puts ±127 in each channel; other
        /// roundings may use fewer levels), and stores them as <see cref="WeightCodingKind.Scaled"/>. Null when no layout
        /// reproduces the tensor exactly. A channel of zeros takes the scale before it (any scale gives +0).
        /// </summary>
        private static (byte[] Bytes, WeightCoding? Coding)? TryScaled(Tensor weight)
        {
            var w = weight.As<float>();
            int n = w.Length;
            if (weight.Shape.Rank == 1) return TryScaledVector(w);
            (byte[] Bytes, WeightCoding? Coding)? best = null;
            foreach (var (stride, blocks, width) in ScaledLayouts(weight.Shape, n))
            {
                var layout = WeightCoding.Scaled(stride, blocks, width, null, null);
                int channels = layout.Channels;
                // Elements by channel (a counting sort on the channel index).
                var start = new int[channels + 1];
                for (int i = 0; i < n; i++) start[ScaledChannel(layout, i) + 1]++;
                for (int c = 0; c < channels; c++) start[c + 1] += start[c];
                var order = new int[n];
                var fill = (int[])start.Clone();
                for (int i = 0; i < n; i++) order[fill[ScaledChannel(layout, i)]++] = i;
                var scales = new float[channels];
                var values = new sbyte[n];
                bool exact = true;
                for (int c = 0; c < channels && exact; c++)
                    exact = ScaleOf(w, order.AsSpan(start[c], start[c + 1] - start[c]), values, out scales[c]);
                if (!exact) continue;
                float previous = 0;
                for (int c = 0; c < channels; c++) if (scales[c] > 0) { previous = scales[c]; break; }
                for (int c = 0; c < channels; c++)
                    if (scales[c] == 0) scales[c] = previous > 0 ? previous : 1; else previous = scales[c];
                var (bytes, scaleCoding, valueCoding) = EncodeParts(Tensor.FromFloats(new Shape(channels), scales), new Tensor(DataType.Int8, new Shape(n), values));
                if (best is null || bytes.Length < best.Value.Bytes.Length)
                    best = (bytes, WeightCoding.Scaled(stride, blocks, width, scaleCoding, valueCoding));
            }
            return best;
        }

        /// <summary>A scaled weight's stored bytes: its scales, then its integer values, each part coded as <see cref="EncodePart"/> chooses.</summary>
        private static (byte[] Bytes, WeightCoding? Scales, WeightCoding? Values) EncodeParts(Tensor scales, Tensor values)
        {
            var (scaleBytes, scaleCoding) = EncodePart(scales);
            var (valueBytes, valueCoding) = EncodePart(values);
            var bytes = new byte[scaleBytes.Length + valueBytes.Length];
            scaleBytes.CopyTo(bytes, 0);
            valueBytes.CopyTo(bytes, scaleBytes.Length);
            return (bytes, scaleCoding, valueCoding);
        }

        /// <summary>
        /// A vector (a weight-only layer's float bias) that is exactly int16 values times one scale, with ±32767 at its
        /// largest element (<c>GraphQuantizer</c> rounds such biases onto that grid): the scale and the int16 values.
        /// </summary>
        private static (byte[] Bytes, WeightCoding? Coding)? TryScaledVector(float[] w)
        {
            if (w.Length < MinScaledChannelElements) return null;
            float max = 0;
            foreach (float v in w)
            {
                if (!(Math.Abs(v) <= float.MaxValue)) return null;
                max = Math.Max(max, Math.Abs(v));
            }
            if (max == 0) return null;
            int bits = FloatBits.Of(max / 32767);
            foreach (int step in s_scaleSteps)
            {
                float s = FloatBits.From(bits + step);
                if (!(s > 0) || float.IsInfinity(s)) continue;
                var values = new short[w.Length];
                bool exact = true;
                for (int i = 0; i < w.Length && exact; i++)
                {
                    double q = Math.Round(w[i] / s);
                    exact = q >= -32768 && q <= 32767 && FloatBits.Of((short)q * s) == FloatBits.Of(w[i]);
                    values[i] = (short)q;
                }
                if (!exact) continue;
                var (bytes, scaleCoding, valueCoding) = EncodeParts(Tensor.FromFloats(new Shape(1), new[] { s }), new Tensor(DataType.Int16, new Shape(w.Length), values));
                return (bytes, WeightCoding.Scaled(w.Length, 1, 1, scaleCoding, valueCoding, valueBytes: 2));
            }
            return null;
        }

        /// <summary>
        /// The scale of one channel (0 for a channel of +0s) and its int8 values, if every element is exactly
        /// (float)q · scale; false otherwise.
        /// </summary>
        private static bool ScaleOf(float[] w, ReadOnlySpan<int> elements, sbyte[] values, out float scale)
        {
            scale = 0;
            float max = 0;
            foreach (int i in elements)
            {
                float a = Math.Abs(w[i]);
                if (!(a <= float.MaxValue)) return false;   // NaN or infinite
                if (a > max) max = a;
            }
            if (max == 0)
            {
                foreach (int i in elements) if (FloatBits.Of(w[i]) != 0) return false;   // −0 is not 0 · s
                foreach (int i in elements) values[i] = 0;
                return true;
            }
            for (int levels = 127; levels >= 1; levels--)
            {
                float guess = max / levels;
                int bits = FloatBits.Of(guess);
                foreach (int step in s_scaleSteps)
                {
                    float s = FloatBits.From(bits + step);
                    if (!(s > 0) || float.IsInfinity(s) || !Exact(w, elements, s)) continue;
                    foreach (int i in elements) values[i] = (sbyte)Math.Round(w[i] / s);
                    scale = s;
                    return true;
                }
            }
            return false;
        }

        /// <summary>Neighbours of max / levels tried as the scale, in float ulps (the division may round either way).</summary>
        private static readonly int[] s_scaleSteps = { 0, 1, -1, 2, -2 };

        private static bool Exact(float[] w, ReadOnlySpan<int> elements, float s)
        {
            foreach (int i in elements)
            {
                double q = Math.Round(w[i] / s);
                if (q < -128 || q > 127) return false;
                float back = (sbyte)q * s;
                if (FloatBits.Of(back) != FloatBits.Of(w[i])) return false;
            }
            return true;
        }

        /// <summary>A float's bits and back, without allocating (netstandard2.0 lacks BitConverter.SingleToInt32Bits).</summary>
        [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit)]
        private struct FloatBits
        {
            [System.Runtime.InteropServices.FieldOffset(0)] private float _f;
            [System.Runtime.InteropServices.FieldOffset(0)] private int _i;
            public static int Of(float f) => new FloatBits { _f = f }._i;
            public static float From(int i) => new FloatBits { _i = i }._f;
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
