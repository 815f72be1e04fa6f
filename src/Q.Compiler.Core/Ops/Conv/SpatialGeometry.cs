using System;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Ops.Conv
{
    /// <summary>
    /// The geometry shared by convolution and pooling: kernel, strides, dilations, pads (resolving auto_pad), output size.
    /// 1-D problems are lifted to 2-D with height 1; 3-D and above are rejected.
    /// </summary>
    public sealed class SpatialGeometry
    {
        public int Rank { get; private set; }
        public int KernelH { get; private set; }
        public int KernelW { get; private set; }
        public int StrideH { get; private set; }
        public int StrideW { get; private set; }
        public int DilationH { get; private set; }
        public int DilationW { get; private set; }
        public int PadTop { get; private set; }
        public int PadLeft { get; private set; }
        public int PadBottom { get; private set; }
        public int PadRight { get; private set; }
        public int InH { get; private set; }
        public int InW { get; private set; }
        public int OutH { get; private set; }
        public int OutW { get; private set; }

        /// <summary>A 1×1 kernel with stride 1 and no padding: the output planes are the input planes' pixels.</summary>
        public bool IsPointwise => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1
            && PadTop == 0 && PadLeft == 0 && PadBottom == 0 && PadRight == 0;

        /// <summary>Resolves the attributes of a Conv / pooling node for an input of shape [N, C, spatial...].</summary>
        public static SpatialGeometry Resolve(OpContext ctx, Shape input, int[] kernel, bool ceilMode = false)
        {
            int rank = input.Rank - 2;
            if (rank < 1) throw ctx.ShapeError($"input {input} needs at least one spatial dimension");
            if (rank > 2) throw ctx.Unsupported($"{rank}-D spatial inputs are not supported yet (1-D and 2-D are)");
            if (kernel.Length != rank) throw ctx.ShapeError($"kernel has {kernel.Length} dimensions but the input has {rank} spatial ones");
            var strides = Get(ctx, "strides", rank, 1);
            var dil = Get(ctx, "dilations", rank, 1);
            var pads = ctx.Ints("pads")?.Select(v => (int)v).ToArray() ?? new int[2 * rank];
            if (pads.Length != 2 * rank) throw ctx.ShapeError($"pads has {pads.Length} values; expected {2 * rank}");
            if (strides.Any(s => s <= 0) || dil.Any(d => d <= 0) || pads.Any(p => p < 0) || kernel.Any(k => k <= 0))
                throw ctx.ShapeError("strides, dilations and kernel sizes must be positive and pads non-negative");
            string autoPad = ctx.String("auto_pad", "NOTSET");
            var inSz = Enumerable.Range(0, rank).Select(i => input[2 + i]).ToArray();
            var outSz = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                int ek = (kernel[i] - 1) * dil[i] + 1;
                switch (autoPad)
                {
                    case "SAME_UPPER":
                    case "SAME_LOWER":
                    {
                        int o = (inSz[i] + strides[i] - 1) / strides[i];
                        int total = Math.Max(0, (o - 1) * strides[i] + ek - inSz[i]);
                        int small = total / 2, big = total - small;
                        pads[i] = autoPad == "SAME_UPPER" ? small : big;
                        pads[i + rank] = autoPad == "SAME_UPPER" ? big : small;
                        outSz[i] = o;
                        break;
                    }
                    case "VALID":
                        pads[i] = pads[i + rank] = 0;
                        outSz[i] = (inSz[i] - ek) / strides[i] + 1;
                        break;
                    case "NOTSET":
                    case "":
                    {
                        int span = inSz[i] + pads[i] + pads[i + rank] - ek;
                        if (span < 0) throw ctx.ShapeError($"the kernel ({ek} with dilation) is larger than the padded input ({inSz[i] + pads[i] + pads[i + rank]})");
                        outSz[i] = ceilMode ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
                        // With ceil_mode the last window must start inside the input or the left padding.
                        if (ceilMode && (outSz[i] - 1) * strides[i] >= inSz[i] + pads[i]) outSz[i]--;
                        break;
                    }
                    default: throw ctx.Unsupported($"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
                }
                if (outSz[i] <= 0) throw ctx.ShapeError($"output spatial size {outSz[i]} is not positive");
            }
            var g = new SpatialGeometry { Rank = rank };
            if (rank == 1)
            {
                g.KernelH = 1; g.KernelW = kernel[0]; g.StrideH = 1; g.StrideW = strides[0]; g.DilationH = 1; g.DilationW = dil[0];
                g.PadTop = 0; g.PadBottom = 0; g.PadLeft = pads[0]; g.PadRight = pads[1];
                g.InH = 1; g.InW = inSz[0]; g.OutH = 1; g.OutW = outSz[0];
            }
            else
            {
                g.KernelH = kernel[0]; g.KernelW = kernel[1]; g.StrideH = strides[0]; g.StrideW = strides[1];
                g.DilationH = dil[0]; g.DilationW = dil[1];
                g.PadTop = pads[0]; g.PadLeft = pads[1]; g.PadBottom = pads[2]; g.PadRight = pads[3];
                g.InH = inSz[0]; g.InW = inSz[1]; g.OutH = outSz[0]; g.OutW = outSz[1];
            }
            return g;
        }

        public int[] OutputSpatial => Rank == 1 ? new[] { OutW } : new[] { OutH, OutW };

        private static int[] Get(OpContext ctx, string name, int rank, int def)
        {
            var v = ctx.Ints(name);
            if (v is null || v.Length == 0) return Enumerable.Repeat(def, rank).ToArray();
            if (v.Length != rank) throw ctx.ShapeError($"{name} has {v.Length} values; expected {rank}");
            return v.Select(x => checked((int)x)).ToArray();
        }

        /// <summary>"5x5, stride 1, pads 2,2,2,2" for layer comments.</summary>
        public string Describe()
        {
            string k = Rank == 1 ? $"{KernelW}" : $"{KernelH}x{KernelW}";
            string s = StrideH == StrideW ? $"{StrideW}" : $"{StrideH}x{StrideW}";
            string d = DilationH == 1 && DilationW == 1 ? "" : $", dilation {DilationH}x{DilationW}";
            string p = PadTop + PadLeft + PadBottom + PadRight == 0 ? "no padding" : $"pads {PadTop},{PadLeft},{PadBottom},{PadRight}";
            return $"{k}, stride {s}{d}, {p}";
        }

        public string KernelName => Rank == 1 ? $"{KernelW}" : $"{KernelH}x{KernelW}";
    }
}
