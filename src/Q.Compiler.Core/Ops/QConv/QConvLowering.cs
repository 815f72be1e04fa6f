using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops.Conv;
using Q.Compiler.Plan;
using Q.Compiler.Quantization;

namespace Q.Compiler.Ops.QConv
{
    /// <summary>
    /// Lowers QLinearConv and ConvInteger to the Q.Compiler.Kernels.QConv2D kernels: uint8 activations only (int8 ones are
    /// turned into uint8 by a pass before lowering), weights and quantization parameters known at build time, uint8
    /// weights shifted to int8 (w − 128, zw − 128: the same differences).
    /// </summary>
    internal static class QConvLowering
    {
        /// <summary>Bytes of patches per chunk (Q.Compiler.Kernels.QConv2D.TargetPatchBytes).</summary>
        public const int TargetPatchBytes = 24 * 1024;

        public static void Lower(LowerContext ctx, QConvInputs slots, bool requantize)
        {
            var op = ctx.Op;
            var s = QConvShape.Resolve(op, slots);
            var g = s.G;
            string name = op.Node.OpType;
            if (op.Input(slots.X).ElementType != DataType.UInt8)
                throw op.Error(DiagnosticIds.QuantInt8Activation,
                    $"{name} on int8 activations: the kernels take uint8 (x + 128, zero point + 128); the int8-to-uint8 pass did not convert this node");
            if (requantize && ctx.OutputType(0).ElementType != DataType.UInt8)
                throw op.Error(DiagnosticIds.QuantInt8Activation,
                    $"{name} with an int8 output: the kernels produce uint8 (y + 128, zero point + 128); the int8-to-uint8 pass did not convert this node");
            // ConvInteger's x zero point may be computed at run time (DynamicQuantizeLinear's, Quantize="Dynamic").
            bool runtimeXZero = !requantize && op.HasInput(slots.XZeroPoint) && op.Constant(slots.XZeroPoint) is null;
            var constants = new Tensor?[op.InputCount];
            for (int i = 0; i < op.InputCount; i++)
            {
                if (i == slots.X || !op.HasInput(i) || (runtimeXZero && i == slots.XZeroPoint)) continue;
                constants[i] = op.Constant(i) ?? throw op.Error(DiagnosticIds.NotConstant,
                    $"a {name} whose input {i} ({InputName(name, i)}) is computed at run time is not supported: weights, scales, zero points and bias must be initializers");
            }
            var p = QConvParams.From(op, s, constants);

            // Weights as int8 with their zero points: uint8 weights shift by 128 (differences unchanged).
            var w = QConvReference.Ints(constants[slots.W]!);
            var zw = (int[])p.WZeroPoints.Clone();
            if (op.Input(slots.W).ElementType == DataType.UInt8)
            {
                for (int i = 0; i < w.Length; i++) w[i] -= 128;
                for (int i = 0; i < zw.Length; i++) zw[i] -= 128;
            }
            int cg = s.C / s.Group, mg = s.M / s.Group, taps = g.KernelH * g.KernelW, k = cg * taps, plane = g.OutH * g.OutW;
            string act = ctx.Node.Activation is null ? "" : "_" + ctx.Node.Activation.Op;
            var scale = new Tensor(DataType.Float, new Shape(p.Scales.Length), p.Scales);
            var geometry = new[]
            {
                PlanArg.Int(g.KernelH), PlanArg.Int(g.KernelW), PlanArg.Int(g.StrideH), PlanArg.Int(g.StrideW), PlanArg.Int(g.DilationH), PlanArg.Int(g.DilationW),
                PlanArg.Int(g.PadTop), PlanArg.Int(g.PadLeft), PlanArg.Int(g.PadBottom), PlanArg.Int(g.PadRight),
            };
            string math = requantize
                ? "y[oc] = clamp(zy + round((b[oc] + Σ_ic,kh,kw (x − zx)·(w[oc] − zw[oc]))·M[oc]), lo, hi), M = s_x·s_w[oc]/s_y as float32, round half to even"
                : "y[oc] = Σ_ic,kh,kw (x − zx)·(w[oc] − zw[oc]) (int32)";

            if (requantize && s.Depthwise)
            {
                var diff = QConvWeights.DepthwiseDifferences(w, zw, taps);
                ctx.Describe(name + ctx.ActivationSuffix, $"DepthwiseQConv{g.KernelName}{act}",
                    $"{s.C} channels, depthwise, {g.Describe()}; int8 weights, tap pairs as int16 (vpmaddwd), zero point folded into the bias", math);
                // QConv2D.DepthwiseScratchLength: the padded, phase-split plane (+ 32 bytes), then from a 32-byte boundary the
                // AVX2 pair plane (4 bytes a padded column, + 64 bytes).
                int paddedPlane = (g.InH + g.PadTop + g.PadBottom) * g.StrideW * ((g.InW + g.PadLeft + g.PadRight + g.StrideW - 1) / g.StrideW);
                int scratch = ((paddedPlane + 32 + 31) & ~31) + 4 * paddedPlane + 64;
                var weights = w.Select(v => checked((sbyte)v)).ToArray();
                var args = new List<PlanArg>
                {
                    ctx.InArg(slots.X), PlanArg.In(ctx.Constant("wdw", new Tensor(DataType.Int8, new Shape(weights.Length), weights))),
                    zw.All(z => z == 0) ? PlanArg.Ints(Array.Empty<int>()) : PlanArg.In(ctx.Constant("wzp", Int32(zw))),
                    PlanArg.In(ctx.Constant("bias", Int32(QConvWeights.DepthwiseBias(p.Bias, diff, taps, p.XZeroPoint)))),
                    PlanArg.In(ctx.Constant("scale", scale)), ctx.OutArg(0),
                    PlanArg.Out(ctx.Scratch("padded", DataType.UInt8, new Shape(scratch))),
                    PlanArg.Int(s.N), PlanArg.Int(s.C), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
                };
                args.AddRange(geometry);
                args.AddRange(new[] { PlanArg.Int(p.XZeroPoint), PlanArg.Int(p.YZeroPoint), PlanArg.Int(p.ClampMin), PlanArg.Int(p.ClampMax) });
                ctx.Call("QConv2D.Depthwise", args.ToArray());
                return;
            }

            if (requantize && TakesNchw(s, g, zw))
            {
                var (nchwData, weightSums, nchwMinus128) = QConvWeights.PackNchw(w, s.M, k);
                // Pair-safe weights (every channel) run on raw activation bytes without the sign trick, −128 included; others
                // keep the sign trick, which cannot take −128.
                bool unsignedActivations = QConvWeights.AllPairSafe(w, s.M, k);
                if (unsignedActivations || !nchwMinus128)
                {
                    LowerNchw(ctx, slots, s, g, p, nchwData, weightSums, scale, geometry, name, act, math, unsignedActivations);
                    return;
                }
            }

            if (!requantize && !runtimeXZero && TakesNchw(s, g, zw))
            {
                var (nchwData, weightSums, nchwMinus128) = QConvWeights.PackNchw(w, s.M, k);
                bool unsignedActivations = QConvWeights.AllPairSafe(w, s.M, k);
                if (unsignedActivations || !nchwMinus128)
                {
                    LowerNchwInt32(ctx, slots, s, g, p, nchwData, weightSums, geometry, name, math, unsignedActivations);
                    return;
                }
            }

            var (packedData, columnSums, minus128) = QConvWeights.PackGemm(w, s.M, cg, taps, s.Group);
            bool pointwise = g.IsPointwise && s.Group == 1;
            int chunk = Math.Min(Math.Max(16, TargetPatchBytes / k / 16 * 16), (plane + 15) / 16 * 16);
            // The padded NHWC image, plus 16 bytes of slack after it and after the patches (QConv2D.CopySlack).
            int padded = pointwise ? 0 : (g.InH + g.PadTop + g.PadBottom) * (g.InW + g.PadLeft + g.PadRight) * s.C + 32;
            int scratchBytes = chunk * (mg * (requantize ? 1 : 4) + k) + padded;
            string kind = s.Group > 1 ? "Grouped" : "";
            ctx.Describe(name + ctx.ActivationSuffix, $"{kind}QConv{g.KernelName}{act}",
                $"{s.C}→{s.M} channels{(s.Group > 1 ? $", {s.Group} groups" : "")}, {g.Describe()}; "
                + (pointwise ? "int8 GEMM on transposed pixels" : "padded NHWC, patches + int8 GEMM") + (minus128 ? " (weights hold −128)" : ""), math);
            var call = new List<PlanArg>
            {
                ctx.InArg(slots.X), PlanArg.In(ctx.Constant("packed", new Tensor(DataType.Int8, new Shape(packedData.Length), packedData))),
                PlanArg.In(ctx.Constant("colsum", Int32(columnSums))),
            };
            if (requantize) call.Add(PlanArg.In(ctx.Constant("bias", Int32(p.Bias))));
            call.Add(zw.All(z => z == 0) ? PlanArg.Ints(Array.Empty<int>()) : PlanArg.In(ctx.Constant("wzp", Int32(zw))));
            if (requantize)
            {
                call.Add(PlanArg.In(ctx.Constant("scale", scale)));
            }
            call.Add(ctx.OutArg(0));
            call.Add(PlanArg.Out(ctx.Scratch("patches", DataType.UInt8, new Shape(scratchBytes))));
            call.AddRange(new[]
            {
                PlanArg.Int(s.N), PlanArg.Int(s.C), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(s.M), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
            });
            call.AddRange(geometry);
            call.Add(PlanArg.Int(s.Group));
            call.Add(runtimeXZero ? ctx.InArg(slots.XZeroPoint) : PlanArg.Int(p.XZeroPoint));
            if (requantize) call.AddRange(new[] { PlanArg.Int(p.YZeroPoint), PlanArg.Int(p.ClampMin), PlanArg.Int(p.ClampMax) });
            call.Add(PlanArg.Bool(minus128));
            ctx.Call(requantize ? "QConv2D.Gemm" : "QConv2D.GemmInt32", call.ToArray());
        }

