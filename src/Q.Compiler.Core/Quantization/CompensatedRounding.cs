using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Ops;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Ops.QConv;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// The second moments of one layer's inputs over the calibration set, H = Σ v·vᵀ over the input vectors v the layer's
    /// weights multiply (a Conv's im2col patches, a Gemm/MatMul's rows), one K×K block per group (a depthwise Conv has one
    /// 9×9 block per channel). The output error of weights w + δ of one output channel is δᵀ·H·δ: what
    /// <see cref="CompensatedRounding"/> minimizes and what the measurements report.
    /// </summary>
    public sealed class InputMoments
    {
        public InputMoments(int groups, int k)
        {
            Groups = groups; K = k;
            H = new double[groups * k * k];
        }

        /// <summary>Blocks: <see cref="Groups"/> of them (output channels c·Groups/channels .. share a block), K input weights each.</summary>
        public int Groups { get; }
        public int K { get; }
        /// <summary>Row-major K×K blocks, one after the other, symmetric.</summary>
        public double[] H { get; }
        /// <summary>How many input vectors each block summed.</summary>
        public long Vectors { get; private set; }

        private double[]? _factors;
        private double _factorsDampening;

        /// <summary>The factors of every block (CompensatedRounding.Factors), computed once per dampening: the quantizer
        /// rounds a layer once per clip margin it tries, on the same moments.</summary>
        internal double[] Factors(double dampening)
        {
            if (_factors is null || _factorsDampening != dampening)
            {
                _factors = CompensatedRounding.Factors(H, K, Groups, dampening);
                _factorsDampening = dampening;
            }
            return _factors;
        }

        /// <summary>At most this many multiply-adds per sample and layer (H is symmetric: half of K²·vectors); more positions are subsampled.</summary>
        public const long BudgetPerSample = 32L << 20;

        /// <summary>How many input vectors of one sample (out of <paramref name="available"/>) are summed: all, or an even subsample.</summary>
        public static int VectorsPerSample(int k, int groups, int available)
        {
            long cost = Math.Max(1L, (long)k * k / 2 * groups);
            return (int)Math.Max(1, Math.Min(available, BudgetPerSample / cost));
        }

        /// <summary>Adds the input vectors of one sample of a Conv: x [1, C, H, W], weights [M, C/G, KH, KW], geometry <paramref name="g"/>.</summary>
        public void AddConv(float[] x, int c, SpatialGeometry g)
        {
            int groups = Groups, cg = c / groups, kh = g.KernelH, kw = g.KernelW, k = K;
            if (cg * kh * kw != k) throw new ArgumentException("the geometry does not match K");
            int positions = g.OutH * g.OutW, take = VectorsPerSample(k, groups, positions);
            var batch = new Batch(k);
            var v = new double[k];
            for (int grp = 0; grp < groups; grp++)
            {
                batch.Clear();
                for (int t = 0; t < take; t++)
                {
                    // Evenly spread positions (all of them when take == positions).
                    int p = (int)((long)t * positions / take);
                    int oh = p / g.OutW, ow = p % g.OutW;
                    int i = 0;
                    for (int ci = 0; ci < cg; ci++)
                    {
                        int plane = (grp * cg + ci) * g.InH * g.InW;
                        for (int r = 0; r < kh; r++)
                        {
                            int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                            for (int s = 0; s < kw; s++, i++)
                            {
                                int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                                v[i] = ih >= 0 && ih < g.InH && iw >= 0 && iw < g.InW ? x[plane + ih * g.InW + iw] : 0;
                            }
                        }
                    }
                    batch.Add(v, H, grp * k * k);
                }
                batch.Flush(H, grp * k * k);
            }
            Vectors += take;
        }

        /// <summary>Adds rows of a Gemm/MatMul input: <paramref name="x"/> holds rows of K values (one group).</summary>
        public void AddRows(float[] x)
        {
            int k = K, rows = x.Length / k, take = VectorsPerSample(k, 1, rows);
            var batch = new Batch(k);
            var v = new double[k];
            for (int t = 0; t < take; t++)
            {
                int r = (int)((long)t * rows / take);
                for (int i = 0; i < k; i++) v[i] = x[r * k + i];
                batch.Add(v, H, 0);
            }
            batch.Flush(H, 0);
            Vectors += take;
        }

        /// <summary>
        /// Input vectors gathered column-wise (value i of the batch's vectors contiguous), then summed into H as dot
        /// products: H[i, j] += Σ_b v_b[i]·v_b[j], in four interleaved scalar sums (a fixed order, no fused multiply-add), so the
        /// sums are the same on every machine.
        /// </summary>
        private sealed class Batch
        {
            private const int Size = 64;
            private readonly int _k;
            private readonly double[] _t;       // [k][Size]
            private int _n;

            public Batch(int k) { _k = k; _t = new double[k * Size]; }
            public void Clear() => _n = 0;

            /// <summary>Stores vector <paramref name="v"/> (K values); when the batch is full, sums it into block <paramref name="at"/> of <paramref name="h"/>.</summary>
            public void Add(double[] v, double[] h, int at)
            {
                for (int i = 0; i < _k; i++) _t[i * Size + _n] = v[i];
                if (++_n == Size) Flush(h, at);
            }

            public void Flush(double[] h, int at)
            {
                if (_n == 0) return;
                for (int b = _n; b < Size; b++) for (int i = 0; i < _k; i++) _t[i * Size + b] = 0;
                var t = _t;
                for (int i = 0; i < _k; i++)
                {
                    int ri = i * Size;
                    for (int j = i; j < _k; j++)
                    {
                        int rj = j * Size;
                        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                        for (int b = 0; b < Size; b += 4)
                        {
                            a0 += t[ri + b] * t[rj + b];
                            a1 += t[ri + b + 1] * t[rj + b + 1];
                            a2 += t[ri + b + 2] * t[rj + b + 2];
                            a3 += t[ri + b + 3] * t[rj + b + 3];
                        }
                        double d = (a0 + a1) + (a2 + a3);
                        h[at + i * _k + j] += d;
                        if (j != i) h[at + j * _k + i] += d;
                    }
                }
                _n = 0;
            }
        }

        /// <summary>The output error Σ_c δ_cᵀ·H·δ_c of weights that differ from <paramref name="w"/> by <paramref name="delta"/>
        /// ([channels, K], channel c in block c / (channels / Groups)), and the signal Σ_c w_cᵀ·H·w_c.</summary>
        public (double Signal, double Noise) OutputError(ReadOnlySpan<float> w, ReadOnlySpan<double> delta, int channels)
        {
            int k = K, per = channels / Groups;
            double signal = 0, noise = 0;
            for (int c = 0; c < channels; c++)
            {
                int at = c / per * k * k;
                for (int i = 0; i < k; i++)
                {
                    double sw = 0, sd = 0;
                    for (int j = 0; j < k; j++) { double h = H[at + i * k + j]; sw += h * w[c * k + j]; sd += h * delta[c * k + j]; }
                    signal += w[c * k + i] * sw;
                    noise += delta[c * k + i] * sd;
                }
            }
            return (signal, noise);
        }

        /// <summary>
        /// The input moments of every Conv/Gemm/MatMul with constant float weights in <paramref name="graph"/> whose input
        /// is a float value, from one pass over the float runs (their float inputs, as the float model computes them).
        /// Keyed by node name.
        /// </summary>
        public static Dictionary<string, InputMoments> Collect(Graph graph, IEnumerable<FloatRun> runs)
        {
            var result = new Dictionary<string, InputMoments>(StringComparer.Ordinal);
            var convs = new List<(Node Node, SpatialGeometry G, int C)>();
            var dense = new List<Node>();
            foreach (var n in graph.Nodes)
            {
                if (n.Domain.Length != 0 || n.Inputs.Count < 2 || !graph.IsConstant(n.Inputs[1]) || graph.IsConstant(n.Inputs[0])) continue;
                var w = graph.Constants[n.Inputs[1]];
                if (w.ElementType != DataType.Float || graph.TypeOf(n.Inputs[0]).ElementType != DataType.Float) continue;
                var x = graph.TypeOf(n.Inputs[0]).Shape;
                switch (n.OpType)
                {
                    case "Conv":
                    {
                        if (x.Rank != 4 || w.Shape.Rank != 4 || x[0] != 1) continue;
                        int group = (int)WeightLayers.Int(n, "group", 1);
                        var types = n.Inputs.Select(v => v.Length == 0 ? null : (TensorType?)graph.TypeOf(v)).ToArray();
                        var ctx = new OpContext(n, types, new Tensor?[types.Length], graph.Info.DefaultOpset);
                        var g = SpatialGeometry.Resolve(ctx, x, new[] { w.Shape[2], w.Shape[3] });
                        result[n.Name] = new InputMoments(group, w.Shape[1] * w.Shape[2] * w.Shape[3]);
                        convs.Add((n, g, x[1]));
                        break;
                    }
                    case "Gemm":
                        if (x.Rank != 2 || w.Shape.Rank != 2 || WeightLayers.Int(n, "transA", 0) != 0) continue;
                        result[n.Name] = new InputMoments(1, x[1]);
                        dense.Add(n);
                        break;
                    case "MatMul":
                        if (w.Shape.Rank != 2 || x.Rank < 2 || x[x.Rank - 1] != w.Shape[0]) continue;
                        result[n.Name] = new InputMoments(1, w.Shape[0]);
                        dense.Add(n);
                        break;
                }
            }
            if (result.Count == 0) return result;
            foreach (var run in runs)
            {
                foreach (var (n, g, c) in convs) result[n.Name].AddConv(run.Value(n.Inputs[0]).ToFloats(), c, g);
                foreach (var n in dense) result[n.Name].AddRows(run.Value(n.Inputs[0]).ToFloats());
            }
            return result;
        }
    }

    /// <summary>
    /// Int8 weight rounding that compensates its own error (the idea of GPTQ, Frantar et al. 2022, after Optimal Brain
    /// Quantization): the K inputs of each output channel are rounded one after the other, and the output error that
    /// rounding input j causes, measured by the layer's input moments H (<see cref="InputMoments"/>), is cancelled as far as
    /// possible by moving the inputs not rounded yet. The scales are given (chosen before, per channel, as today).
    /// </summary>
    /// <remarks>
    /// <para>In the grid's units x = w / s, the output error of one channel is (x − q)ᵀ·H·(x − q). With the upper Cholesky
    /// factor U of H⁻¹ (H⁻¹ = Uᵀ·U), rounding x_j to q_j and then updating x_t −= e·U[j, t] for t &gt; j, with
    /// e = (x_j − q_j) / U[j, j], keeps the remaining inputs at the optimum of the error given the values already rounded;
    /// each step adds e² to it. H is dampened by 1% of its mean diagonal (λ·I), which also makes it invertible. Where H is a
    /// multiple of the identity (uncorrelated inputs) U is diagonal, nothing moves, and the result is round-to-nearest bit
    /// for bit. Double precision throughout; the same inputs give the same integers on every machine.</para>
    /// <para>Pair-safe (<see cref="QConvWeights.IsPairSafe"/>): the inputs of a pair (2i, 2i + 1) are chosen together. If
    /// rounding the first and then the second (after its update) breaks the pair bound, the first takes the value in
    /// [−127, 127] that, with the second then rounded into its allowed range, adds the least error e_a² + e_b². The second
    /// value of a pair is always clamped into the range its already-rounded partner leaves it, and the clamping error is
    /// carried forward like any rounding error.</para>
    /// </remarks>
    public static class CompensatedRounding
    {
        /// <summary>The dampening: λ = this fraction of the mean diagonal of H.</summary>
        public const double Dampening = 0.01;

        /// <summary>
        /// Rounds <paramref name="weights"/> ([channels, k], channel-major) with one scale per channel; channel c uses block
        /// c / (channels / groups) of <paramref name="h"/> (groups K×K blocks, row-major). Values in [−127, 127]; with
        /// <paramref name="pairSafe"/> every channel is pair-safe.
        /// </summary>
        public static sbyte[] Round(ReadOnlySpan<float> weights, int channels, int k, IReadOnlyList<float> scales, double[] h, int groups, bool pairSafe) =>
            Round(weights, channels, k, scales, h, groups, pairSafe, Dampening);

        /// <summary>As <see cref="Round(ReadOnlySpan{float}, int, int, IReadOnlyList{float}, double[], int, bool)"/> with the
        /// dampening λ = <paramref name="dampening"/> · mean diagonal of H.</summary>
        public static sbyte[] Round(ReadOnlySpan<float> weights, int channels, int k, IReadOnlyList<float> scales, double[] h, int groups, bool pairSafe,
            double dampening)
        {
            if (channels <= 0 || k <= 0 || weights.Length != channels * k || scales.Count != channels)
                throw new ArgumentException($"{weights.Length} weights, {scales.Count} scales do not form {channels} channels of {k}");
            if (groups <= 0 || channels % groups != 0 || h.Length != groups * k * k)
                throw new ArgumentException($"{h.Length} moments do not form {groups} blocks of {k}×{k} for {channels} channels");
            return RoundFactored(weights, channels, k, scales, Factors(h, k, groups, dampening), groups, pairSafe);
        }

        /// <summary>The factors U of every group's block of <paramref name="h"/> (<see cref="InverseFactor"/>), one after the other.</summary>
        internal static double[] Factors(double[] h, int k, int groups, double dampening)
        {
            var u = new double[h.Length];
            for (int grp = 0; grp < groups; grp++)
                InverseFactor(h.AsSpan(grp * k * k, k * k), k, dampening).CopyTo(u, grp * k * k);
            return u;
        }

        /// <summary>As <see cref="Round(ReadOnlySpan{float}, int, int, IReadOnlyList{float}, double[], int, bool, double)"/>
        /// with the factors already computed (<see cref="Factors"/>).</summary>
        internal static sbyte[] RoundFactored(ReadOnlySpan<float> weights, int channels, int k, IReadOnlyList<float> scales, double[] u, int groups, bool pairSafe)
        {
            var q = new sbyte[weights.Length];
            int per = channels / groups;
            var x = new double[k];
            for (int grp = 0; grp < groups; grp++)
            {
                var ug = u.AsSpan(grp * k * k, k * k).ToArray();
                for (int c = grp * per; c < (grp + 1) * per; c++)
                {
                    float s = scales[c];
                    // The same float division as round-to-nearest (QuantMath.Quantize), so that an identity H gives it exactly.
                    for (int i = 0; i < k; i++) x[i] = weights[c * k + i] / s;
                    RoundChannel(x, ug, k, pairSafe, q.AsSpan(c * k, k));
                }
            }
            return q;
        }

        private static void RoundChannel(double[] x, double[] u, int k, bool pairSafe, Span<sbyte> q)
        {
            for (int j = 0; j < k; j++)
            {
                int v;
                if (pairSafe && (j & 1) == 1)
                {
                    var (lo, hi) = Allowed(q[j - 1]);
                    v = Clamp(Nearest(x[j]), lo, hi);
                }
                else if (pairSafe && j + 1 < k)
                    v = FirstOfPair(x, u, k, j);
                else
                    v = Nearest(x[j]);
                q[j] = (sbyte)v;
                double e = (x[j] - v) / u[j * k + j];
                if (e != 0)
                    for (int t = j + 1; t < k; t++) x[t] -= e * u[j * k + t];
            }
        }

        private static int Clamp(int v, int lo, int hi) => v < lo ? lo : v > hi ? hi : v;

        private static int Nearest(double v) => (int)Math.Max(-127, Math.Min(127, Math.Round(v, MidpointRounding.ToEven)));

        /// <summary>The range of the second value of a pair whose first is <paramref name="a"/>: same-signed parts sum to at most ±128.</summary>
        private static (int Lo, int Hi) Allowed(int a) =>
            a > 0 ? (-127, Math.Min(127, QConvWeights.MaxPairSum - a)) : a < 0 ? (Math.Max(-127, -QConvWeights.MaxPairSum - a), 127) : (-127, 127);

        /// <summary>The first value of pair (j, j + 1): nearest if the pair then stays safe, else the least-error choice.</summary>
        private static int FirstOfPair(double[] x, double[] u, int k, int j)
        {
            double ujj = u[j * k + j], ujn = u[j * k + j + 1], unn = u[(j + 1) * k + j + 1];
            (double Error, bool Safe) Try(int a)
            {
                double ea = (x[j] - a) / ujj;
                double xb = x[j + 1] - ea * ujn;
                var (lo, hi) = Allowed(a);
                int nb = Nearest(xb);
                int b = Clamp(nb, lo, hi);
                double eb = (xb - b) / unn;
                return (ea * ea + eb * eb, b == nb);
            }
            int first = Nearest(x[j]);
            if (Try(first).Safe) return first;
            int best = first;
            double bestError = double.PositiveInfinity;
            for (int a = -127; a <= 127; a++)
            {
                double e = Try(a).Error;
                if (e < bestError) { bestError = e; best = a; }
            }
            return best;
        }

        /// <summary>
        /// U, upper triangular with H⁻¹ = Uᵀ·U, of the dampened H (row-major k×k). With J the order reversal, the Cholesky
        /// factor of the reversed matrix, J·H·J = L·Lᵀ, gives H⁻¹ = (J·L⁻ᵀ·J)·(J·L⁻¹·J), so U = J·L⁻¹·J: one Cholesky and one
        /// triangular inverse (about k³/3 multiply-adds). An H with no signal (all zero) gives the identity.
        /// </summary>
        internal static double[] InverseFactor(ReadOnlySpan<double> h, int k, double dampening = Dampening)
        {
            double mean = 0;
            for (int i = 0; i < k; i++) mean += h[i * k + i];
            mean /= k;
            var u = new double[k * k];
            if (!(mean > 0) || double.IsInfinity(mean))
            {
                for (int i = 0; i < k; i++) u[i * k + i] = 1;
                return u;
            }
            double lambda = dampening * mean;
            var a = new double[k * k];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    a[i * k + j] = h[(k - 1 - i) * k + (k - 1 - j)] + (i == j ? lambda : 0);
            var l = Cholesky(a, k);
            // Column i of L⁻¹ (rows i..k−1) by forward substitution, written to U[k−1−r, k−1−i].
            var col = new double[k];
            for (int i = 0; i < k; i++)
            {
                col[i] = 1 / l[i * k + i];
                for (int r = i + 1; r < k; r++)
                    col[r] = -Dot(l.AsSpan(r * k + i, r - i), col.AsSpan(i, r - i)) / l[r * k + r];
                for (int r = i; r < k; r++) u[(k - 1 - r) * k + (k - 1 - i)] = col[r];
            }
            return u;
        }

        /// <summary>Σ a[t]·b[t] in four interleaved sums (a fixed order, so the same result on every machine).</summary>
        private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
        {
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int n = a.Length, t = 0;
            b = b.Slice(0, n);
            for (; t + 3 < n; t += 4)
            {
                s0 += a[t] * b[t];
                s1 += a[t + 1] * b[t + 1];
                s2 += a[t + 2] * b[t + 2];
                s3 += a[t + 3] * b[t + 3];
            }
            for (; t < n; t++) s0 += a[t] * b[t];
            return (s0 + s1) + (s2 + s3);
        }

        /// <summary>Lower Cholesky factor of a symmetric positive definite k×k matrix; a pivot that is not positive (rounding)
        /// is replaced by a tiny positive one.</summary>
        private static double[] Cholesky(double[] a, int k)
        {
            var l = new double[k * k];
            double floor = 0;
            for (int i = 0; i < k; i++) floor = Math.Max(floor, Math.Abs(a[i * k + i]));
            floor = Math.Max(floor * 1e-12, double.Epsilon);
            for (int j = 0; j < k; j++)
            {
                var lj = l.AsSpan(j * k, j);
                double ljj = Math.Sqrt(Math.Max(a[j * k + j] - Dot(lj, lj), floor));
                l[j * k + j] = ljj;
                for (int i = j + 1; i < k; i++)
                    l[i * k + j] = (a[i * k + j] - Dot(l.AsSpan(i * k, j), lj)) / ljj;
            }
            return l;
        }
    }
}
