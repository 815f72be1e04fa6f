// This file is linked into Q.Compiler.Generator: keep it free of dependencies beyond the BCL (netstandard2.0).
using System;
using System.Collections.Generic;

namespace Q.Compiler.Plan
{
    /// <summary>A compiled model as the generator sees it: buffers, layers of kernel calls, and weights. Immutable once built.</summary>
    public sealed class ModelPlan
    {
        public const int FormatVersion = 1;

        public string CompilerVersion { get; set; } = "";
        public string SourcePath { get; set; } = "";
        public string Sha256 { get; set; } = "";
        public string Producer { get; set; } = "";
        public string Opset { get; set; } = "";
        /// <summary>How the model was compiled, e.g. "float32" or "int8 per-channel, calibrated on 1000 inputs".</summary>
        public string Precision { get; set; } = "float32";
        public string Namespace { get; set; } = "";
        public string ClassName { get; set; } = "";
        public List<PlanValue> Inputs { get; } = new List<PlanValue>();
        public List<PlanValue> Outputs { get; } = new List<PlanValue>();
        public List<PlanBuffer> Buffers { get; } = new List<PlanBuffer>();
        public List<PlanLayer> Layers { get; } = new List<PlanLayer>();
        /// <summary>Scratch arena size in bytes.</summary>
        public long ArenaBytes { get; set; }
        /// <summary>The largest sum of simultaneously live scratch tensors: no arena layout can be smaller.</summary>
        public long ArenaLowerBound { get; set; }
        /// <summary>Kernel classes the layers call, sorted.</summary>
        public List<string> Kernels { get; } = new List<string>();
        /// <summary>All weights, concatenated (each 16-byte aligned), little-endian.</summary>
        public byte[] Weights { get; set; } = Array.Empty<byte>();
        /// <summary>Free-form notes carried to the generated header (e.g. "fp16 computed in fp32").</summary>
        public List<string> Notes { get; } = new List<string>();

        public PlanBuffer Buffer(string id)
        {
            foreach (var b in Buffers) if (b.Id == id) return b;
            throw new KeyNotFoundException("no buffer " + id);
        }
    }

    /// <summary>A graph input or output of the generated Run method.</summary>
    public sealed class PlanValue
    {
        public PlanValue(string name, string identifier, string type, string shape, string buffer)
        {
            Name = name; Identifier = identifier; Type = type; Shape = shape; Buffer = buffer;
        }

        /// <summary>The ONNX name.</summary>
        public string Name { get; }
        /// <summary>The C# parameter name.</summary>
        public string Identifier { get; }
        /// <summary>Element type short name (f32, i64, ...).</summary>
        public string Type { get; }
        /// <summary>Compact shape: 1x3x224x224, or "scalar".</summary>
        public string Shape { get; }
        public string Buffer { get; }
    }

    public enum BufferKind { Input, Output, Arena, Weight }

    /// <summary>A typed view on storage: a Run argument, a slice of the scratch arena, or a slice of the weights.</summary>
    public sealed class PlanBuffer
    {
        public PlanBuffer(string id, string type, string shape, int elements, BufferKind kind, long offset, string name, WeightCoding? coding = null)
        {
            Id = id; Type = type; Shape = shape; Elements = elements; Kind = kind; Offset = offset; Name = name; Coding = coding;
        }

        public string Id { get; }
        public string Type { get; }
        public string Shape { get; }
        public int Elements { get; }
        public BufferKind Kind { get; }
        /// <summary>Input/Output: the argument index; Arena/Weight: the byte offset.</summary>
        public long Offset { get; }
        /// <summary>The ONNX value name it holds (for comments and identifiers).</summary>
        public string Name { get; }
        /// <summary>
        /// For a weight stored coded (smaller) in the weight blob: how, so that the generated code expands it once into
        /// the plain array the kernels read. Null when the bytes at <see cref="Offset"/> are the elements themselves.
        /// </summary>
        public WeightCoding? Coding { get; }
        public PlanBuffer WithOffset(long offset) => new PlanBuffer(Id, Type, Shape, Elements, Kind, offset, Name, Coding);
    }