        /// <summary>
        /// Whether a requantizing, non-depthwise convolution takes QConvNchw (weights without −128 aside): one group, symmetric
        /// weights, at least one 16-pixel tile, rows gathered cheaply: the NCHW-native GEMM (output channels × pixels). Weights
        /// holding −128 go to QConv2D (the AVX2 sign trick cannot take them; QConv2D has an exact widening path); smaller planes
        /// (a classifier on 1×1) fill QConv2D's tiles of output channels better.
        /// </summary>
        private static bool TakesNchw(QConvShape s, SpatialGeometry g, IReadOnlyList<int> zw) =>
            zw.All(z => z == 0) && NchwShapeFits(s.Group, s.C, g.KernelW, g.OutH, g.OutW, g.IsPointwise);

        /// <summary>
        /// The shape half of <see cref="TakesNchw"/>, shared with the quantizer (Quantization.PairSafeLayers, which sees only
        /// tensor shapes): one group (depthwise and grouped convolutions take other kernels), at least 16 output pixels, and
        /// depth rows gathered cheaply (<see cref="NchwGathersCheaply"/>).
        /// </summary>
        internal static bool NchwShapeFits(int group, int channels, int kernelW, int outH, int outW, bool pointwise) =>
            group == 1 && outH * outW >= 16 && NchwGathersCheaply(channels, kernelW, outW, pointwise);

