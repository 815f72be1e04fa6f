using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Ops whose output is known at build time: Constant (every value_* attribute), ConstantOfShape, Range and EyeLike.
    /// They always fold; an input they need that is computed at run time is reported (QC2008).
    /// </summary>
    public sealed class ConstantOps : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Constant", "ConstantOfShape", "Range", "EyeLike" };

        public override Tensor[]? TryFold(OpContext ctx) => new[] { Compute(ctx, ctx.ConstantInputs) };

        public override TensorType[] InferTypes(OpContext ctx) => new[] { Compute(ctx, ctx.ConstantInputs).Type };

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs) => new[] { Compute(ctx, inputs) };

        public override void Lower(LowerContext ctx)
        {
            // Folded at import; kept correct should a pass ever leave one behind.
            var value = Compute(ctx.Op, ctx.Op.ConstantInputs);
            ctx.Describe(ctx.Node.OpType, ctx.Node.OpType, value.Type.ToString(), "y = a constant");
            ctx.Call($"Copy.Run<{value.ElementType.CSharpName()}>", PlanArg.In(ctx.Constant("value", value)), ctx.OutArg(0));
        }

        private static Tensor Compute(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            switch (ctx.Node.OpType)
            {
                case "Constant": return Constant(ctx);
                case "ConstantOfShape": return ConstantOfShape(ctx, inputs);
                case "Range": return Range(ctx, inputs);
                default: return EyeLike(ctx);
            }
        }

        private static Tensor Constant(OpContext ctx)
        {
            var attrs = ctx.Node.Attributes;
            if (attrs.Count != 1) throw ctx.ShapeError($"needs exactly one value attribute, has {attrs.Count} ({string.Join(", ", attrs.Keys)})");
            var (name, a) = (attrs.Keys.First(), attrs.Values.First());
            Tensor t;
            switch (name)
            {
                case "value": t = a.T ?? throw ctx.ShapeError("'value' is not a tensor"); break;
                case "value_float": t = Tensor.Scalar(a.F); break;
                case "value_floats": t = Tensor.FromFloats(new Shape(a.Floats.Count), a.Floats.ToArray()); break;
                case "value_int": t = Tensor.FromLongs(Shape.Scalar, new[] { a.I }); break;
                case "value_ints": t = Tensor.FromLongs(new Shape(a.Ints.Count), a.Ints.ToArray()); break;
                case "value_string": case "value_strings":
                    throw ctx.Error(DiagnosticIds.UnsupportedDataType, "string constants are not supported");
                case "sparse_value": throw ctx.Unsupported("sparse constants are not supported; store the tensor dense");
                default: throw ctx.ShapeError($"unknown attribute '{name}'");
            }
            if (t.ElementType == DataType.String) throw ctx.Error(DiagnosticIds.UnsupportedDataType, "string constants are not supported");
            return t;
        }

        private static Tensor ConstantOfShape(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var dims = (inputs.Count > 0 ? inputs[0] : null) ?? ctx.RequireConstant(0, "shape");
            var value = ctx.TensorAttr("value") ?? Tensor.Scalar(0f);
            if (value.Length != 1) throw ctx.ShapeError($"value has {value.Length} elements; it must have one");
            if (value.ElementType == DataType.String) throw ctx.Error(DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            var d = dims.ToLongs();
            if (!Shape.TryCreate(d, out var shape))
                throw ctx.Error(DiagnosticIds.TensorTooLarge, $"shape [{string.Join(",", d)}] is negative or too large");
            var map = new int[shape!.ElementCount];
            return Strides.Take(value.Reshape(new Shape(1)), shape, map);
        }

        private static Tensor Range(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            Tensor Arg(int i, string what) => (i < inputs.Count ? inputs[i] : null) ?? ctx.RequireConstant(i, what);
            var start = Arg(0, "start"); var limit = Arg(1, "limit"); var delta = Arg(2, "delta");
            var type = start.ElementType;
            if (limit.ElementType != type || delta.ElementType != type) throw ctx.ShapeError("start, limit and delta have different element types");
            if (type.IsInteger())
            {
                long s = start.ToLongs()[0], l = limit.ToLongs()[0], dl = delta.ToLongs()[0];
                if (dl == 0) throw ctx.ShapeError("delta is 0");
                long n = Math.Max(0, dl > 0 ? (l - s + dl - 1) / dl : (s - l - dl - 1) / -dl);
                if (n > int.MaxValue) throw ctx.Error(DiagnosticIds.TensorTooLarge, $"Range has {n} elements");
                return Tensor.FromLongs(type, new Shape((int)n), Enumerable.Range(0, (int)n).Select(i => s + i * dl).ToArray());
            }
            double sf = start.ToDoubles()[0], lf = limit.ToDoubles()[0], df = delta.ToDoubles()[0];
            if (df == 0 || double.IsNaN(df)) throw ctx.ShapeError("delta is 0");
            double count = Math.Ceiling((lf - sf) / df);
            if (double.IsNaN(count) || count > int.MaxValue) throw ctx.Error(DiagnosticIds.TensorTooLarge, $"Range has {count} elements");
            int m = (int)Math.Max(0, count);
            return Tensor.FromDoubles(type, new Shape(m), Enumerable.Range(0, m).Select(i => sf + i * df).ToArray());
        }

        private static Tensor EyeLike(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.Shape.Rank != 2) throw ctx.ShapeError($"the input must be 2-D, it is {x.Shape}");
            var type = ctx.Has("dtype") ? (DataType)ctx.Int("dtype") : x.ElementType;
            if (!Enum.IsDefined(typeof(DataType), type) || type == DataType.String || type == DataType.Undefined)
                throw ctx.Error(DiagnosticIds.UnsupportedDataType, $"dtype {ctx.Int("dtype")} is not supported");
            long k = ctx.Int("k", 0);
            int rows = x.Shape[0], cols = x.Shape[1];
            var v = new double[rows * cols];
            for (int i = 0; i < rows; i++)
            {
                long j = i + k;
                if (j >= 0 && j < cols) v[i * cols + j] = 1;
            }
            return Tensor.FromDoubles(type, x.Shape, v);
        }
    }
}
