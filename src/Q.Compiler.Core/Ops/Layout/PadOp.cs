using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Pad in constant, edge, reflect and wrap modes. Opset 1 ('paddings') and 2–10 ('pads', 'value') use attributes;
    /// opset 11+ take pads and constant_value as inputs (known at build time), opset 18 adds 'axes'.
    /// Negative pads crop.
    /// </summary>
    public sealed class PadOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "Pad" };

        private sealed class Spec
        {
            public int[] Begins = Array.Empty<int>();
            public int[] Ends = Array.Empty<int>();
            public int Mode;
            public Tensor Value = null!;
            public string ModeName = "";
            /// <summary>constant_value is an input computed at run time (Value is then a placeholder).</summary>
            public bool RuntimeValue;
        }

        private static Spec Read(OpContext ctx, TensorType x)
        {
            int rank = x.Shape.Rank;
            string mode = ctx.String("mode", "constant");
            var s = new Spec { ModeName = mode };
            s.Mode = mode switch
            {
                "constant" => 0, "edge" => 1, "reflect" => 2,
                "wrap" when ctx.Opset >= 19 => 3,
                _ => throw ctx.Unsupported($"mode '{mode}' is not supported (constant, edge, reflect, and wrap from opset 19)"),
            };
            long[] pads;
            double value = 0;
            Tensor? valueTensor = null;
            long[]? axes = null;
            if (ctx.Opset < 11)
            {
                pads = ctx.Ints(ctx.Opset < 2 ? "paddings" : "pads") ?? throw ctx.ShapeError("attribute 'pads' is required");
                value = ctx.Float("value", 0f);
            }
            else
            {
                pads = ctx.RequireConstant(1, "pads").ToLongs();
                if (ctx.HasInput(2))
                {
                    // The pad value may be computed at run time: the kernel reads it from a span.
                    var vt = ctx.Input(2);
                    if (vt.Shape.ElementCount != 1) throw ctx.ShapeError($"constant_value has {vt.Shape.ElementCount} elements; it must be a scalar");
                    if (vt.ElementType != x.ElementType)
                        throw ctx.ShapeError($"constant_value is {vt.ElementType.ShortName()} but the data is {x.ElementType.ShortName()}");
                    valueTensor = ctx.Constant(2);
                    s.RuntimeValue = valueTensor is null;
                }
                if (ctx.HasInput(3)) axes = ctx.RequireConstant(3, "axes").ToLongs();
            }
            var ax = axes is null ? Enumerable.Range(0, rank).ToArray() : axes.Select(a => ctx.Axis(a, rank)).ToArray();
            if (pads.Length != 2 * ax.Length) throw ctx.ShapeError($"pads has {pads.Length} values; {2 * ax.Length} are needed (begin and end for each of {ax.Length} axes)");
            s.Begins = new int[rank];
            s.Ends = new int[rank];
            for (int i = 0; i < ax.Length; i++)
            {
                long b = pads[i], e = pads[i + ax.Length];
                if (Math.Abs(b) > int.MaxValue / 2 || Math.Abs(e) > int.MaxValue / 2) throw ctx.ShapeError($"pad {b}, {e} is too large");
                s.Begins[ax[i]] = (int)b;
                s.Ends[ax[i]] = (int)e;
            }
            for (int d = 0; d < rank; d++)
            {
                long size = (long)x.Shape[d] + s.Begins[d] + s.Ends[d];
                if (size < 0) throw ctx.ShapeError($"pads {s.Begins[d]}, {s.Ends[d]} crop more than dimension {d} of {x.Shape} holds");
                if (s.Mode != 0 && x.Shape[d] == 0 && size > 0)
                    throw ctx.Unsupported($"{mode} padding of the empty dimension {d} is undefined");
            }
            s.Value = valueTensor?.Reshape(Shape.Scalar) ?? Tensor.FromDoubles(x.ElementType, Shape.Scalar, new[] { value });
            return s;
        }

        private static Shape OutShape(Shape x, Spec s) => new Shape(Enumerable.Range(0, x.Rank).Select(d => x[d] + s.Begins[d] + s.Ends[d]));

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (x.ElementType == DataType.String) throw ctx.Error(Diagnostics.DiagnosticIds.UnsupportedDataType, "string tensors are not supported");
            return new[] { x.WithShape(OutShape(x.Shape, Read(ctx, x))) };
        }

        /// <summary>The input index read by output index <paramref name="i"/> − begin along a dimension of size n, or −1 for the pad value.</summary>
        internal static int Source(int i, int n, int mode)
        {
            if (i >= 0 && i < n) return i;
            switch (mode)
            {
                case 1: return i < 0 ? 0 : n - 1;
                case 2:
                {
                    if (n == 1) return 0;
                    int period = 2 * (n - 1);
                    int m = ((i % period) + period) % period;
                    return m < n ? m : period - m;
                }
                case 3: return ((i % n) + n) % n;
                default: return -1;
            }
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var x = inputs[0]!;
            var s = Read(ctx, x.Type);
            if (s.RuntimeValue) s.Value = inputs[2]!.Reshape(Shape.Scalar);
            return new[] { Reference(x, s.Begins, s.Ends, s.Mode, s.Value) };
        }

        /// <summary>The reference padding (negative pads crop): <paramref name="value"/> is a one-element tensor of x's type.</summary>
        internal static Tensor Reference(Tensor x, int[] begins, int[] ends, int mode, Tensor value)
        {
            var shape = new Shape(Enumerable.Range(0, x.Shape.Rank).Select(d => x.Shape[d] + begins[d] + ends[d]));
            int rank = x.Shape.Rank, n = shape.ElementCount;
            // The source gets one more element, the pad value, read wherever the output falls outside.
            var ext = Array.CreateInstance(x.Data.GetType().GetElementType()!, x.Length + 1);
            Array.Copy(x.Data, ext, x.Length);
            Array.Copy(value.Data, 0, ext, x.Length, 1);
            var src = new Tensor(x.ElementType, new Shape(x.Length + 1), ext);
            var st = x.Shape.Strides();
            var map = new int[n];
            var idx = new int[rank];
            for (int f = 0; f < n; f++)
            {
                int off = 0;
                for (int d = 0; d < rank && off >= 0; d++)
                {
                    int k = Source(idx[d] - begins[d], x.Shape[d], mode);
                    off = k < 0 ? -1 : off + k * st[d];
                }
                map[f] = off < 0 ? x.Length : off;
                for (int d = rank - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
            }
            return Strides.Take(src, shape, map);
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var s = Read(ctx.Op, x);
            ctx.Describe("Pad", "Pad", $"{x.Shape} → {ctx.OutputType(0).Shape}, {s.ModeName}, begins [{string.Join(",", s.Begins)}], ends [{string.Join(",", s.Ends)}]",
                s.Mode == 0 ? $"y = x inside, {(s.RuntimeValue ? "constant_value" : s.Value.ToDoubles()[0].ToString(System.Globalization.CultureInfo.InvariantCulture))} outside"
                            : $"y = x[{s.ModeName}(i − begin)]");
            EmitPad(ctx, s.Begins, s.Mode, s.RuntimeValue ? ctx.InArg(2) : PlanArg.In(ctx.Constant("value", s.Value)));
        }

        /// <summary>Emits the Pad kernel for input 0 → output 0 (output shape from the graph); a pad of nothing is a view.</summary>
        internal static void EmitPad(LowerContext ctx, int[] padBegins, int mode, PlanArg value)
        {
            var x = ctx.InputType(0);
            var outShape = ctx.OutputType(0).Shape;
            if (Strides.EmptyOutput(ctx)) return;
            if (outShape.Equals(x.Shape) && padBegins.All(b => b == 0)) { ctx.ViewOf(0, 0); return; }
            var inDims = new List<int>(); var outDims = new List<int>(); var begins = new List<int>();
            for (int d = 0; d < x.Shape.Rank; d++)
            {
                // In constant mode a dimension padded by nothing folds into the one before it (rows of rows).
                if (mode == 0 && inDims.Count > 0 && padBegins[d] == 0 && outShape[d] == x.Shape[d])
                {
                    int last = inDims.Count - 1;
                    outDims[last] = checked(outDims[last] * x.Shape[d]);
                    begins[last] *= x.Shape[d];
                    inDims[last] *= x.Shape[d];
                    continue;
                }
                inDims.Add(x.Shape[d]); outDims.Add(outShape[d]); begins.Add(padBegins[d]);
            }
            if (inDims.Count == 0) { inDims.Add(1); outDims.Add(1); begins.Add(0); }
            ctx.Call($"Pad.Run<{x.ElementType.CSharpName()}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Ints(inDims), PlanArg.Ints(outDims),
                PlanArg.Ints(begins), PlanArg.Int(mode), value);
        }
    }
}
