using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Q.Compiler.Ir
{
    /// <summary>An immutable static shape. Rank 0 is a scalar with one element.</summary>
    public sealed class Shape : IEquatable<Shape>
    {
        /// <summary>The largest element count a single tensor may have (2^31 - 1 elements, and below 2 GiB of bytes is checked by callers).</summary>
        public const long MaxElements = int.MaxValue;

        private readonly int[] _dims;

        public Shape(params int[] dims)
        {
            _dims = (int[])dims.Clone();
            long n = 1;
            foreach (int d in _dims)
            {
                if (d < 0) throw new ArgumentOutOfRangeException(nameof(dims), "negative dimension " + d);
                n *= d;
                if (n > MaxElements) throw new OverflowException("shape " + Format(_dims) + " has more than 2^31-1 elements");
            }
            ElementCount = (int)n;
        }

        public Shape(IEnumerable<int> dims) : this(dims.ToArray()) { }

        public static Shape Scalar { get; } = new Shape();

        public int Rank => _dims.Length;
        public int this[int i] => _dims[i];
        public IReadOnlyList<int> Dims => _dims;
        public int ElementCount { get; }
        public int[] ToArray() => (int[])_dims.Clone();

        /// <summary>Checks that a list of dimensions (as read from a file, possibly huge) describes a tensor we can hold.</summary>
        public static bool TryCreate(IReadOnlyList<long> dims, out Shape? shape)
        {
            shape = null;
            long n = 1;
            var arr = new int[dims.Count];
            for (int i = 0; i < dims.Count; i++)
            {
                long d = dims[i];
                if (d < 0 || d > int.MaxValue) return false;
                n *= d;
                if (n > MaxElements) return false;
                arr[i] = (int)d;
            }
            shape = new Shape(arr);
            return true;
        }

        /// <summary>Row-major strides in elements.</summary>
        public int[] Strides()
        {
            var s = new int[Rank];
            int acc = 1;
            for (int i = Rank - 1; i >= 0; i--) { s[i] = acc; acc *= _dims[i]; }
            return s;
        }

        public bool Equals(Shape? other) => other is not null && _dims.SequenceEqual(other._dims);
        public override bool Equals(object? obj) => Equals(obj as Shape);
        public override int GetHashCode() { int h = 17; foreach (int d in _dims) h = h * 31 + d; return h; }

        /// <summary>[1,3,224,224]</summary>
        public override string ToString() => Format(_dims);

        /// <summary>1x3x224x224 (scalar: "scalar")</summary>
        public string ToCompact() => Rank == 0 ? "scalar" : string.Join("x", _dims.Select(d => d.ToString(CultureInfo.InvariantCulture)));

        public static Shape ParseCompact(string s)
        {
            if (s == "scalar") return Scalar;
            return new Shape(s.Split('x').Select(p => int.Parse(p, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray());
        }

        public static string Format(IReadOnlyList<int> dims)
        {
            var sb = new StringBuilder("[");
            for (int i = 0; i < dims.Count; i++) { if (i > 0) sb.Append(','); sb.Append(dims[i].ToString(CultureInfo.InvariantCulture)); }
            return sb.Append(']').ToString();
        }
    }

    /// <summary>An element type and a static shape.</summary>
    public sealed class TensorType : IEquatable<TensorType>
    {
        public TensorType(DataType elementType, Shape shape) { ElementType = elementType; Shape = shape; }
        public DataType ElementType { get; }
        public Shape Shape { get; }
        public long ByteSize => (long)Shape.ElementCount * ElementType.SizeOf();
        public bool Equals(TensorType? o) => o is not null && o.ElementType == ElementType && o.Shape.Equals(Shape);
        public override bool Equals(object? obj) => Equals(obj as TensorType);
        public override int GetHashCode() => ((int)ElementType * 397) ^ Shape.GetHashCode();
        public override string ToString() => ElementType.ShortName() + Shape;
        public TensorType WithShape(Shape s) => new TensorType(ElementType, s);
    }
}