    /// <summary>How a coded weight is stored (lossless: expanding it gives the original bits).</summary>
    public enum WeightCodingKind
    {
        /// <summary>The distinct values, then one 1-, 2-, 4- or 8-bit index per element (lowest bits first).</summary>
        Palette,
        /// <summary>Integers (and float32 as their bits) stored as value − offset in 1 to 4 signed bytes.</summary>
        Offset,
        /// <summary>
        /// One-byte elements as a canonical Huffman code: 256 code lengths (4 bits each, at most
        /// <see cref="WeightCoding.HuffmanMaxBits"/>), then the codes, most significant bit first.
        /// </summary>
        Huffman,
        /// <summary>
        /// Integers (and float32 as their bits) stored as value − offset (the smallest value) in unsigned fields of
        /// 1 to 32 bits, packed lowest bit first.
        /// </summary>
        Packed,
        /// <summary>
        /// Float32 weights that are exactly int8 values times one scale per channel, each element the float product
        /// (float)q · s[c]: the channel scales (float32, coded by <see cref="WeightCoding.ScaleCoding"/> or plain), then
        /// the int8 values (int16 with <see cref="WeightCoding.ValueBytes"/> 2; coded by <see cref="WeightCoding.ValueCoding"/>
        /// or plain). Element i belongs to channel
        /// ((i / Stride) mod Blocks) · BlockWidth + i mod BlockWidth: axis 0 of [C, …] is Stride = elements / C,
        /// Blocks = C, BlockWidth = 1; the last axis of [K, N] is Stride = 1, Blocks = N, BlockWidth = 1; a packed GEMM
        /// panel layout [P, K, W] is Stride = K·W, Blocks = P, BlockWidth = W.
        /// </summary>
        Scaled,
    }

    /// <summary>The coding of one weight in the blob (see <see cref="WeightCodingKind"/>); immutable.</summary>
    public sealed class WeightCoding : IEquatable<WeightCoding>
    {
        private WeightCoding(WeightCodingKind kind, int paletteSize, int indexBits, int storedBytes, long offset)
        {
            Kind = kind; PaletteSize = paletteSize; IndexBits = indexBits; StoredBytes = storedBytes; Offset = offset;
        }

        private WeightCoding(int stride, int blocks, int blockWidth, WeightCoding? scaleCoding, WeightCoding? valueCoding, int valueBytes)
        {
            Kind = WeightCodingKind.Scaled; Stride = stride; Blocks = blocks; BlockWidth = blockWidth;
            ScaleCoding = scaleCoding; ValueCoding = valueCoding; ValueBytes = valueBytes;
        }

        /// <summary>The longest Huffman code: the decoder's lookup table has 2^this entries.</summary>
        public const int HuffmanMaxBits = 12;

        /// <summary>Bytes of the Huffman code-length table at the start of Huffman-coded data.</summary>
        public const int HuffmanTableBytes = 128;

        public WeightCodingKind Kind { get; }
        /// <summary>Palette: the number of distinct values stored before the indices.</summary>
        public int PaletteSize { get; }
        /// <summary>Palette: bits per index (1, 2, 4 or 8).</summary>
        public int IndexBits { get; }
        /// <summary>Offset: bytes per stored element (1 to 4). Huffman: bytes of the whole coded data.</summary>
        public int StoredBytes { get; }
        /// <summary>Packed: bits per element (1 to 32).</summary>
        public int Bits => IndexBits;
        /// <summary>Offset and Packed: the value added back to each stored element.</summary>
        public long Offset { get; }
        /// <summary>Scaled: elements per step of the block index (see <see cref="WeightCodingKind.Scaled"/>).</summary>
        public int Stride { get; }
        /// <summary>Scaled: the number of blocks of channels.</summary>
        public int Blocks { get; }
        /// <summary>Scaled: channels per block (1 unless the layout interleaves channels, as GEMM panels do).</summary>
        public int BlockWidth { get; }
        /// <summary>Scaled: the number of channel scales (<see cref="Blocks"/> · <see cref="BlockWidth"/>).</summary>
        public int Channels => Blocks * BlockWidth;
        /// <summary>Scaled: how the float32 channel scales are stored (null: plain).</summary>
        public WeightCoding? ScaleCoding { get; }
        /// <summary>Scaled: how the int8 values are stored (null: plain).</summary>
        public WeightCoding? ValueCoding { get; }
        /// <summary>Scaled: bytes per stored integer value, 1 (int8: weights) or 2 (int16: a weight-only layer's bias, one scale).</summary>
        public int ValueBytes { get; } = 1;

        public static WeightCoding Palette(int paletteSize, int indexBits)
        {
            if (indexBits != 1 && indexBits != 2 && indexBits != 4 && indexBits != 8) throw new ArgumentOutOfRangeException(nameof(indexBits));
            if (paletteSize < 1 || paletteSize > 1 << indexBits) throw new ArgumentOutOfRangeException(nameof(paletteSize));
            return new WeightCoding(WeightCodingKind.Palette, paletteSize, indexBits, 0, 0);
        }

