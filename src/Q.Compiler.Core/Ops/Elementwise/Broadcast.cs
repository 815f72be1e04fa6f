using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Ops.Elementwise
{
    /// <summary>Numpy-style (multidirectional) broadcasting of shapes, and the strides kernels use to walk operands.</summary>
    public static class Broadcast
    {
        public static Shape Shapes(OpContext ctx, params Shape[] shapes)
        {
            int rank = shapes.Max(s => s.Rank);
            var r = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                int d = 1;
                foreach (var s in shapes)
                {
                    int k = i - (rank - s.Rank);
                    if (k < 0) continue;
                    int v = s[k];
                    if (v == d || v == 1) continue;
                    if (d != 1) throw ctx.ShapeError($"shapes {string.Join(" and ", shapes.Select(x => x.ToString()))} do not broadcast");
                    d = v;
                }
                // A zero-sized dimension broadcasts to zero.
                foreach (var s in shapes) { int k = i - (rank - s.Rank); if (k >= 0 && s[k] == 0) d = 0; }
                r[i] = d;
            }
            return new Shape(r);
        }

        /// <summary>Element strides of <paramref name="s"/> when read as <paramref name="output"/> (0 along broadcast dimensions).</summary>
        public static int[] Strides(Shape s, Shape output)
        {
            int rank = output.Rank;
            var st = new int[rank];
            var own = s.Strides();
            for (int i = 0; i < rank; i++)
            {
                int k = i - (rank - s.Rank);
                st[i] = k < 0 || s[k] == 1 ? 0 : own[k];
            }
            return st;
        }

        /// <summary>Merges adjacent dimensions that every operand walks contiguously, so kernels loop over as few, long rows as possible.</summary>
        public static (int[] Dims, int[][] Strides) Coalesce(Shape output, params int[][] strides)
        {
            var dims = new List<int>();
            var sts = strides.Select(_ => new List<int>()).ToArray();
            for (int i = 0; i < output.Rank; i++)
            {
                if (output[i] == 1) continue;
                if (dims.Count > 0)
                {
                    int last = dims.Count - 1;
                    bool merge = true;
                    for (int o = 0; o < strides.Length; o++)
                        if (sts[o][last] != strides[o][i] * output[i]) { merge = false; break; }
                    if (merge)
                    {
                        dims[last] *= output[i];
                        for (int o = 0; o < strides.Length; o++) sts[o][last] = strides[o][i];
                        continue;
                    }
                }
                dims.Add(output[i]);
                for (int o = 0; o < strides.Length; o++) sts[o].Add(strides[o][i]);
            }
            if (dims.Count == 0) { dims.Add(1); foreach (var s in sts) s.Add(0); }
            return (dims.ToArray(), sts.Select(s => s.ToArray()).ToArray());
        }

        /// <summary>Visits every output index with the matching flat offsets of each operand.</summary>
        public static void ForEach(Shape output, int[][] strides, Action<int, int[]> visit)
        {
            int n = output.ElementCount, rank = output.Rank;
            var idx = new int[rank];
            var offs = new int[strides.Length];
            for (int flat = 0; flat < n; flat++)
            {
                for (int o = 0; o < strides.Length; o++)
                {
                    int off = 0;
                    for (int i = 0; i < rank; i++) off += idx[i] * strides[o][i];
                    offs[o] = off;
                }
                visit(flat, offs);
                for (int i = rank - 1; i >= 0; i--) { if (++idx[i] < output[i]) break; idx[i] = 0; }
            }
        }
    }
}
