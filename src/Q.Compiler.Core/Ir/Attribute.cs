using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Q.Compiler.Ir
{
    public enum AttributeKind { Float, Int, String, Tensor, Graph, Floats, Ints, Strings }

    /// <summary>An immutable ONNX attribute value.</summary>
    public sealed class AttributeValue
    {
        private AttributeValue(AttributeKind kind) { Kind = kind; }

        public AttributeKind Kind { get; private set; }
        public float F { get; private set; }
        public long I { get; private set; }
        public string S { get; private set; } = "";
        public Tensor? T { get; private set; }
        public IReadOnlyList<float> Floats { get; private set; } = Array.Empty<float>();
        public IReadOnlyList<long> Ints { get; private set; } = Array.Empty<long>();
        public IReadOnlyList<string> Strings { get; private set; } = Array.Empty<string>();
        /// <summary>Subgraphs are kept as an opaque marker: no supported op takes one yet.</summary>
        public string? GraphName { get; private set; }

        public static AttributeValue Float(float v) => new AttributeValue(AttributeKind.Float) { F = v };
        public static AttributeValue Int(long v) => new AttributeValue(AttributeKind.Int) { I = v };
        public static AttributeValue String(string v) => new AttributeValue(AttributeKind.String) { S = v };
        public static AttributeValue Tensor(Tensor v) => new AttributeValue(AttributeKind.Tensor) { T = v };
        public static AttributeValue Graph(string name) => new AttributeValue(AttributeKind.Graph) { GraphName = name };
        public static AttributeValue FloatList(IEnumerable<float> v) => new AttributeValue(AttributeKind.Floats) { Floats = v.ToArray() };
        public static AttributeValue IntList(IEnumerable<long> v) => new AttributeValue(AttributeKind.Ints) { Ints = v.ToArray() };
        public static AttributeValue StringList(IEnumerable<string> v) => new AttributeValue(AttributeKind.Strings) { Strings = v.ToArray() };

        public override string ToString() => Kind switch
        {
            AttributeKind.Float => F.ToString("R", CultureInfo.InvariantCulture),
            AttributeKind.Int => I.ToString(CultureInfo.InvariantCulture),
            AttributeKind.String => "\"" + S + "\"",
            AttributeKind.Ints => "[" + string.Join(",", Ints.Select(x => x.ToString(CultureInfo.InvariantCulture))) + "]",
            AttributeKind.Floats => "[" + string.Join(",", Floats.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]",
            AttributeKind.Strings => "[" + string.Join(",", Strings) + "]",
            AttributeKind.Tensor => T!.ToString(),
            _ => "graph " + GraphName,
        };
    }
}
