using System;
using System.Collections.Generic;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Ops.Layout
{
    /// <summary>
    /// Data movement as strided reads: an output written contiguously (row-major over <c>dims</c>) whose element
    /// at index (i0, i1, …) comes from <c>x[offset + Σ i_d · strides_d]</c>. Transpose, Slice, Expand, Tile,
    /// DepthToSpace and Split are all this with different strides (negative for reversed slices, 0 for broadcasts).
    /// The same description drives the reference (<see cref="Take"/>) and the kernel call (<see cref="EmitCopy"/>).
    /// </summary>
    public static class Strides
    {
        /// <summary>Merges dimensions the source walks as one (stride_d = stride_{d+1} · dim_{d+1}) and drops dimensions of size 1.</summary>
        public static (int[] Dims, int[] Strides) Coalesce(IReadOnlyList<int> dims, IReadOnlyList<int> strides)
        {
            var d = new List<int>();
            var s = new List<int>();
            for (int i = 0; i < dims.Count; i++)
            {
                if (dims[i] == 1) continue;
                if (d.Count > 0 && s[s.Count - 1] == strides[i] * dims[i])
                {
                    d[d.Count - 1] *= dims[i];
                    s[s.Count - 1] = strides[i];
                    continue;
                }
                d.Add(dims[i]);
                s.Add(strides[i]);
            }
            if (d.Count == 0) { d.Add(1); s.Add(0); }
            return (d.ToArray(), s.ToArray());
        }

        /// <summary>The source index of every output element.</summary>
        public static int[] Map(IReadOnlyList<int> dims, IReadOnlyList<int> strides, int offset)
        {
            long n = 1;
            foreach (int d in dims) n *= d;
            var map = new int[n];
            int rank = dims.Count;
            var idx = new int[rank];
            int off = offset;
            for (int f = 0; f < n; f++)
            {
                map[f] = off;
                for (int d = rank - 1; d >= 0; d--)
                {
                    off += strides[d];
                    if (++idx[d] < dims[d]) break;
                    off -= strides[d] * dims[d];
                    idx[d] = 0;
                }
            }
            return map;
        }

        /// <summary>A tensor of <paramref name="shape"/> whose element i is <c>x[map[i]]</c> (any element type).</summary>
        public static Tensor Take(Tensor x, Shape shape, int[] map)
        {
            var src = x.Data;
            var y = Array.CreateInstance(src.GetType().GetElementType()!, shape.ElementCount);
            switch (src)
            {
                case float[] a: { var r = (float[])y; for (int i = 0; i < map.Length; i++) r[i] = a[map[i]]; break; }
                case long[] a: { var r = (long[])y; for (int i = 0; i < map.Length; i++) r[i] = a[map[i]]; break; }
                case int[] a: { var r = (int[])y; for (int i = 0; i < map.Length; i++) r[i] = a[map[i]]; break; }
                default: for (int i = 0; i < map.Length; i++) Array.Copy(src, map[i], y, i, 1); break;
            }
            return new Tensor(x.ElementType, shape, y);
        }

        /// <summary>
        /// True (and the output's buffer is bound, with no call) when output <paramref name="output"/> has no elements.
        /// </summary>
        public static bool EmptyOutput(LowerContext ctx, int output = 0)
        {
            if (ctx.OutputType(output).Shape.ElementCount != 0) return false;
            ctx.Out(output);
            return true;
        }

        /// <summary>
        /// Emits <c>Strided.Copy&lt;T&gt;(x, y, dims, strides, offset)</c> for output <paramref name="output"/>, coalesced.
        /// A plain copy of the whole input becomes a view (no call).
        /// </summary>
        public static void EmitCopy(LowerContext ctx, int input, int output, IReadOnlyList<int> dims, IReadOnlyList<int> strides, int offset)
        {
            var (d, s) = Coalesce(dims, strides);
            var outType = ctx.OutputType(output);
            if (offset == 0 && d.Length == 1 && s[0] == 1 && d[0] == ctx.InputType(input).Shape.ElementCount && outType.Shape.ElementCount > 0)
            {
                ctx.ViewOf(output, input);
                return;
            }
            if (EmptyOutput(ctx, output)) return;
            ctx.Call($"Strided.Copy<{outType.ElementType.CSharpName()}>", ctx.InArg(input), ctx.OutArg(output),
                PlanArg.Ints(d), PlanArg.Ints(s), PlanArg.Int(offset));
        }
    }
}