        /// <summary>
        /// Whether this QLinearConv lowers to QConvNchw through a padded image (not pointwise): the convolutions that can take
        /// a float input and quantize it while padding (<see cref="QConvFloatInput"/>). False whenever the lowering would take
        /// another path or refuse the node.
        /// </summary>
        internal static bool PadsForNchw(OpContext op)
        {
            var slots = QLinearConvOp.Slots;
            if (op.Node.OpType != "QLinearConv" || op.Node.Domain.Length != 0) return false;
            var s = QConvShape.Resolve(op, slots);
            var g = s.G;
            if (s.Depthwise || op.Input(slots.X).ElementType != DataType.UInt8 || op.Node.Outputs.Count == 0) return false;
            if (op.Constant(slots.W) is not { } wt || (op.HasInput(slots.WZeroPoint) && op.Constant(slots.WZeroPoint) is null)) return false;
            for (int i = 1; i < op.InputCount; i++)
                if (op.HasInput(i) && op.Constant(i) is null) return false;
            var w = QConvReference.Ints(wt);
            var zw = op.HasInput(slots.WZeroPoint) ? QConvReference.Ints(op.Constant(slots.WZeroPoint)!) : new[] { 0 };
            int shift = op.Input(slots.W).ElementType == DataType.UInt8 ? 128 : 0;
            bool pointwise = g.IsPointwise;
            var shifted = w.Select(v => v - shift).ToArray();
            return !pointwise && TakesNchw(s, g, zw.Select(z => z - shift).ToArray())
                && (!shifted.Any(v => v == -128) || QConvWeights.AllPairSafe(shifted, s.M, s.C * g.KernelH * g.KernelW));
        }

