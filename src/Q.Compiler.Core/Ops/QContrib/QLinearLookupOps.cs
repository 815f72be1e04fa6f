using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.QContrib
{
    /// <summary>256-entry tables y = quantize(f(dequantize(x))) in float32, as ONNX Runtime's QlinearBuildLookupTable builds them.</summary>
    public static class QLookupTable
    {
        /// <summary>
        /// Entry i is for the value qmin + i: dequantized as sx·(x − zx) in float32, mapped by <paramref name="f"/>, and quantized as
        /// QuantizeLinear (x / sy in float32, round half to even, + zy, saturated).
        /// </summary>
        public static int[] Build(Func<float, float> f, float sx, int zx, float sy, int zy, DataType t)
        {
            int qmin = QContribMath.QMin(t), qmax = QContribMath.QMax(t);
            var r = new int[256];
            for (int i = 0; i < 256; i++)
            {
                float x = (float)(qmin + i - zx) * sx;
                r[i] = Quantization.QuantMath.Quantize(f(x), sy, zy, qmin, qmax);
            }
            return r;
        }

        /// <summary>The table as a uint8 constant for the kernels (uint8 only: entry i is for x = i).</summary>
        public static Tensor ToUInt8(int[] table) => new Tensor(DataType.UInt8, new Shape(256), table.Select(v => (byte)v).ToArray());

        public static Tensor Apply(int[] table, Tensor x)
        {
            int qmin = QContribMath.QMin(x.ElementType);
            var v = QContribMath.Values(x);
            for (int i = 0; i < v.Length; i++) v[i] = table[v[i] - qmin];
            return QContribMath.ToTensor(x.ElementType, x.Shape, v);
        }
    }

    /// <summary>
    /// com.microsoft QLinearSigmoid and QLinearLeakyRelu (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?; LeakyRelu's
    /// alpha, default 0.01): a 256-entry table built at compile time, y = table[x].
    /// </summary>
    /// <remarks>
    /// The table is computed as ONNX Runtime builds it (float32 dequantize, f, QuantizeLinear), except that sigmoid is
    /// 1/(1 + e^−x) in double rounded to float where MLAS uses a polynomial approximation (error below 1e−6): entries can differ
    /// by one step where f(x)/sy lies that close to a rounding tie. LeakyRelu is exact float math as in ONNX Runtime.
    /// </remarks>
    public sealed class QLinearLookupOp : QLinearTableOp
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearSigmoid", "QLinearLeakyRelu" };
        public override string Domain => QContribMath.Domain;

        protected override Func<float, float> Function(OpContext ctx)
        {
            if (ctx.Node.OpType == "QLinearSigmoid") return v => (float)(1.0 / (1.0 + Math.Exp(-(double)v)));
            float alpha = ctx.Float("alpha", 0.01f);
            return v => v >= 0 ? v : v * alpha;
        }

        /// <summary>LeakyRelu is plain float arithmetic: the kernel builds its table; Sigmoid's (an exponential) is stored.</summary>
        protected override (int Kind, float Alpha, float Beta)? KernelTable(OpContext ctx) =>
            ctx.Node.OpType == "QLinearLeakyRelu" ? (LeakyReluTable, ctx.Float("alpha", 0.01f), 0f) : null;
    }

    /// <summary>
    /// The ops y = table[x] with one uint8 input (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?): the 256-entry table
    /// quantize(f(dequantize(x))) of <see cref="QLookupTable.Build"/> is the integer reference; the lowering stores it with
    /// the weights, or, for the f that are plain float arithmetic (<see cref="KernelTable"/>), lets the kernel build the same
    /// table bit for bit from the four parameters on each call (QLookup.Activation), which costs no weight bytes.
    /// </summary>
    public abstract class QLinearTableOp : OpDefinition
    {
        /// <summary>QLookup.BuildTable's function codes (those of the fused activations).</summary>
        protected const int LeakyReluTable = 3, HardSigmoidTable = 5, HardSwishTable = 6;

        /// <summary>The float function f of the node.</summary>
        protected abstract Func<float, float> Function(OpContext ctx);

        /// <summary>
        /// The kernel's activation code (QLookup.LeakyRelu, HardSigmoid, HardSwish) and its alpha and beta when QLookup.BuildTable
        /// computes f exactly as <see cref="Function"/> does (same float32 operations); null to store the table.
        /// </summary>
        protected abstract (int Kind, float Alpha, float Beta)? KernelTable(OpContext ctx);

        public sealed override TensorType[] InferTypes(OpContext ctx)
        {
            var t = QContribMath.CheckQuantInput(ctx, 0);
            QContribMath.CheckParams(ctx, 1, 2, t);
            QContribMath.CheckParams(ctx, 3, 4, t);
            return new[] { new TensorType(t, ctx.Input(0).Shape) };
        }

        public sealed override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var t = InferTypes(ctx)[0].ElementType;
            var (sx, zx) = QContribMath.Params(ctx, inputs, 1, 2);
            var (sy, zy) = QContribMath.Params(ctx, inputs, 3, 4);
            return new[] { QLookupTable.Apply(QLookupTable.Build(Function(ctx), sx, zx, sy, zy, t), inputs[0]!) };
        }

        public sealed override void Lower(LowerContext ctx)
        {
            var xt = ctx.InputType(0);
            QContribMath.RequireUInt8(ctx, xt.ElementType);
            var (sx, zx) = QContribMath.ConstParams(ctx.Op, 1, 2);
            var (sy, zy) = QContribMath.ConstParams(ctx.Op, 3, 4);
            var kernel = KernelTable(ctx.Op);
            string name = ctx.Node.OpType.Substring("QLinear".Length);
            ctx.Describe(ctx.Node.OpType, name, $"{xt.Shape} u8", kernel is null
                ? "y = table[x], table = quantize(f(dequantize(0..255))) built at compile time"
                : "y = table[x], table = quantize(f(dequantize(0..255))) built by the kernel from the quantization parameters");
            if (xt.Shape.ElementCount == 0) return;
            if (kernel is { } k)
            {
                string scratch = ctx.Scratch("table", DataType.UInt8, new Shape(256));
                ctx.Call("QLookup.Activation", ctx.InArg(0), PlanArg.Out(scratch), ctx.OutArg(0), PlanArg.Int(k.Kind), PlanArg.Float(k.Alpha), PlanArg.Float(k.Beta),
                    PlanArg.Float(sx), PlanArg.Int(zx), PlanArg.Float(sy), PlanArg.Int(zy));
                return;
            }
            string table = ctx.Constant("table", QLookupTable.ToUInt8(QLookupTable.Build(Function(ctx.Op), sx, zx, sy, zy, xt.ElementType)));
            ctx.Call("QLookup.Run", ctx.InArg(0), PlanArg.In(table), ctx.OutArg(0));
        }
    }

    /// <summary>
    /// com.microsoft QLinearConcat (Y_scale, Y_zero_point, then X_i, X_i_scale, X_i_zero_point for each input; attribute
    /// axis): each input is requantized to the output's parameters, by the table quantize(dequantize(x)) as ONNX Runtime
    /// does (a plain copy when the parameters are equal), and the parts are concatenated.
    /// </summary>
    public sealed class QLinearConcatOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearConcat" };
        public override string Domain => QContribMath.Domain;

        private static int Parts(OpContext ctx)
        {
            if (ctx.InputCount < 5 || (ctx.InputCount - 2) % 3 != 0)
                throw ctx.ShapeError($"QLinearConcat takes Y_scale, Y_zero_point and triples (X, X_scale, X_zero_point); got {ctx.InputCount} inputs");
            return (ctx.InputCount - 2) / 3;
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            int parts = Parts(ctx);
            var t = QContribMath.CheckQuantInput(ctx, 2);
            QContribMath.CheckParams(ctx, 0, 1, t);
            var first = ctx.Input(2).Shape;
            int axis = ctx.Axis(ctx.Int("axis"), first.Rank);
            var dims = first.ToArray();
            dims[axis] = 0;
            for (int p = 0; p < parts; p++)
            {
                QContribMath.CheckQuantInput(ctx, 2 + 3 * p, t);
                QContribMath.CheckParams(ctx, 3 + 3 * p, 4 + 3 * p, t);
                var s = ctx.Input(2 + 3 * p).Shape;
                if (s.Rank != first.Rank) throw ctx.ShapeError($"input shapes {first} and {s} have different ranks");
                for (int i = 0; i < s.Rank; i++)
                    if (i != axis && s[i] != first[i]) throw ctx.ShapeError($"input shapes {first} and {s} differ outside axis {axis}");
                dims[axis] += s[axis];
            }
            return new[] { new TensorType(t, new Shape(dims)) };
        }

        private static (int Outer, int Inner, int Axis) Around(OpContext ctx, Shape s)
        {
            int axis = ctx.Axis(ctx.Int("axis"), s.Rank), outer = 1, inner = 1;
            for (int i = 0; i < axis; i++) outer *= s[i];
            for (int i = axis + 1; i < s.Rank; i++) inner *= s[i];
            return (outer, inner, axis);
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var type = InferTypes(ctx)[0];
            var t = type.ElementType;
            var (sy, zy) = QContribMath.Params(ctx, inputs, 0, 1);
            var (outer, inner, axis) = Around(ctx, type.Shape);
            int row = type.Shape[axis] * inner, at = 0;
            var y = new int[type.Shape.ElementCount];
            for (int p = 0; p < Parts(ctx); p++)
            {
                var x = inputs[2 + 3 * p]!;
                var (sx, zx) = QContribMath.Params(ctx, inputs, 3 + 3 * p, 4 + 3 * p);
                var v = QLookupTable.Apply(QLookupTable.Build(f => f, sx, zx, sy, zy, t), x);
                var vals = QContribMath.Values(v);
                int block = x.Shape[axis] * inner;
                for (int r = 0; r < outer; r++) Array.Copy(vals, r * block, y, r * row + at, block);
                at += block;
            }
            return new[] { QContribMath.ToTensor(t, type.Shape, y) };
        }

        public override void Lower(LowerContext ctx)
        {
            var outType = ctx.OutputType(0);
            QContribMath.RequireUInt8(ctx, outType.ElementType);
            var (sy, zy) = QContribMath.ConstParams(ctx.Op, 0, 1);
            var (outer, inner, axis) = Around(ctx.Op, outType.Shape);
            int parts = Parts(ctx.Op);
            ctx.Describe("QLinearConcat", "QConcat",
                $"{string.Join(" ‖ ", Enumerable.Range(0, parts).Select(p => ctx.InputType(2 + 3 * p).Shape.ToString()))} → {outType.Shape} u8, axis {axis}",
                "y = [requantize(x0) ‖ requantize(x1) ‖ …] along the axis");
            if (outType.Shape.ElementCount == 0) return;
            int row = outType.Shape[axis] * inner, at = 0;
            for (int p = 0; p < parts; p++)
            {
                int xi = 2 + 3 * p;
                var (sx, zx) = QContribMath.ConstParams(ctx.Op, xi + 1, xi + 2);
                int block = ctx.InputType(xi).Shape[axis] * inner;
                if (block == 0) continue;
                if (sx.Equals(sy) && zx == zy)
                    ctx.Call("Strided.CopyRows<byte>", ctx.InArg(xi), PlanArg.Int(0), PlanArg.Int(block),
                        ctx.OutArg(0), PlanArg.Int(at), PlanArg.Int(row), PlanArg.Int(outer), PlanArg.Int(block));
                else
                {
                    string table = ctx.Constant("table" + p, QLookupTable.ToUInt8(QLookupTable.Build(f => f, sx, zx, sy, zy, outType.ElementType)));
                    ctx.Call("QLookup.Rows", ctx.InArg(xi), PlanArg.In(table), ctx.OutArg(0), PlanArg.Int(at), PlanArg.Int(row), PlanArg.Int(outer), PlanArg.Int(block));
                }
                at += block;
            }
        }
    }
}
