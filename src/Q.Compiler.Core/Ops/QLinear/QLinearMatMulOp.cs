using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Gemm;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QLinear
{
    /// <summary>
    /// QLinearMatMul (opsets 10, 21) and MatMulInteger (opset 10): numpy matmul of uint8/int8 operands with zero points.
    /// <code>
    /// acc[i,n] = Σ_k (a[i,k] − za[i])·(b[k,n] − zb[n])                      MatMulInteger: y = acc (int32)
    /// y[i,n]   = clamp(zy + round(acc·M[n]), lo, hi), M[n] = sa·sb[n]/sy    QLinearMatMul, the float32 scale of RequantScale
    /// </code>
    /// Evaluate is the integer reference (any ranks, run-time or constant operands; round half to even after one float32 multiply).
    /// Lowering: B a constant matrix (K×N; uint8 shifted to int8 at build time and packed for QGemm), A of any rank ≥ 1
    /// (its leading dimensions are rows), per-tensor A parameters, per-tensor or per-column B parameters. QLinearMatMul's
    /// scales and zero points must be constants; MatMulInteger's A zero point may be computed at run time
    /// (DynamicQuantizeLinear's). int8 A and int8 outputs are handled by exact shifts by 128 (see the QMatMul kernel).
    /// </summary>
    public sealed class QLinearMatMulOp : OpDefinition
    {
        public override IEnumerable<string> OpTypes => new[] { "QLinearMatMul", "MatMulInteger" };

        private static bool IsQLinear(OpContext ctx) => ctx.Node.OpType == "QLinearMatMul";

        // Input positions.
        private static int A => 0;
        private static int B(OpContext c) => IsQLinear(c) ? 3 : 1;
        private static int AZero(OpContext c) => IsQLinear(c) ? 2 : 2;
        private static int BZero(OpContext c) => IsQLinear(c) ? 5 : 3;

        private sealed class Problem
        {
            public int M, N, K;
            public Shape Out = Shape.Scalar;
            /// <summary>Per output batch: element offsets of its A and B matrices; rows of A in all batches (for per-row zero points).</summary>
            public int[] AOffsets = Array.Empty<int>(), BOffsets = Array.Empty<int>();
            public bool BShared;
            public DataType Output;
        }

        private static bool IsByte(DataType t) => t == DataType.UInt8 || t == DataType.Int8;

        private static Problem Resolve(OpContext ctx)
        {
            var a = ctx.Input(A); var b = ctx.Input(B(ctx));
            if (!IsByte(a.ElementType) || !IsByte(b.ElementType))
                throw ctx.Unsupported($"{ctx.Node.OpType} on {a.ElementType.ShortName()} × {b.ElementType.ShortName()} is not supported (uint8 or int8)");
            if (IsQLinear(ctx))
            {
                if (ctx.Input(2).ElementType != a.ElementType || ctx.Input(5).ElementType != b.ElementType)
                    throw ctx.ShapeError("zero points must have the types of their operands");
                if (!IsByte(ctx.Input(7).ElementType)) throw ctx.Unsupported($"output type {ctx.Input(7).ElementType.ShortName()} is not supported (uint8 or int8)");
                foreach (int i in new[] { 1, 4, 6 })
                    if (!ctx.Input(i).ElementType.IsFloat()) throw ctx.ShapeError($"scale input {i} must be a float tensor");
            }
            var p = new Problem { Output = IsQLinear(ctx) ? ctx.Input(7).ElementType : DataType.Int32 };
            var shape = MatMulShape.Resolve(ctx, a.Shape, b.Shape);
            p.M = shape.M; p.K = shape.K; p.N = shape.N; p.Out = shape.Output;
            p.BShared = shape.BShared; p.AOffsets = shape.AOffsets; p.BOffsets = shape.BOffsets;
            // Parameter shapes: A per tensor (MatMulInteger: or one per row), B per tensor or one per column.
            CheckParameter(ctx, AZero(ctx), "a_zero_point", 1, IsQLinear(ctx) ? 1 : a.Shape.ElementCount / Math.Max(1, p.K));
            CheckParameter(ctx, BZero(ctx), "b_zero_point", 1, p.N);
            if (IsQLinear(ctx))
            {
                CheckParameter(ctx, 1, "a_scale", 1, 1);
                CheckParameter(ctx, 4, "b_scale", 1, p.N);
                CheckParameter(ctx, 6, "y_scale", 1, 1);
                CheckParameter(ctx, 7, "y_zero_point", 1, 1);
            }
            return p;
        }

        private static void CheckParameter(OpContext ctx, int input, string name, int perTensor, int perSlice)
        {
            if (!ctx.HasInput(input)) return;
            int n = ctx.Input(input).Shape.ElementCount;
            if (n != perTensor && n != perSlice)
                throw ctx.Unsupported($"{name} of shape {ctx.Input(input).Shape} is not supported ({(perSlice == 1 ? "a scalar" : $"a scalar or {perSlice} values")})");
        }

        public override TensorType[] InferTypes(OpContext ctx)
        {
            var p = Resolve(ctx);
            return new[] { new TensorType(p.Output, p.Out) };
        }

        /// <summary>
        /// The requantization of one accumulator with the float32 scale of <see cref="RequantScale"/> (exactly the kernels'
        /// arithmetic whenever the accumulator fits int32, as it does for every K the kernels accept).
        /// </summary>
        public static int Requantize(long acc, float scale, int zy, int lo, int hi)
        {
            float p = (float)((float)acc * scale);
            if (p > RequantScale.Bound) p = RequantScale.Bound;
            else if (p < -RequantScale.Bound) p = -RequantScale.Bound;
            double r = Math.Round((double)p, MidpointRounding.ToEven);
            return (int)Math.Max(lo, Math.Min(hi, r + zy));
        }

        public override Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs)
        {
            var p = Resolve(ctx);
            var a = inputs[A]!.ToLongs(); var b = inputs[B(ctx)]!.ToLongs();
            long[] za = Param(inputs, AZero(ctx)), zb = Param(inputs, BZero(ctx));
            int rowsA = a.Length / Math.Max(1, p.K);
            var acc = new long[p.Out.ElementCount];
            for (int t = 0; t < p.AOffsets.Length; t++)
                for (int i = 0; i < p.M; i++)
                {
                    int row = p.AOffsets[t] / Math.Max(1, p.K) + i;
                    long zai = za.Length == 1 ? za[0] : za[row % rowsA];
                    for (int n = 0; n < p.N; n++)
                    {
                        long zbn = zb.Length == 1 ? zb[0] : zb[n];
                        long s = 0;
                        for (int k = 0; k < p.K; k++)
                            s += (a[p.AOffsets[t] + i * p.K + k] - zai) * (b[p.BOffsets[t] + k * p.N + n] - zbn);
                        acc[(t * p.M + i) * p.N + n] = s;
                    }
                }
            if (!IsQLinear(ctx))
                return new[] { Tensor.FromLongs(DataType.Int32, p.Out, acc.Select(v => (long)unchecked((int)v)).ToArray()) };
            var (mult, zy, lo, hi) = Requantization(ctx, inputs[1]!, inputs[4]!, inputs[6]!, inputs[7]!, p);
            var y = new long[acc.Length];
            for (int i = 0; i < acc.Length; i++) y[i] = Requantize(acc[i], RequantScale.FromReal(mult[mult.Length == 1 ? 0 : i % p.N]), zy, lo, hi);
            return new[] { Tensor.FromLongs(p.Output, p.Out, y) };
        }

        private static long[] Param(IReadOnlyList<Tensor?> inputs, int i) =>
            i < inputs.Count && inputs[i] is not null ? inputs[i]!.ToLongs() : new long[] { 0 };

        /// <summary>M[n] = sa·sb[n]/sy in double, the output zero point and the clamp bounds (with a fused Relu/Clip).</summary>
        private static (double[] Mult, int Zy, int Lo, int Hi) Requantization(OpContext ctx, Tensor aScale, Tensor bScale, Tensor yScale, Tensor yZero, Problem p)
        {
            double sa = aScale.ToFloats()[0], sy = yScale.ToFloats()[0];
            var sb = bScale.ToFloats();
            int zy = (int)yZero.ToLongs()[0];
            var mult = sb.Select(s => sa * s / sy).ToArray();
            var (lo, hi) = QuantConstants.ClampBounds(ctx, (float)sy, zy, p.Output);
            return (mult, zy, lo, hi);
        }

        public override void Lower(LowerContext ctx)
        {
            var op = ctx.Op;
            var p = Resolve(op);
            var bType = op.Input(B(op));
            var bConst = op.RequireConstant(B(op), "B, the weights");
            if (bType.Shape.Rank > 2 && bType.Shape.Dims.Take(bType.Shape.Rank - 2).Any(d => d != 1))
                throw op.Unsupported($"a batched B {bType.Shape} is not supported (a constant K×N matrix)");
            if (p.K > PackedQGemmWeights.MaxK) throw op.Unsupported($"K = {p.K} is above the int8 GEMM's limit {PackedQGemmWeights.MaxK}");
            bool aSigned = op.Input(A).ElementType == DataType.Int8;
            int rows = op.Input(A).Shape.ElementCount / p.K;

            // B as int8: uint8 weights and zero points shifted by −128 (b − zb is unchanged).
            int shift = bType.ElementType == DataType.UInt8 ? 128 : 0;
            var b = bConst.ToLongs().Select(v => (sbyte)(v - shift)).ToArray();
            var packed = PackedQGemmWeights.FromKxN(b, p.K, p.N);
            var zbRaw = op.HasInput(BZero(op)) ? op.RequireConstant(BZero(op), "b_zero_point").ToLongs() : new long[] { 0 };
            var zb = Enumerable.Range(0, p.N).Select(n => (int)zbRaw[zbRaw.Length == 1 ? 0 : n] - shift).ToArray();
            string packedB = ctx.Constant("B_packed", new Tensor(DataType.Int8, new Shape(packed.Data.Length), packed.Data));
            string colSums = ctx.Constant("B_column_sums", new Tensor(DataType.Int32, new Shape(p.N), packed.ColumnSums));
            PlanArg zbArg = zb.All(z => z == 0) ? PlanArg.Ints(Array.Empty<int>()) : PlanArg.In(ctx.Constant("B_zero_points", new Tensor(DataType.Int32, new Shape(p.N), zb)));
            string aShifted = aSigned ? ctx.Scratch("A_u8", DataType.UInt8, new Shape(rows * p.K)) : "";
            string detail = $"M={rows}, K={p.K}, N={p.N}, {op.Input(A).ElementType.ShortName()} × {bType.ElementType.ShortName()} weights packed at build time"
                + (zb.Any(z => z != 0) ? ", weight zero points" : "");

            if (!IsQLinear(op))
            {
                ctx.Describe("MatMulInteger", $"MatMulInteger{rows}x{p.K}x{p.N}", detail, "y[m,n] = Σ_k (a[m,k] − za)·(b[k,n] − zb[n]) (int32)");
                if (op.HasInput(AZero(op)) && op.Input(AZero(op)).Shape.ElementCount != 1)
                    throw op.Unsupported("a per-row a_zero_point has no generated code (a scalar)");
                string za = op.HasInput(AZero(op)) ? ctx.In(AZero(op)) : ctx.Constant("A_zero_point", Tensor.Zeros(op.Input(A).ElementType, new Shape(1)));
                var args = new List<PlanArg> { ctx.InArg(A), PlanArg.In(za) };
                if (aSigned) args.Add(PlanArg.Out(aShifted));
                args.AddRange(new[] { PlanArg.In(packedB), PlanArg.In(colSums), zbArg, ctx.OutArg(0), PlanArg.Int(rows), PlanArg.Int(p.N), PlanArg.Int(p.K), PlanArg.Bool(packed.HasMinus128) });
                ctx.Call("QMatMul.Integer", args.ToArray());
                return;
            }

            var aScale = op.RequireConstant(1, "a_scale"); var aZero = op.RequireConstant(2, "a_zero_point");
            var bScale = op.RequireConstant(4, "b_scale");
            var yScale = op.RequireConstant(6, "y_scale"); var yZero = op.RequireConstant(7, "y_zero_point");
            var (mult, zy, lo, hi) = Requantization(op, aScale, bScale, yScale, yZero, p);
            int above = Array.FindIndex(mult, m => !RequantScale.IsSupported(m));
            if (above >= 0)
                throw op.Error(DiagnosticIds.QuantMultiplierOutOfRange,
                    $"the requantization multiplier a_scale·b_scale/y_scale = {mult[above].ToString("R", System.Globalization.CultureInfo.InvariantCulture)} (column {above}) is not below 2^16, which the integer kernels cannot represent");
            var scales = Enumerable.Range(0, p.N).Select(n => RequantScale.FromReal(mult[mult.Length == 1 ? 0 : n])).ToArray();
            string sc = ctx.Constant("scales", new Tensor(DataType.Float, new Shape(p.N), scales));
            int za0 = (int)aZero.ToLongs()[0] + (aSigned ? 128 : 0);
            int yShift = p.Output == DataType.Int8 ? 128 : 0;
            string act = ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op;
            ctx.Describe("QLinearMatMul" + ctx.ActivationSuffix, $"QLinearMatMul{rows}x{p.K}x{p.N}{act}", detail,
                $"y[m,n] = clamp({zy} + round(Σ_k (a[m,k] − za)·(b[k,n] − zb[n])·M[n]), {lo}, {hi})");
            var qargs = new List<PlanArg> { ctx.InArg(A) };
            if (aSigned) qargs.Add(PlanArg.Out(aShifted));
            qargs.AddRange(new[]
            {
                PlanArg.In(packedB), PlanArg.In(colSums), zbArg, PlanArg.In(sc), ctx.OutArg(0),
                PlanArg.Int(rows), PlanArg.Int(p.N), PlanArg.Int(p.K), PlanArg.Int(za0), PlanArg.Int(zy + yShift),
                PlanArg.Int(lo + yShift), PlanArg.Int(hi + yShift), PlanArg.Bool(packed.HasMinus128),
            });
            ctx.Call(aSigned ? "QMatMul.RunInt8A" : "QMatMul.Run", qargs.ToArray());
        }
    }
}
