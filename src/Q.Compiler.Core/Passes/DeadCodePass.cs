using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>Removes nodes whose outputs nobody reads, and constants nobody uses.</summary>
    public static class DeadCodePass
    {
        public static Graph Run(Graph g)
        {
            var live = new HashSet<string>(g.Outputs.Select(o => o.Name), StringComparer.Ordinal);
            var kept = new List<Node>();
            for (int i = g.Nodes.Count - 1; i >= 0; i--)
            {
                var n = g.Nodes[i];
                if (!n.Outputs.Any(o => o.Length > 0 && live.Contains(o))) continue;
                kept.Add(n);
                foreach (var inp in n.Inputs) if (inp.Length > 0) live.Add(inp);
            }
            kept.Reverse();
            var constants = g.Constants.Where(kv => live.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            return g.With(nodes: kept, constants: constants);
        }
    }
}