        /// <summary>
        /// Whether QConvNchw gathers this convolution's depth rows cheaply: pointwise (the input planes themselves), output rows
        /// of at least 16 pixels (packed straight from the padded image), or patch runs along output rows (OW bytes each)
        /// at least as long as QConv2D's along the depth (KW·C bytes each). Measured (bench/QConvBench.cs): a 3x3 256→12 head on
        /// 4×5 takes 3-5× longer through QConvNchw's short runs; UltraFace's 3x3 8→16 and 16→16 on 30×40 are 1.4× and 1.07×
        /// faster than QConv2D since rows of 40 are packed directly.
        /// </summary>
        private static bool NchwGathersCheaply(int channels, int kernelW, int outW, bool pointwise) =>
            pointwise || outW >= 16 || outW >= kernelW * channels;

        /// <summary>QConvNchw.Gemm: weights packed in blocks of 4 output channels, the scratch sized for its chunk of pixels.</summary>
        private static void LowerNchw(LowerContext ctx, QConvInputs slots, QConvShape s, SpatialGeometry g, QConvParams p, sbyte[] packed,
            int[] weightSums, Tensor scale, PlanArg[] geometry, string name, string act, string math, bool unsignedActivations)
        {
            int k = s.C * g.KernelH * g.KernelW, quads = (k + 3) / 4, plane = g.OutH * g.OutW;
            bool pointwise = g.IsPointwise;
            // Mirrors QConvNchw.ChunkFor and ScratchLength (packed pixels, patches, the padded phase-split image and slack).
            int chunk = Math.Min(Math.Max(16, NchwTargetPackedBytes / (4 * quads) / 16 * 16), (plane + 15) / 16 * 16);
            int pw = g.InW + g.PadLeft + g.PadRight;
            int padded = pointwise ? 0 : s.C * (g.InH + g.PadTop + g.PadBottom) * g.StrideW * ((pw + g.StrideW - 1) / g.StrideW) + 32;
            int scratchBytes = chunk * (4 * quads + (pointwise ? 0 : k)) + padded;
            // A float input quantized by a QuantizeLinear read only here: quantized while the padded image is built.
            var quantize = pointwise ? null : ctx.ProducerOf(ctx.Node.Inputs[slots.X]);
            var fused = quantize is not null ? QConvFloatInput.Resolve(ctx, quantize) : null;
            ctx.Describe((fused is null ? "" : "QuantizeLinear + ") + name + ctx.ActivationSuffix, $"{(fused is null ? "" : "Quantize")}QConv{g.KernelName}{act}",
                $"{s.C}→{s.M} channels, {g.Describe()}; NCHW int8 GEMM (channels × pixels"
                + (pointwise ? ")" : g.OutW >= 16 && k <= 4096 ? ", packed straight from the padded image)" : ", padded image + patches)")
                + (unsignedActivations ? "; pair-safe weights: raw uint8 activations, no sign trick" : "; weights not pair-safe: sign trick (x − 128)")
                + (fused is null ? "" : "; float input quantized into the padded image (QuantizeLinear fused)"),
                fused is null ? math : "x = saturate(round_half_even(x_float / s_q) + z_q), then " + math);
            if (fused is not null) ctx.Layer.Nodes.InsertRange(0, quantize!.SourceNodes);
            var folded = QConvWeights.NchwBias(p.Bias, weightSums, p.XZeroPoint, unsignedActivations);
            var withFlags = QConvWeights.NchwWithFlags(packed, s.M, k, folded, p.Scales, unsignedActivations);
            var call = new List<PlanArg>();
            if (fused is null)
                call.Add(ctx.InArg(slots.X));
            else
                call.AddRange(new[] { PlanArg.In(ctx.BufferOf(quantize!.Inputs[0])), PlanArg.Float(fused.Value.Scale), PlanArg.Int(fused.Value.ZeroPoint) });
            call.AddRange(new[]
            {
                PlanArg.In(ctx.Constant("packed", new Tensor(DataType.Int8, new Shape(withFlags.Length), withFlags))),
                PlanArg.In(ctx.Constant("bias", Int32(folded))),
                PlanArg.In(ctx.Constant("scale", scale)), ctx.OutArg(0),
                PlanArg.Out(ctx.Scratch("patches", DataType.UInt8, new Shape(scratchBytes))),
                PlanArg.Int(s.N), PlanArg.Int(s.C), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(s.M), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
            });
            call.AddRange(geometry);
            call.AddRange(new[] { PlanArg.Int(p.XZeroPoint), PlanArg.Int(p.YZeroPoint), PlanArg.Int(p.ClampMin), PlanArg.Int(p.ClampMax), PlanArg.Bool(false),
                PlanArg.Bool(unsignedActivations) });
            ctx.Call(fused is null ? "QConvNchw.Gemm" : "QConvNchw.GemmFloatInput", call.ToArray());
        }

