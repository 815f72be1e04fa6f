using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;

namespace Q.Compiler.Ir
{
    /// <summary>
    /// An immutable constant tensor: an element type, a shape and a typed CLR array
    /// (float[], double[], sbyte[], byte[], short[], ushort[], int[], uint[], long[], ulong[], bool[];
    /// float16 is held as ushort[] bits, strings as string[]).
    /// </summary>
    public sealed class Tensor
    {
        private readonly Array _data;

        public Tensor(DataType type, Shape shape, Array data)
        {
            if (data.Length != shape.ElementCount)
                throw new ArgumentException($"tensor data has {data.Length} elements but shape {shape} needs {shape.ElementCount}");
            if (data.GetType().GetElementType() != type.ClrType())
                throw new ArgumentException($"tensor of {type} cannot hold {data.GetType().Name}");
            Type = new TensorType(type, shape);
            _data = data;
        }

        public TensorType Type { get; }
        public DataType ElementType => Type.ElementType;
        public Shape Shape => Type.Shape;
        public int Length => _data.Length;

        /// <summary>The data array. Callers must not modify it.</summary>
        public Array Data => _data;

        public T[] As<T>() => (T[])_data;

        public static Tensor FromFloats(Shape shape, float[] data) => new Tensor(DataType.Float, shape, data);
        public static Tensor FromLongs(Shape shape, long[] data) => new Tensor(DataType.Int64, shape, data);
        public static Tensor Scalar(float v) => FromFloats(Shape.Scalar, new[] { v });

