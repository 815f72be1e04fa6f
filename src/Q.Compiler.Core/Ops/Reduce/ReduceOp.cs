using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Reduce
{
    /// <summary>
    /// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp.
    /// Axes come from the <c>axes</c> attribute, or from input 1 (ReduceSum from opset 13, the others from opset 18), which
    /// must then be known at build time; <c>keepdims</c> (default 1) and <c>noop_with_empty_axes</c> as in the spec.
    /// </summary>
    public sealed class ReduceOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => Codes.Keys;

        /// <summary>Operation codes understood by the Reduce kernel.</summary>
        public static readonly IReadOnlyDictionary<string, int> Codes = new Dictionary<string, int>
        {
            ["ReduceSum"] = 0, ["ReduceMean"] = 1, ["ReduceMax"] = 2, ["ReduceMin"] = 3, ["ReduceProd"] = 4,
            ["ReduceSumSquare"] = 5, ["ReduceL1"] = 6, ["ReduceL2"] = 7, ["ReduceLogSum"] = 8, ["ReduceLogSumExp"] = 9,
        };

        private static readonly HashSet<DataType> s_types = new HashSet<DataType>
        {
            DataType.Float, DataType.Double, DataType.Int32, DataType.Int64, DataType.UInt8, DataType.Int8, DataType.UInt32, DataType.UInt64,
        };

        /// <summary>The reduced axes as a mask over the input's dimensions, or null for "no reduction" (noop_with_empty_axes).</summary>
        internal static bool[]? ReducedAxes(OpContext ctx, int rank)
        {
            bool axesInput = ctx.Node.OpType == "ReduceSum" ? ctx.Opset >= 13 : ctx.Opset >= 18;
            long[]? axes = axesInput ? (ctx.HasInput(1) ? ctx.RequireConstant(1, "axes").ToLongs() : null) : ctx.Ints("axes");
            var mask = new bool[rank];
            if (axes is null || axes.Length == 0)
            {
                if (axesInput && ctx.Int("noop_with_empty_axes", 0) != 0) return null;
                for (int i = 0; i < rank; i++) mask[i] = true;
                return mask;
            }
            foreach (var a in axes)
            {
                int k = ctx.Axis(a, rank, "axes entry");
                if (mask[k]) throw ctx.ShapeError($"axis {a} is listed twice");
                mask[k] = true;
            }
            return mask;
        }

        private static Shape OutputShape(OpContext ctx, Shape x, bool[]? mask)
        {
            if (mask is null) return x;
            bool keep = ctx.Int("keepdims", 1) != 0;
            var dims = new List<int>();
            for (int i = 0; i < x.Rank; i++)
                if (!mask[i]) dims.Add(x[i]);
                else if (keep) dims.Add(1);
            return new Shape(dims);
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var x = ctx.Input(0);
            if (!s_types.Contains(x.ElementType)) throw ctx.Unsupported($"{ctx.Node.OpType} on {x.ElementType.ShortName()} is not supported");
            return new[] { new TensorType(x.ElementType, OutputShape(ctx, x.Shape, ReducedAxes(ctx, x.Shape.Rank))) };
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var t = inputs[0]!;
            var mask = ReducedAxes(ctx, t.Shape.Rank);
            var outShape = OutputShape(ctx, t.Shape, mask);
            if (mask is null) return new[] { t };
            int code = Codes[ctx.Node.OpType];
            var x = t.ToDoubles();
            var outIndex = OutputIndex(t.Shape, mask);
            int outCount = outShape.ElementCount;
            var groups = new List<double>[outCount];
            for (int i = 0; i < outCount; i++) groups[i] = new List<double>();
            for (int i = 0; i < x.Length; i++) groups[outIndex[i]].Add(x[i]);
            var y = groups.Select(g => ReduceReference(code, g)).ToArray();
            return new[] { Tensor.FromDoubles(t.ElementType, outShape, y) };
        }

        /// <summary>For each input element, the flat index of the output element it reduces into.</summary>
        private static int[] OutputIndex(Shape x, bool[] mask)
        {
            var r = new int[x.ElementCount];
            var idx = new int[x.Rank];
            for (int f = 0; f < r.Length; f++)
            {
                int o = 0;
                for (int d = 0; d < x.Rank; d++) if (!mask[d]) o = o * x[d] + idx[d];
                r[f] = o;
                for (int d = x.Rank - 1; d >= 0; d--) { if (++idx[d] < x[d]) break; idx[d] = 0; }
            }
            return r;
        }

        /// <summary>The reduction of a list of values in float64 (empty lists give the identity of the operation).</summary>
        public static double ReduceReference(int code, IReadOnlyList<double> v)
        {
            switch (code)
            {
                case 0: return v.Sum();
                case 1: return v.Sum() / v.Count;
                case 2: return v.Count == 0 ? double.NegativeInfinity : v.Any(double.IsNaN) ? double.NaN : v.Max();
                case 3: return v.Count == 0 ? double.PositiveInfinity : v.Any(double.IsNaN) ? double.NaN : v.Min();
                case 4: return v.Aggregate(1.0, (a, b) => a * b);
                case 5: return v.Sum(a => a * a);
                case 6: return v.Sum(Math.Abs);
                case 7: return Math.Sqrt(v.Sum(a => a * a));
                case 8: return Math.Log(v.Sum());
                case 9:
                {
                    if (v.Count == 0) return double.NegativeInfinity;
                    double m = v.Max();
                    if (double.IsInfinity(m)) return m;
                    return m + Math.Log(v.Sum(a => Math.Exp(a - m)));
                }
                default: throw new ArgumentOutOfRangeException(nameof(code));
            }
        }

        public override void Lower(LowerContext ctx)
        {
            var x = ctx.InputType(0);
            var mask = ReducedAxes(ctx.Op, x.Shape.Rank);
            if (mask is null)
            {
                ctx.Describe(ctx.Node.OpType, "Identity", "no axes (noop_with_empty_axes)", "y = x");
                ctx.ViewOf(0, 0);
                return;
            }
            int code = Codes[ctx.Node.OpType];
            string axes = string.Join(",", Enumerable.Range(0, mask.Length).Where(i => mask[i]));
            string name = ctx.Node.OpType.Substring("Reduce".Length);
            EmitReduce(ctx, x, mask, code, name, $"{x.Shape} over axes [{axes}] → {ctx.OutputType(0).Shape}", MathText(code));
        }

        internal static string MathText(int code) => code switch
        {
            0 => "y = Σ x", 1 => "y = Σ x / n", 2 => "y = max x", 3 => "y = min x", 4 => "y = Π x", 5 => "y = Σ x²",
            6 => "y = Σ |x|", 7 => "y = √(Σ x²)", 8 => "y = ln Σ x", _ => "y = ln Σ e^x (computed as max + ln Σ e^(x − max))",
        };

        /// <summary>Emits a reduction of x over the masked axes into output 0 (shared with GlobalAveragePool / GlobalMaxPool).</summary>
        internal static void EmitReduce(LowerContext ctx, TensorType x, bool[] mask, int code, string name, string detail, string math)
        {
            ctx.Describe(ctx.Node.OpType, name, detail, math);
            var groups = ReduceGeometry.Coalesce(x.Shape, mask);
            string t = x.ElementType.CSharpName();
            if (groups.Contiguous(out int outer, out int r, out int inner))
            {
                if (x.ElementType == DataType.Float && code == 9 && inner > 1)
                {
                    string max = ctx.Scratch("max", DataType.Float, new Shape(inner));
                    ctx.Call("Reduce.LogSumExpStrided", ctx.InArg(0), ctx.OutArg(0), PlanArg.Out(max), PlanArg.Int(outer), PlanArg.Int(r), PlanArg.Int(inner));
                }
                else if (x.ElementType == DataType.Float)
                    ctx.Call("Reduce.Run", ctx.InArg(0), ctx.OutArg(0), PlanArg.Int(outer), PlanArg.Int(r), PlanArg.Int(inner), PlanArg.Int(code));
                else
                    ctx.Call($"Reduce.Generic<{t}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Ints(new[] { outer, inner }), PlanArg.Ints(new[] { r * inner, 1 }),
                        PlanArg.Ints(new[] { r }), PlanArg.Ints(new[] { inner }), PlanArg.Int(code));
                return;
            }
            ctx.Call($"Reduce.Generic<{t}>", ctx.InArg(0), ctx.OutArg(0), PlanArg.Ints(groups.KeptDims), PlanArg.Ints(groups.KeptStrides),
                PlanArg.Ints(groups.ReducedDims), PlanArg.Ints(groups.ReducedStrides), PlanArg.Int(code));
        }
    }

    /// <summary>
    /// A reduction's geometry after merging neighbouring dimensions that are both kept or both reduced (size-1 dimensions
    /// dropped): kept and reduced dimensions with their element strides in the input.
    /// </summary>
    internal sealed class ReduceGeometry
    {
        public int[] KeptDims = Array.Empty<int>(), KeptStrides = Array.Empty<int>();
        public int[] ReducedDims = Array.Empty<int>(), ReducedStrides = Array.Empty<int>();
        private readonly List<(bool Reduced, int Size)> _runs = new List<(bool, int)>();

        public static ReduceGeometry Coalesce(Shape x, bool[] mask)
        {
            var g = new ReduceGeometry();
            var strides = x.Strides();
            var kd = new List<int>(); var ks = new List<int>(); var rd = new List<int>(); var rs = new List<int>();
            for (int i = 0; i < x.Rank; i++)
            {
                if (x[i] == 1) continue;
                bool red = mask[i];
                if (g._runs.Count > 0 && g._runs[g._runs.Count - 1].Reduced == red)
                {
                    var last = g._runs[g._runs.Count - 1];
                    g._runs[g._runs.Count - 1] = (red, last.Size * x[i]);
                    var (dl, sl) = red ? (rd, rs) : (kd, ks);
                    dl[dl.Count - 1] *= x[i]; sl[sl.Count - 1] = strides[i];
                    continue;
                }
                g._runs.Add((red, x[i]));
                if (red) { rd.Add(x[i]); rs.Add(strides[i]); } else { kd.Add(x[i]); ks.Add(strides[i]); }
            }
            g.KeptDims = kd.ToArray(); g.KeptStrides = ks.ToArray(); g.ReducedDims = rd.ToArray(); g.ReducedStrides = rs.ToArray();
            if (g.KeptDims.Length == 0) { g.KeptDims = new[] { 1 }; g.KeptStrides = new[] { 0 }; }
            if (g.ReducedDims.Length == 0) { g.ReducedDims = new[] { 1 }; g.ReducedStrides = new[] { 0 }; }
            return g;
        }

        /// <summary>True when the input is [outer, r, inner] with one reduced block in the middle.</summary>
        public bool Contiguous(out int outer, out int r, out int inner)
        {
            outer = 1; r = 1; inner = 1;
            int reducedRuns = _runs.Count(x => x.Reduced);
            if (reducedRuns > 1) return false;
            bool seen = false;
            foreach (var (red, size) in _runs)
            {
                if (red) { r = size; seen = true; }
                else if (seen) inner *= size;
                else outer *= size;
            }
            return true;
        }
    }
}