        /// <summary>
        /// QConvNchw.GemmInt32 (ConvInteger with a constant x zero point, symmetric weights, one group): the layout, scratch and
        /// modes of <see cref="LowerNchw"/>, the int32 accumulators stored as they are (the bias folds only the zero point).
        /// </summary>
        private static void LowerNchwInt32(LowerContext ctx, QConvInputs slots, QConvShape s, SpatialGeometry g, QConvParams p, sbyte[] packed,
            int[] weightSums, PlanArg[] geometry, string name, string math, bool unsignedActivations)
        {
            int k = s.C * g.KernelH * g.KernelW, quads = (k + 3) / 4, plane = g.OutH * g.OutW;
            bool pointwise = g.IsPointwise;
            int chunk = Math.Min(Math.Max(16, NchwTargetPackedBytes / (4 * quads) / 16 * 16), (plane + 15) / 16 * 16);
            int pw = g.InW + g.PadLeft + g.PadRight;
            int padded = pointwise ? 0 : s.C * (g.InH + g.PadTop + g.PadBottom) * g.StrideW * ((pw + g.StrideW - 1) / g.StrideW) + 32;
            int scratchBytes = chunk * (4 * quads + (pointwise ? 0 : k)) + padded;
            ctx.Describe(name, $"QConv{g.KernelName}Int32",
                $"{s.C}→{s.M} channels, {g.Describe()}; NCHW int8 GEMM (channels × pixels"
                + (pointwise ? ")" : g.OutW >= 16 && k <= 4096 ? ", packed straight from the padded image)" : ", padded image + patches)")
                + (unsignedActivations ? "; pair-safe weights: raw uint8 activations, no sign trick" : "; weights not pair-safe: sign trick (x − 128)")
                + "; int32 output", math);
            var folded = QConvWeights.NchwBias(Array.Empty<int>(), weightSums, p.XZeroPoint, unsignedActivations);
            // The block flags' scale bound does not apply (no requantization): unit scales, only the pair-quads bit is read.
            var ones = Enumerable.Repeat(1f, s.M).ToArray();
            var withFlags = QConvWeights.NchwWithFlags(packed, s.M, k, folded, ones, unsignedActivations);
            var call = new List<PlanArg>
            {
                ctx.InArg(slots.X),
                PlanArg.In(ctx.Constant("packed", new Tensor(DataType.Int8, new Shape(withFlags.Length), withFlags))),
                PlanArg.In(ctx.Constant("bias", Int32(folded))), ctx.OutArg(0),
                PlanArg.Out(ctx.Scratch("patches", DataType.UInt8, new Shape(scratchBytes))),
                PlanArg.Int(s.N), PlanArg.Int(s.C), PlanArg.Int(g.InH), PlanArg.Int(g.InW), PlanArg.Int(s.M), PlanArg.Int(g.OutH), PlanArg.Int(g.OutW),
            };
            call.AddRange(geometry);
            call.AddRange(new[] { PlanArg.Int(p.XZeroPoint), PlanArg.Bool(false), PlanArg.Bool(unsignedActivations) });
            ctx.Call("QConvNchw.GemmInt32", call.ToArray());
        }

        /// <summary>Bytes of packed activations per chunk (Q.Compiler.Kernels.QConvNchw.TargetPackedBytes).</summary>
        public const int NchwTargetPackedBytes = 16 * 1024;

        private static Tensor Int32(int[] v) => new Tensor(DataType.Int32, new Shape(v.Length), v);

        private static Tensor Int16(short[] v) => new Tensor(DataType.Int16, new Shape(v.Length), v);

        private static string InputName(string op, int i) => op == "QLinearConv"
            ? new[] { "x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B" }[i]
            : new[] { "x", "w", "x_zero_point", "w_zero_point" }[i];
    }

