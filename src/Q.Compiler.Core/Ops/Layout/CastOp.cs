using System;
using System.Collections.Generic;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Cast and CastLike between every supported element type (float, float16, double, the integers, bool).
    /// Float → integer truncates toward zero and saturates (NaN → 0); integer → integer wraps; → bool is "≠ 0".
    /// The 'saturate' attribute only concerns float8 types, which are not supported (QC1006).
    /// </summary>
    public sealed class CastOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Cast", "CastLike" };

        private static DataType Target(OpContext ctx)
        {
            if (ctx.Node.OpType == "CastLike") return Check(ctx, ctx.Input(1).ElementType, ctx.Input(1).ElementType.ShortName());
            if (!ctx.Node.Attributes.TryGetValue("to", out var a)) throw ctx.ShapeError("attribute 'to' is required");
            if (a.Kind == AttributeKind.String)
            {
                // Opset 1–5 name the type.
                DataType? t = a.S.ToUpperInvariant() switch
                {
                    "FLOAT" => DataType.Float, "UINT8" => DataType.UInt8, "INT8" => DataType.Int8, "UINT16" => DataType.UInt16,
                    "INT16" => DataType.Int16, "INT32" => DataType.Int32, "INT64" => DataType.Int64, "BOOL" => DataType.Bool,
                    "FLOAT16" => DataType.Float16, "DOUBLE" => DataType.Double, "UINT32" => DataType.UInt32, "UINT64" => DataType.UInt64,
                    _ => null,
                };
                return Check(ctx, t ?? DataType.Undefined, a.S);
            }
            long to = a.I;
            return Check(ctx, to >= 1 && to <= 13 ? (DataType)to : DataType.Undefined, "type #" + to);
        }

        private static DataType Check(OpContext ctx, DataType t, string what)
        {
            if (t == DataType.Undefined || t == DataType.String)
                throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"casting to {(t == DataType.String ? "string" : what)} is not supported");
            return t;
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType == DataType.String) throw ctx.Error(DiagnosticIds.UnsupportedDataType, "casting from string is not supported");
            return new[] { new TensorType(Target(ctx), x.Shape) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            return new[] { Convert(x, Target(ctx)) };
        }

        /// <summary>The reference conversion (exact for 64-bit integers).</summary>
        public static Tensor Convert(Tensor x, DataType to)
        {
            if (x.ElementType == to) return x;
            int n = x.Length;
            if (to == DataType.Bool)
            {
                var b = new bool[n];
                var d = x.ToDoubles();
                for (int i = 0; i < n; i++) b[i] = d[i] != 0; // NaN ≠ 0
                return new Tensor(to, x.Shape, b);
            }
            if (to.IsFloat()) return Tensor.FromDoubles(to, x.Shape, x.ElementType == DataType.UInt64 ? Array.ConvertAll(x.As<ulong>(), v => (double)v) : x.ToDoubles());
            // Integer targets: floats truncate and saturate; integers (and bools) wrap from their exact 64-bit value.
            var bits = new long[n];
            if (x.ElementType.IsFloat())
            {
                var d = x.ToDoubles();
                var (lo, hi) = Range(to);
                for (int i = 0; i < n; i++)
                {
                    double v = Math.Truncate(d[i]);
                    if (double.IsNaN(v)) bits[i] = 0;
                    else if (to == DataType.UInt64) bits[i] = v <= 0 ? 0 : v >= 18446744073709551615.0 ? -1 : unchecked((long)(ulong)v);
                    else bits[i] = v <= lo ? (long)lo : v >= hi ? (long)hi : (long)v;
                }
            }
            else bits = x.ToLongs();
            return FromBits(to, x.Shape, bits);
        }

        /// <summary>An integer tensor from 64-bit values, each wrapped (two's complement) to the type's width.</summary>
        public static Tensor FromBits(DataType to, Shape shape, long[] bits)
        {
            Array a;
            switch (to)
            {
                case DataType.Int8: a = Array.ConvertAll(bits, v => unchecked((sbyte)v)); break;
                case DataType.UInt8: a = Array.ConvertAll(bits, v => unchecked((byte)v)); break;
                case DataType.Int16: a = Array.ConvertAll(bits, v => unchecked((short)v)); break;
                case DataType.UInt16: a = Array.ConvertAll(bits, v => unchecked((ushort)v)); break;
                case DataType.Int32: a = Array.ConvertAll(bits, v => unchecked((int)v)); break;
                case DataType.UInt32: a = Array.ConvertAll(bits, v => unchecked((uint)v)); break;
                case DataType.Int64: a = bits; break;
                case DataType.UInt64: a = Array.ConvertAll(bits, v => unchecked((ulong)v)); break;
                default: throw new NotSupportedException("no integer tensor of " + to);
            }
            return new Tensor(to, shape, a);
        }

        private static (double Lo, double Hi) Range(DataType t) => t switch
        {
            DataType.Int8 => (sbyte.MinValue, sbyte.MaxValue), DataType.UInt8 => (0, byte.MaxValue),
            DataType.Int16 => (short.MinValue, short.MaxValue), DataType.UInt16 => (0, ushort.MaxValue),
            DataType.Int32 => (int.MinValue, int.MaxValue), DataType.UInt32 => (0, uint.MaxValue),
            _ => (long.MinValue, long.MaxValue),
        };

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var to = ctx.OutputType(0).ElementType;
            ctx.Describe(ctx.Node.OpType, "Cast", $"{x} → {to.ShortName()}", $"y = ({to.ShortName()}) x");
            if (Strides.EmptyOutput(ctx)) return;
            if (to == x.ElementType) { ctx.ViewOf(0, 0); return; }
            string target = to == DataType.Bool ? $"Cast.ToBool<{x.ElementType.CSharpName()}>"
                : x.ElementType == DataType.Bool ? $"Cast.FromBool<{to.CSharpName()}>"
                : $"Cast.Run<{x.ElementType.CSharpName()}, {to.CSharpName()}>";
            ctx.Call(target, ctx.InArg(0), ctx.OutArg(0));
        }
    }
}
