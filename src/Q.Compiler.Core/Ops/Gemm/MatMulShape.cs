using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Ops.Gemm
{
    /// <summary>
    /// MatMul's numpy semantics, shared by MatMul, QLinearMatMul and MatMulInteger: a 1-D operand is promoted to a matrix
    /// (and its axis dropped from the output), batch dimensions broadcast, and every output batch gets the element offsets
    /// of its A and B matrices.
    /// </summary>
    public sealed class MatMulShape
    {
        private MatMulShape(int m, int k, int n, Shape output, bool bShared, int[] aOffsets, int[] bOffsets)
        {
            M = m; K = k; N = n; Output = output; BShared = bShared; AOffsets = aOffsets; BOffsets = bOffsets;
        }

        /// <summary>Rows of one A matrix.</summary>
        public int M { get; }
        public int K { get; }
        public int N { get; }
        public Shape Output { get; }
        /// <summary>One B serves every batch and A's batches are the output's: all batches are one GEMM of M·batches rows.</summary>
        public bool BShared { get; }
        /// <summary>Element offset of each output batch's A matrix (one entry when there are no batch dimensions).</summary>
        public int[] AOffsets { get; }
        /// <summary>Element offset of each output batch's B matrix.</summary>
        public int[] BOffsets { get; }
        public int Batches => AOffsets.Length;

        public static MatMulShape Resolve(OpContext ctx, Shape a, Shape b)
        {
            var sa = a.Dims.ToList(); var sb = b.Dims.ToList();
            if (sa.Count == 0 || sb.Count == 0) throw ctx.ShapeError($"{ctx.Node.OpType} inputs must not be scalars");
            bool aVec = sa.Count == 1, bVec = sb.Count == 1;
            if (aVec) sa.Insert(0, 1);
            if (bVec) sb.Add(1);
            int m = sa[sa.Count - 2], k = sa[sa.Count - 1], n = sb[sb.Count - 1];
            if (sb[sb.Count - 2] != k) throw ctx.ShapeError($"A {a} and B {b} have inner sizes {k} and {sb[sb.Count - 2]}");
            var batchA = sa.Take(sa.Count - 2).ToList(); var batchB = sb.Take(sb.Count - 2).ToList();
            int rank = Math.Max(batchA.Count, batchB.Count);
            while (batchA.Count < rank) batchA.Insert(0, 1);
            while (batchB.Count < rank) batchB.Insert(0, 1);
            var batch = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                if (batchA[i] != batchB[i] && batchA[i] != 1 && batchB[i] != 1)
                    throw ctx.ShapeError($"batch dimensions of {a} and {b} do not broadcast");
                batch[i] = Math.Max(batchA[i], batchB[i]);
            }
            var outDims = batch.ToList();
            if (!aVec) outDims.Add(m);
            if (!bVec) outDims.Add(n);
            bool bShared = batchB.All(d => d == 1) && batchA.SequenceEqual(batch);

            int count = batch.Aggregate(1, (x, y) => x * y);
            var aOffsets = new int[count]; var bOffsets = new int[count];
            var idx = new int[rank];
            for (int t = 0; t < count; t++)
            {
                int rem = t;
                for (int i = rank - 1; i >= 0; i--) { idx[i] = rem % batch[i]; rem /= batch[i]; }
                long oa = 0, ob = 0;
                for (int i = 0; i < rank; i++)
                {
                    oa = oa * batchA[i] + (batchA[i] == 1 ? 0 : idx[i]);
                    ob = ob * batchB[i] + (batchB[i] == 1 ? 0 : idx[i]);
                }
                aOffsets[t] = checked((int)(oa * m * k)); bOffsets[t] = checked((int)(ob * k * n));
            }
            return new MatMulShape(m, k, n, new Shape(outDims), bShared, aOffsets, bOffsets);
        }
    }
}