    /// <summary>Build-time weight layouts of the QConv2D kernels (shared by the lowering and the kernel tests).</summary>
    public static class QConvWeights
    {
        /// <summary>
        /// Int8 OIHW weights <paramref name="w"/> (M × C/G × KH × KW, values in [−128, 127]) as one packed K × M/G GEMM block
        /// per group (PackedQGemmWeights.FromNxK), K in (ky, kx, ic) order: the order of QConv2D's patches. Column sums per
        /// output channel; whether some weight is −128.
        /// </summary>
        public static (sbyte[] Data, int[] ColumnSums, bool HasMinus128) PackGemm(IReadOnlyList<int> w, int m, int cg, int taps, int group)
        {
            int mg = m / group, k = cg * taps;
            var data = new List<sbyte>();
            var sums = new int[m];
            bool minus128 = false;
            var block = new sbyte[mg * k];
            for (int grp = 0; grp < group; grp++)
            {
                for (int j = 0; j < mg; j++)
                    for (int ic = 0; ic < cg; ic++)
                        for (int t = 0; t < taps; t++)
                            block[j * k + t * cg + ic] = checked((sbyte)w[((grp * mg + j) * cg + ic) * taps + t]);
                var packed = PackedQGemmWeights.FromNxK(block, mg, k);
                data.AddRange(packed.Data);
                Array.Copy(packed.ColumnSums, 0, sums, grp * mg, mg);
                minus128 |= packed.HasMinus128;
            }
            return (data.ToArray(), sums, minus128);
        }

        /// <summary>
        /// Int8 OIHW weights of a one-group convolution (M × K, K = C·KH·KW in (ic, ky, kx) order) in the layout of
        /// Q.Compiler.Kernels.QConvNchw: blocks of 4 output channels, per K-quad 16 bytes (channel r's 4 weights at 4r..4r+3),
        /// K and M zero-padded to multiples of 4. Per-channel weight sums; whether some weight is −128.
        /// </summary>
        public static (sbyte[] Data, int[] WeightSums, bool HasMinus128) PackNchw(IReadOnlyList<int> w, int m, int k)
        {
            int quads = (k + 3) / 4, blocks = (m + 3) / 4;
            var data = new sbyte[blocks * quads * 16];
            var sums = new int[m];
            bool minus128 = false;
            for (int oc = 0; oc < m; oc++)
                for (int i = 0; i < k; i++)
                {
                    int v = w[oc * k + i];
                    data[((oc / 4) * quads + i / 4) * 16 + (oc % 4) * 4 + i % 4] = checked((sbyte)v);
                    sums[oc] += v;
                    minus128 |= v == -128;
                }
            return (data, sums, minus128);
        }

        /// <summary>
        /// Whether the K weights of one output channel at <paramref name="w"/>[<paramref name="offset"/> ..] (OIHW order, so k
        /// is the packed depth of <see cref="PackNchw"/>) are <i>pair-safe</i>: vpmaddubsw on raw uint8 activations x ∈ [0, 255]
        /// forms x[2i]·w[2i] + x[2i+1]·w[2i+1] in saturating int16, which is exact for every x iff
        /// 255·(max(w[2i], 0) + max(w[2i+1], 0)) ≤ 32767 and 255·(min(w[2i], 0) + min(w[2i+1], 0)) ≥ −32768, i.e. the positive
        /// parts of each pair sum to at most 128 and the negative parts to at least −128 (an odd K pairs its last weight with 0).
        /// A layer whose every channel is pair-safe can skip the sign trick; the quantizer can make weights pair-safe.
        /// </summary>
        public static bool IsPairSafe(IReadOnlyList<int> w, int offset, int k)
        {
            for (int i = 0; i < k; i += 2)
            {
                int a = w[offset + i], b = i + 1 < k ? w[offset + i + 1] : 0;
                if (Math.Max(a, 0) + Math.Max(b, 0) > MaxPairSum || Math.Min(a, 0) + Math.Min(b, 0) < -MaxPairSum) return false;
            }
            return true;
        }

        /// <summary>
        /// Whether every one of the <paramref name="m"/> output channels of OIHW weights (K = <paramref name="k"/> each) is
        /// <see cref="IsPairSafe"/>: the layer may run QConvNchw in unsigned mode.
        /// </summary>
        public static bool AllPairSafe(IReadOnlyList<int> w, int m, int k)
        {
            for (int oc = 0; oc < m; oc++)
                if (!IsPairSafe(w, oc * k, k)) return false;
            return true;
        }

        /// <summary>The largest sum of same-signed weights in a pair that <see cref="IsPairSafe"/> accepts (255·128 ≤ 32767 &lt; 255·129).</summary>
        public const int MaxPairSum = 128;

