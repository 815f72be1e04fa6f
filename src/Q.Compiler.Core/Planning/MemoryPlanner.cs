using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Lowering;
using Q.Compiler.Plan;

namespace Q.Compiler.Planning
{
    /// <summary>Arena offsets for scratch buffers.</summary>
    public sealed class MemoryLayout
    {
        public MemoryLayout(IReadOnlyDictionary<string, long> offsets, long arenaBytes, long lowerBound)
        {
            Offsets = offsets; ArenaBytes = arenaBytes; LowerBound = lowerBound;
        }

        /// <summary>Byte offset of each arena root buffer, by id.</summary>
        public IReadOnlyDictionary<string, long> Offsets { get; }
        public long ArenaBytes { get; }
        /// <summary>The most bytes live at once: no layout can use less.</summary>
        public long LowerBound { get; }
    }

    /// <summary>
    /// Assigns arena offsets by lifetime. A buffer (with its views) lives from the first layer that touches it to the last;
    /// two buffers may share bytes only if their lifetimes do not overlap. Placement is greedy by size, largest first,
    /// each at the lowest offset that fits among the already placed buffers it overlaps in time (the "greedy by size"
    /// heuristic, typically within a few percent of the lower bound).
    /// </summary>
    public static class MemoryPlanner
    {
        public const int Alignment = 64;

        public static MemoryLayout Plan(LoweredModel model)
        {
            var first = new Dictionary<LoweredBuffer, int>();
            var last = new Dictionary<LoweredBuffer, int>();
            var byId = model.Buffers.ToDictionary(b => b.Id);
            for (int li = 0; li < model.Layers.Count; li++)
                foreach (var call in model.Layers[li].Calls)
                    foreach (var arg in call.Args)
                    {
                        if (arg.Kind != ArgKind.In && arg.Kind != ArgKind.Out) continue;
                        var root = byId[arg.Buffer].Root;
                        if (root.Kind != BufferKind.Arena) continue;
                        if (!first.ContainsKey(root)) first[root] = li;
                        last[root] = li;
                    }

            var roots = first.Keys.OrderByDescending(b => Size(b)).ThenBy(b => first[b]).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();
            var placed = new List<(LoweredBuffer B, long Off, long Size)>();
            var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
            long arena = 0;
            foreach (var b in roots)
            {
                long size = Size(b);
                var conflicts = placed.Where(p => first[p.B] <= last[b] && first[b] <= last[p.B]).OrderBy(p => p.Off).ToList();
                long off = 0;
                foreach (var c in conflicts)
                {
                    if (off + size <= c.Off) break;
                    off = Math.Max(off, c.Off + c.Size);
                }
                placed.Add((b, off, size));
                offsets[b.Id] = off;
                arena = Math.Max(arena, off + size);
            }

            long bound = 0;
            for (int li = 0; li < model.Layers.Count; li++)
            {
                long live = roots.Where(b => first[b] <= li && li <= last[b]).Sum(Size);
                bound = Math.Max(bound, live);
            }
            return new MemoryLayout(offsets, arena, bound);
        }

        private static long Size(LoweredBuffer b) => (b.Type.ByteSize + Alignment - 1) / Alignment * Alignment;
    }
}