        /// <summary>Every element as a double (for arithmetic in the reference interpreter).</summary>
        public double[] ToDoubles()
        {
            var r = new double[Length];
            // Switch on the element type, not the array: the CLR lets a byte[] pass as sbyte[] (ushort[] as short[], …).
            switch (ElementType)
            {
                case DataType.Float: { var a = (float[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Double: Array.Copy(_data, r, Length); break;
                case DataType.Int8: { var a = (sbyte[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.UInt8: { var a = (byte[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Int16: { var a = (short[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Float16: { var a = (ushort[])_data; for (int i = 0; i < a.Length; i++) r[i] = HalfBits.ToSingle(a[i]); break; }
                case DataType.UInt16: { var a = (ushort[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Int32: { var a = (int[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.UInt32: { var a = (uint[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Int64: { var a = (long[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.UInt64: { var a = (ulong[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.Bool: { var a = (bool[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i] ? 1 : 0; break; }
                default: throw new NotSupportedException("no numeric view of " + ElementType);
            }
            return r;
        }

        public float[] ToFloats()
        {
            if (_data is float[] f) return (float[])f.Clone();
            var d = ToDoubles();
            var r = new float[d.Length];
            for (int i = 0; i < d.Length; i++) r[i] = (float)d[i];
            return r;
        }

        /// <summary>Every element as a long (integers exactly; floats truncated toward zero).</summary>
        public long[] ToLongs()
        {
            var r = new long[Length];
            switch (ElementType)
            {
                case DataType.Int64: Array.Copy(_data, r, Length); break;
                case DataType.Int32: { var a = (int[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.UInt32: { var a = (uint[])_data; for (int i = 0; i < a.Length; i++) r[i] = a[i]; break; }
                case DataType.UInt64: { var a = (ulong[])_data; for (int i = 0; i < a.Length; i++) r[i] = unchecked((long)a[i]); break; }
                default: { var d = ToDoubles(); for (int i = 0; i < d.Length; i++) r[i] = (long)d[i]; break; }
            }
            return r;
        }

        /// <summary>Builds a tensor of the given type from doubles, converting as ONNX Cast does (truncation for integers, saturation not applied).</summary>
        public static Tensor FromDoubles(DataType type, Shape shape, double[] v)
        {
            int n = v.Length;
            Array a;
            switch (type)
            {
                case DataType.Float: { var r = new float[n]; for (int i = 0; i < n; i++) r[i] = (float)v[i]; a = r; break; }
                case DataType.Double: a = (double[])v.Clone(); break;
                case DataType.Float16: { var r = new ushort[n]; for (int i = 0; i < n; i++) r[i] = HalfBits.FromSingle((float)v[i]); a = r; break; }
                case DataType.Int8: { var r = new sbyte[n]; for (int i = 0; i < n; i++) r[i] = unchecked((sbyte)(long)v[i]); a = r; break; }
                case DataType.UInt8: { var r = new byte[n]; for (int i = 0; i < n; i++) r[i] = unchecked((byte)(long)v[i]); a = r; break; }
                case DataType.Int16: { var r = new short[n]; for (int i = 0; i < n; i++) r[i] = unchecked((short)(long)v[i]); a = r; break; }
                case DataType.UInt16: { var r = new ushort[n]; for (int i = 0; i < n; i++) r[i] = unchecked((ushort)(long)v[i]); a = r; break; }
                case DataType.Int32: { var r = new int[n]; for (int i = 0; i < n; i++) r[i] = unchecked((int)(long)v[i]); a = r; break; }
                case DataType.UInt32: { var r = new uint[n]; for (int i = 0; i < n; i++) r[i] = unchecked((uint)(long)v[i]); a = r; break; }
                case DataType.Int64: { var r = new long[n]; for (int i = 0; i < n; i++) r[i] = (long)v[i]; a = r; break; }
                case DataType.UInt64: { var r = new ulong[n]; for (int i = 0; i < n; i++) r[i] = (ulong)v[i]; a = r; break; }
                case DataType.Bool: { var r = new bool[n]; for (int i = 0; i < n; i++) r[i] = v[i] != 0; a = r; break; }
                default: throw new NotSupportedException("cannot build a tensor of " + type);
            }
            return new Tensor(type, shape, a);
        }

        public static Tensor FromLongs(DataType type, Shape shape, long[] v)
        {
            if (type == DataType.Int64) return new Tensor(type, shape, (long[])v.Clone());
            if (type == DataType.Int32) return new Tensor(type, shape, v.Select(x => unchecked((int)x)).ToArray());
            return FromDoubles(type, shape, v.Select(x => (double)x).ToArray());
        }

        /// <summary>Same data, another shape (same element count).</summary>
        public Tensor Reshape(Shape shape) => new Tensor(ElementType, shape, _data);

        /// <summary>The raw little-endian bytes of the data (float16 as its bits; bool as 0/1 bytes).</summary>
        public byte[] ToBytes()
        {
            switch (_data)
            {
                case float[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case double[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case sbyte[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case byte[] a: return (byte[])a.Clone();
                case short[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case ushort[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case int[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case uint[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case long[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case ulong[] a: return MemoryMarshal.AsBytes(a.AsSpan()).ToArray();
                case bool[] a: return a.Select(b => b ? (byte)1 : (byte)0).ToArray();
                default: throw new NotSupportedException("no byte view of " + ElementType);
            }
        }

        /// <summary>Builds a tensor from raw little-endian bytes.</summary>
        public static Tensor FromBytes(DataType type, Shape shape, ReadOnlySpan<byte> bytes)
        {
            int n = shape.ElementCount;
            if (type == DataType.String) throw new NotSupportedException("string tensors have no raw form");
            if (bytes.Length != (long)n * type.SizeOf())
                throw new ArgumentException($"{bytes.Length} bytes for {n} elements of {type.ShortName()}");
            Array a;
            switch (type)
            {
                case DataType.Float: a = MemoryMarshal.Cast<byte, float>(bytes).ToArray(); break;
                case DataType.Double: a = MemoryMarshal.Cast<byte, double>(bytes).ToArray(); break;
                case DataType.Int8: a = MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray(); break;
                case DataType.UInt8: a = bytes.ToArray(); break;
                case DataType.Int16: a = MemoryMarshal.Cast<byte, short>(bytes).ToArray(); break;
                case DataType.UInt16: case DataType.Float16: a = MemoryMarshal.Cast<byte, ushort>(bytes).ToArray(); break;
                case DataType.Int32: a = MemoryMarshal.Cast<byte, int>(bytes).ToArray(); break;
                case DataType.UInt32: a = MemoryMarshal.Cast<byte, uint>(bytes).ToArray(); break;
                case DataType.Int64: a = MemoryMarshal.Cast<byte, long>(bytes).ToArray(); break;
                case DataType.UInt64: a = MemoryMarshal.Cast<byte, ulong>(bytes).ToArray(); break;
                case DataType.Bool: { var r = new bool[n]; for (int i = 0; i < n; i++) r[i] = bytes[i] != 0; a = r; break; }
                default: throw new NotSupportedException("cannot read " + type);
            }
            return new Tensor(type, shape, a);
        }

        /// <summary>An empty-data tensor of zeros.</summary>
        public static Tensor Zeros(DataType type, Shape shape) =>
            new Tensor(type, shape, Array.CreateInstance(type.ClrType(), shape.ElementCount));

        public override string ToString() => "Tensor " + Type;
    }

    /// <summary>IEEE 754 binary16 conversions (netstandard2.0 has no System.Half).</summary>
    public static class HalfBits
    {
        public static float ToSingle(ushort h)
        {
            int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
            float v;
            if (exp == 0) v = mant * (1f / (1 << 24));
            else if (exp == 31) v = mant == 0 ? float.PositiveInfinity : float.NaN;
            else v = (float)((1 + mant / 1024.0) * Math.Pow(2, exp - 15));
            return sign == 1 ? -v : v;
        }

        /// <summary>Round to nearest even, as IEEE conversion does.</summary>
        public static ushort FromSingle(float f)
        {
            uint x = BitConverter.ToUInt32(BitConverter.GetBytes(f), 0);
            uint sign = (x >> 16) & 0x8000;
            int exp = (int)((x >> 23) & 0xFF);
            uint mant = x & 0x7FFFFF;
            if (exp == 255) return (ushort)(sign | 0x7C00 | (mant != 0 ? 0x200u : 0u));
            int e = exp - 127 + 15;
            if (e >= 31) return (ushort)(sign | 0x7C00);
            if (e <= 0)
            {
                if (e < -10) return (ushort)sign;
                mant |= 0x800000;
                int shift = 14 - e;
                uint half = mant >> shift;
                uint rem = mant & ((1u << shift) - 1);
                uint mid = 1u << (shift - 1);
                if (rem > mid || (rem == mid && (half & 1) != 0)) half++;
                return (ushort)(sign | half);
            }
            uint hm = mant >> 13;
            uint r = mant & 0x1FFF;
            uint res = sign | ((uint)e << 10) | hm;
            if (r > 0x1000 || (r == 0x1000 && (hm & 1) != 0)) res++;
            return (ushort)res;
        }
    }
}