        public static WeightCoding WithOffset(int storedBytes, long offset)
        {
            if (storedBytes < 1 || storedBytes > 4) throw new ArgumentOutOfRangeException(nameof(storedBytes));
            return new WeightCoding(WeightCodingKind.Offset, 0, 0, storedBytes, offset);
        }

        public static WeightCoding Packed(int bits, long offset)
        {
            if (bits < 1 || bits > 32) throw new ArgumentOutOfRangeException(nameof(bits));
            return new WeightCoding(WeightCodingKind.Packed, 0, bits, 0, offset);
        }

        public static WeightCoding Huffman(int storedBytes)
        {
            if (storedBytes < HuffmanTableBytes) throw new ArgumentOutOfRangeException(nameof(storedBytes));
            return new WeightCoding(WeightCodingKind.Huffman, 0, 0, storedBytes, 0);
        }

        /// <summary>
        /// Scaled: float32 elements stored as int8 values and channel scales, each part plain (null) or coded by a
        /// palette, offset, packed or Huffman coding (not scaled again).
        /// </summary>
        public static WeightCoding Scaled(int stride, int blocks, int blockWidth, WeightCoding? scaleCoding, WeightCoding? valueCoding, int valueBytes = 1)
        {
            if (valueBytes != 1 && valueBytes != 2) throw new ArgumentOutOfRangeException(nameof(valueBytes));
            if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride));
            if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks));
            if (blockWidth < 1 || blockWidth > stride && blocks > 1) throw new ArgumentOutOfRangeException(nameof(blockWidth));
            if (scaleCoding?.Kind == WeightCodingKind.Scaled || valueCoding?.Kind == WeightCodingKind.Scaled)
                throw new ArgumentException("the parts of a scaled coding are not scaled again");
            return new WeightCoding(stride, blocks, blockWidth, scaleCoding, valueCoding, valueBytes);
        }

        /// <summary>Scaled: bytes of the stored channel scales, which the int8 values follow.</summary>
        public long ScaleBytes => ScaleCoding?.StoredLength(Channels, 4) ?? 4L * Channels;

        /// <summary>Bytes the coded form of <paramref name="elements"/> elements of <paramref name="elementBytes"/> bytes takes in the blob.</summary>
        public long StoredLength(int elements, int elementBytes) => Kind switch
        {
            WeightCodingKind.Palette => (long)PaletteSize * elementBytes + ((long)elements * IndexBits + 7) / 8,
            WeightCodingKind.Offset => (long)elements * StoredBytes,
            WeightCodingKind.Packed => ((long)elements * Bits + 7) / 8,
            WeightCodingKind.Scaled => ScaleBytes + (ValueCoding?.StoredLength(elements, ValueBytes) ?? (long)elements * ValueBytes),
            _ => StoredBytes,
        };

        /// <summary>
        /// The plan-text form: "palette:SIZE:BITS", "offset:BYTES:OFFSET", "packed:BITS:OFFSET", "huffman:BYTES" or
        /// "scaled:STRIDE:BLOCKS:WIDTH:SCALES:VALUES" (":i16" after it for int16 values), the two parts as their own form with '/' for ':' ("plain" if plain).
        /// </summary>
        public override string ToString()
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            return Kind switch
            {
                WeightCodingKind.Palette => "palette:" + PaletteSize.ToString(inv) + ":" + IndexBits.ToString(inv),
                WeightCodingKind.Offset => "offset:" + StoredBytes.ToString(inv) + ":" + Offset.ToString(inv),
                WeightCodingKind.Packed => "packed:" + Bits.ToString(inv) + ":" + Offset.ToString(inv),
                WeightCodingKind.Scaled => "scaled:" + Stride.ToString(inv) + ":" + Blocks.ToString(inv) + ":" + BlockWidth.ToString(inv)
                    + ":" + Part(ScaleCoding) + ":" + Part(ValueCoding) + (ValueBytes == 2 ? ":i16" : ""),
                _ => "huffman:" + StoredBytes.ToString(inv),
            };
        }

        private static string Part(WeightCoding? c) => c is null ? "plain" : c.ToString().Replace(':', '/');

        /// <summary>Reads the <see cref="ToString"/> form.</summary>
        public static WeightCoding Parse(string text)
        {
            var parts = text.Split(':');
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            var ns = System.Globalization.NumberStyles.AllowLeadingSign;
            if (parts.Length == 2 && parts[0] == "huffman") return Huffman(int.Parse(parts[1], ns, inv));
            if ((parts.Length == 6 || parts.Length == 7 && parts[6] == "i16") && parts[0] == "scaled")
            {
                WeightCoding? ParsePart(string t) => t == "plain" ? null : Parse(t.Replace('/', ':'));
                return Scaled(int.Parse(parts[1], ns, inv), int.Parse(parts[2], ns, inv), int.Parse(parts[3], ns, inv), ParsePart(parts[4]), ParsePart(parts[5]), parts.Length == 7 ? 2 : 1);
            }
            if (parts.Length == 3)
            {
                if (parts[0] == "palette") return Palette(int.Parse(parts[1], ns, inv), int.Parse(parts[2], ns, inv));
                if (parts[0] == "offset") return WithOffset(int.Parse(parts[1], ns, inv), long.Parse(parts[2], ns, inv));
                if (parts[0] == "packed") return Packed(int.Parse(parts[1], ns, inv), long.Parse(parts[2], ns, inv));
            }
            throw new FormatException("unknown weight coding '" + text + "'");
        }

        public bool Equals(WeightCoding? o) => o is not null && o.ToString() == ToString();
        public override bool Equals(object? obj) => Equals(obj as WeightCoding);
        public override int GetHashCode() => ToString().GetHashCode();
    }

    /// <summary>One layer: one generated method, made of one or more kernel calls.</summary>
    public sealed class PlanLayer
    {
        public int Index { get; set; }
        /// <summary>Method name, e.g. L3_Conv3x3_Relu.</summary>
        public string Method { get; set; } = "";
        /// <summary>The op (or fused ops), e.g. "Conv + Relu".</summary>
        public string Op { get; set; } = "";
        /// <summary>ONNX node names this layer computes.</summary>
        public List<string> Nodes { get; } = new List<string>();
        /// <summary>One line on the geometry, e.g. "1→8 channels, 5x5, stride 1, pads 2,2,2,2".</summary>
        public string Detail { get; set; } = "";
        /// <summary>The math, e.g. "y = relu(b + Σ x·w)".</summary>
        public string Math { get; set; } = "";
        public List<PlanCall> Calls { get; } = new List<PlanCall>();
    }

    /// <summary>A call of a kernel method, e.g. Conv2D.Run with its arguments.</summary>
    public sealed class PlanCall
    {
        public PlanCall(string target, IEnumerable<PlanArg> args) { Target = target; Args = new List<PlanArg>(args); }
        /// <summary>Kernel class and method, optionally with a type argument: "Conv2D.Run", "Transpose.Run&lt;float&gt;".</summary>
        public string Target { get; }
        public List<PlanArg> Args { get; }
        /// <summary>The kernel class (the part before the first '.').</summary>
        public string KernelClass => Target.Substring(0, Target.IndexOf('.'));
    }

    public enum ArgKind { In, Out, Int, Long, Float, Bool, Ints, Floats }

    /// <summary>A kernel argument: a buffer read (In) or written (Out), or a constant.</summary>
    public sealed class PlanArg
    {
        private PlanArg(ArgKind kind) { Kind = kind; }
        public ArgKind Kind { get; private set; }
        public string Buffer { get; private set; } = "";
        public long Integer { get; private set; }
        public float Real { get; private set; }
        public IReadOnlyList<long> Integers { get; private set; } = Array.Empty<long>();
        public IReadOnlyList<float> Reals { get; private set; } = Array.Empty<float>();

        public static PlanArg In(string buffer) => new PlanArg(ArgKind.In) { Buffer = buffer };
        public static PlanArg Out(string buffer) => new PlanArg(ArgKind.Out) { Buffer = buffer };
        public static PlanArg Int(long v) => new PlanArg(ArgKind.Int) { Integer = v };
        public static PlanArg Long(long v) => new PlanArg(ArgKind.Long) { Integer = v };
        public static PlanArg Float(float v) => new PlanArg(ArgKind.Float) { Real = v };
        public static PlanArg Bool(bool v) => new PlanArg(ArgKind.Bool) { Integer = v ? 1 : 0 };
        public static PlanArg Ints(IEnumerable<long> v) => new PlanArg(ArgKind.Ints) { Integers = new List<long>(v) };
        public static PlanArg Ints(IEnumerable<int> v) { var l = new List<long>(); foreach (var x in v) l.Add(x); return new PlanArg(ArgKind.Ints) { Integers = l }; }
        public static PlanArg Floats(IEnumerable<float> v) => new PlanArg(ArgKind.Floats) { Reals = new List<float>(v) };
    }
}