        /// <summary>
        /// The groups of one output channel's K weights (channel-local indices, OIHW order, each below <paramref name="k"/>)
        /// whose positive parts must sum to at most <see cref="MaxPairSum"/> and negative parts to at least −<see cref="MaxPairSum"/>
        /// for <see cref="IsQuadSafe"/>: for each pair of quads (2j, 2j + 1) the two int16 lanes t = 0, 1, i.e.
        /// {8j+2t, 8j+2t+1, 8j+4+2t, 8j+5+2t} (the four weights <see cref="NchwBlockFlags"/> adds in one lane); then, when the
        /// quad count is odd, the two pairs of the last quad, which no other quad joins (plain pair-safety).
        /// </summary>
        public static IEnumerable<int[]> QuadSafeGroups(int k)
        {
            int quads = (k + 3) / 4;
            for (int q = 0; q + 1 < quads; q += 2)
                for (int t = 0; t < 4; t += 2)
                    yield return new[] { 4 * q + t, 4 * q + t + 1, 4 * q + 4 + t, 4 * q + 5 + t }.Where(i => i < k).ToArray();
            if (quads % 2 == 1)
                for (int i = 4 * (quads - 1); i < k; i += 2)
                    yield return i + 1 < k ? new[] { i, i + 1 } : new[] { i };
        }

        /// <summary>
        /// Whether one output channel's K weights at <paramref name="w"/>[<paramref name="offset"/> ..] are <i>quad-safe</i>:
        /// in each of <see cref="QuadSafeGroups"/> the positive parts sum to at most 128 and the negative parts to at least −128.
        /// Then the channel is <see cref="IsPairSafe"/> (each pair lies inside a group), and in unsigned mode
        /// <see cref="NchwBlockFlags"/> sets <see cref="NchwPairQuads"/> for a block whose every row is quad-safe: the AVX2
        /// tile adds the int16 pair sums of quads 2j and 2j + 1 before one vpmaddwd.
        /// </summary>
        public static bool IsQuadSafe(IReadOnlyList<int> w, int offset, int k)
        {
            foreach (var g in QuadSafeGroups(k))
            {
                int pos = 0, neg = 0;
                foreach (int i in g) { int v = w[offset + i]; if (v > 0) pos += v; else neg += v; }
                if (pos > MaxPairSum || neg < -MaxPairSum) return false;
            }
            return true;
        }

        /// <summary>Whether every one of the <paramref name="m"/> output channels of OIHW weights (K = <paramref name="k"/> each) is <see cref="IsQuadSafe"/>.</summary>
        public static bool AllQuadSafe(IReadOnlyList<int> w, int m, int k)
        {
            for (int oc = 0; oc < m; oc++)
                if (!IsQuadSafe(w, oc * k, k)) return false;
            return true;
        }

        /// <summary>QConvNchw block flag: some row of the block may reach |acc·scale| ≥ 2^30, so its upper bound is applied in float.</summary>
        public const byte NchwFloatClamp = 1;
        /// <summary>QConvNchw block flag: in every row, the int16 pair sums of quads 2j and 2j + 1 add without overflow.</summary>
        public const byte NchwPairQuads = 2;

        /// <summary>
        /// One byte per block of 4 output channels of <see cref="PackNchw"/>'s layout, stored after the packed weights
        /// (Q.Compiler.Kernels.QConvNchw reads them): what its AVX2 tile may skip, proved from the weights, the folded bias
        /// (<see cref="NchwBias"/>) and the scales. The activations are x' = x − 128, |x'| ≤ 128, so
        /// |acc| ≤ |bias'| + 128·Σ_k|w|: <see cref="NchwFloatClamp"/> unless every row's bound times |scale| is below 2^30
        /// (then cvtps2dq cannot overflow and the upper bound can be applied to the bytes). vpmaddubsw forms, per pixel, pair sums
        /// x'[k]·w[k] + x'[k+1]·w[k+1] for k = 4q + 2t; those of quads 2j and 2j + 1 add exactly in int16 if
        /// 128·(|w[8j+2t]| + |w[8j+2t+1]| + |w[8j+4+2t]| + |w[8j+5+2t]|) ≤ 32767, i.e. the four |w| sum to at most 255, for
        /// t = 0, 1 and every row and j: <see cref="NchwPairQuads"/>. In unsigned mode (<paramref name="unsignedActivations"/>,
        /// raw bytes x ∈ [0, 255] and <see cref="NchwBias"/>'s unsigned form) |acc| ≤ |bias''| + 255·Σ_k|w|, and the four
        /// pair weights of quads 2j and 2j + 1 add exactly iff their positive parts sum to at most 128 and their negative
        /// parts to at least −128 (255·128 ≤ 32767, −255·128 ≥ −32768).
        /// </summary>
        public static byte[] NchwBlockFlags(IReadOnlyList<sbyte> packed, int m, int k, IReadOnlyList<int> foldedBias, IReadOnlyList<float> scale,
            bool unsignedActivations = false)
        {
            int xMax = unsignedActivations ? 255 : 128;
            int quads = (k + 3) / 4, blocks = (m + 3) / 4;
            var flags = new byte[blocks];
            for (int b = 0; b < blocks; b++)
            {
                bool floatClamp = false, pairs = quads >= 2;
                int block = b * quads * 16;
                for (int r = 0; r < 4 && b * 4 + r < m; r++)
                {
                    int oc = b * 4 + r;
                    long sumAbs = 0;
                    for (int i = 0; i < quads * 4; i++)
                        sumAbs += Math.Abs((int)packed[block + i / 4 * 16 + 4 * r + i % 4]);
                    double bound = (Math.Abs((long)(foldedBias.Count == 0 ? 0 : foldedBias[oc])) + xMax * sumAbs) * Math.Abs((double)scale[oc]);
                    if (!(bound < 1 << 30)) floatClamp = true;
                    for (int q = 0; q + 1 < quads; q += 2)
                        for (int t = 0; t < 4; t += 2)
                        {
                            int at = block + q * 16 + 4 * r + t, next = at + 16;
                            int[] four = { packed[at], packed[at + 1], packed[next], packed[next + 1] };
                            if (unsignedActivations)
                            {
                                if (four.Sum(v => Math.Max(v, 0)) > MaxPairSum || four.Sum(v => Math.Min(v, 0)) < -MaxPairSum) pairs = false;
                            }
                            else if (four.Sum(Math.Abs) > 255)
                                pairs = false;
                        }
                }
                flags[b] = (byte)((floatClamp ? NchwFloatClamp : 0) | (pairs ? NchwPairQuads : 0));
            }
            return flags;
        }

