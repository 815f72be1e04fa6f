using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Planning;

namespace Q.Compiler.Plan
{
    /// <summary>Assembles the final <see cref="ModelPlan"/> from a lowered model and its memory layout.</summary>
    public static class PlanBuilder
    {
        public const int WeightAlignment = 16;

        public static ModelPlan Build(LoweredModel model, MemoryLayout layout, string ns, string className, string precision, IEnumerable<string>? notes = null,
            bool compressWeights = true)
        {
            var g = model.Graph;
            var p = new ModelPlan
            {
                CompilerVersion = CompilerInfo.Version,
                SourcePath = g.Info.Path,
                Sha256 = g.Info.Sha256,
                Producer = g.Info.Producer,
                Opset = string.Join(", ", g.Info.Opsets.Select(kv => (kv.Key.Length == 0 ? "ai.onnx" : kv.Key) + " " + kv.Value.ToString(CultureInfo.InvariantCulture))),
                Precision = precision,
                Namespace = ns,
                ClassName = className,
                ArenaBytes = layout.ArenaBytes,
                ArenaLowerBound = layout.LowerBound,
            };
            if (notes is not null) p.Notes.AddRange(notes);

            // Only buffers that some call touches (and the Run arguments) reach the plan.
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var l in model.Layers) foreach (var c in l.Calls) foreach (var a in c.Args)
                if (a.Kind == ArgKind.In || a.Kind == ArgKind.Out) used.Add(a.Buffer);
            foreach (var b in model.Inputs.Concat(model.Outputs)) used.Add(b.Id);

            // A weight may be stored coded (WeightEncoder) when every buffer that views it has its element type and count,
            // so that one expanded array serves them all.
            var codable = new Dictionary<LoweredBuffer, bool>();
            foreach (var b in model.Buffers)
            {
                if (!used.Contains(b.Id) || b.Root.Kind != BufferKind.Weight) continue;
                var root = b.Root;
                bool same = b.Type.ElementType == root.Type.ElementType && b.Type.Shape.ElementCount == root.Type.Shape.ElementCount;
                codable[root] = (!codable.TryGetValue(root, out bool before) || before) && same;
            }

            // Plain weights first, each 16-byte aligned (kernels read them in place); coded ones after them, unaligned
            // (they are read once, by the expansion).
            var weights = new MemoryStream();
            var coded = new MemoryStream();
            var weightOffsets = new Dictionary<LoweredBuffer, (long Offset, WeightCoding? Coding)>();
            foreach (var b in model.Buffers)
            {
                if (!used.Contains(b.Id) || b.Root.Kind != BufferKind.Weight || weightOffsets.ContainsKey(b.Root)) continue;
                var root = b.Root;
                var (bytes, coding) = compressWeights && codable[root] ? WeightEncoder.Encode(root.Weight!) : (root.Weight!.ToBytes(), null);
                if (coding is null)
                {
                    while (weights.Length % WeightAlignment != 0) weights.WriteByte(0);
                    weightOffsets[root] = (weights.Length, null);
                    weights.Write(bytes, 0, bytes.Length);
                }
                else
                {
                    weightOffsets[root] = (coded.Length, coding);   // relative to the coded section until it is placed
                    coded.Write(bytes, 0, bytes.Length);
                }
            }
            long codedStart = weights.Length;
            coded.Position = 0;
            coded.CopyTo(weights);

            foreach (var b in model.Buffers)
            {
                if (!used.Contains(b.Id)) continue;
                var root = b.Root;
                long offset;
                WeightCoding? coding = null;
                switch (root.Kind)
                {
                    case BufferKind.Weight:
                        (offset, coding) = weightOffsets[root];
                        if (coding is not null) offset += codedStart;
                        break;
                    case BufferKind.Arena: offset = layout.Offsets[root.Id]; break;
                    default: offset = root.ArgIndex; break;
                }
                p.Buffers.Add(new PlanBuffer(b.Id, b.Type.ElementType.ShortName(), b.Type.Shape.ToCompact(), b.Type.Shape.ElementCount, root.Kind, offset, b.ValueName, coding));
            }
            p.Weights = weights.ToArray();

            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var b in model.Inputs)
                p.Inputs.Add(new PlanValue(b.ValueName, Identifiers.Parameter(b.ValueName, ids), b.Type.ElementType.ShortName(), b.Type.Shape.ToCompact(), b.Id));
            foreach (var b in model.Outputs)
                p.Outputs.Add(new PlanValue(b.ValueName, Identifiers.Parameter(b.ValueName, ids), b.Type.ElementType.ShortName(), b.Type.Shape.ToCompact(), b.Id));

            p.Layers.AddRange(model.Layers);
            // The generated code expands coded weights with the CodedWeights kernel.
            var kernels = model.Layers.SelectMany(l => l.Calls).Select(c => c.KernelClass);
            if (p.Buffers.Any(b => b.Coding is not null)) kernels = kernels.Append("CodedWeights");
            p.Kernels.AddRange(kernels.Distinct().OrderBy(k => k, StringComparer.Ordinal));
            return p;
        }
    }

    public static class CompilerInfo
    {
        public const string Version = "0.1.0";
    }
}