        /// <summary><see cref="PackNchw"/>'s weights followed by <see cref="NchwBlockFlags"/>: the operand Q.Compiler.Kernels.QConvNchw.Gemm reads.</summary>
        public static sbyte[] NchwWithFlags(sbyte[] packed, int m, int k, IReadOnlyList<int> foldedBias, IReadOnlyList<float> scale,
            bool unsignedActivations = false)
        {
            var flags = NchwBlockFlags(packed, m, k, foldedBias, scale, unsignedActivations);
            var all = new sbyte[packed.Length + flags.Length];
            Array.Copy(packed, all, packed.Length);
            for (int i = 0; i < flags.Length; i++) all[packed.Length + i] = (sbyte)flags[i];
            return all;
        }

        /// <summary>
        /// The bias of Q.Compiler.Kernels.QConvNchw, which multiplies flipped activations x − 128: bias[oc] + (128 − zx)·wsum[oc]
        /// (int32, wrapping as the kernel's accumulation does; an empty bias is zero), so the kernel reads no weight sums. In
        /// unsigned mode (<paramref name="unsignedActivations"/>: the kernel multiplies the raw bytes x) bias[oc] − zx·wsum[oc].
        /// </summary>
        public static int[] NchwBias(IReadOnlyList<int> bias, IReadOnlyList<int> weightSums, int xZeroPoint, bool unsignedActivations = false)
        {
            var folded = new int[weightSums.Count];
            int offset = unsignedActivations ? -xZeroPoint : 128 - xZeroPoint;
            for (int oc = 0; oc < folded.Length; oc++)
                folded[oc] = unchecked((bias.Count == 0 ? 0 : bias[oc]) + offset * weightSums[oc]);
            return folded;
        }

        /// <summary>Depthwise weights minus their channel's zero point, w[c, t] − zw[c], in [−255, 255] (stored as int16).</summary>
        public static short[] DepthwiseDifferences(IReadOnlyList<int> w, IReadOnlyList<int> zw, int taps)
        {
            var diff = new short[w.Count];
            for (int i = 0; i < diff.Length; i++) diff[i] = (short)(w[i] - zw[i / taps]);
            return diff;
        }

        /// <summary>
        /// The depthwise bias with the input zero point folded in: bias[c] − zx·Σ_t diff[c, t] (int32, wrapping as the
        /// kernel's accumulation does), so the kernel multiplies raw input bytes.
        /// </summary>
        public static int[] DepthwiseBias(IReadOnlyList<int> bias, IReadOnlyList<short> diff, int taps, int xZeroPoint)
        {
            var folded = new int[bias.Count];
            for (int ch = 0; ch < folded.Length; ch++)
            {
                long sum = 0;
                for (int t = 0; t < taps; t++) sum += diff[ch * taps + t];
                folded[ch] = unchecked((int)(bias[ch] - xZeroPoint * sum));
            }
            return folded;
        }
    }
}
