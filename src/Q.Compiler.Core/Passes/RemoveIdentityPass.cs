using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>Removes Identity and inference-mode Dropout: readers of the output read the input instead.</summary>
    public static class RemoveIdentityPass
    {
        public static Graph Run(Graph g)
        {
            var nodes = g.Nodes.ToList();
            // One node at a time, each decision made on the current node list: renaming replaces the readers of the removed
            // output by new node objects, and a chain of identities must see those, not the originals.
            bool changed = true;
            while (changed)
            {
                changed = false;
                var read = new HashSet<string>(nodes.SelectMany(n => n.Inputs).Where(i => i.Length > 0));
                foreach (var n in nodes)
                {
                    bool identity = n.OpType == "Identity" && n.Domain.Length == 0;
                    // Dropout's mask output may be named yet read by nobody (old exporters always name it).
                    bool noMask = n.Outputs.Count < 2 || n.Outputs[1].Length == 0 || (!read.Contains(n.Outputs[1]) && !g.IsGraphOutput(n.Outputs[1]));
                    bool dropout = n.OpType == "Dropout" && n.Domain.Length == 0 && noMask
                                   && (n.Inputs.Count < 3 || n.Inputs[2].Length == 0 || (g.Constants.TryGetValue(n.Inputs[2], out var tm) && tm.ToDoubles()[0] == 0));
                    if (!identity && !dropout) continue;
                    string from = n.Outputs[0], to = n.Inputs[0];
                    if (g.IsGraphOutput(from)) continue;
                    nodes.Remove(n);
                    nodes = GraphEdit.Rename(nodes, from, to).ToList();
                    changed = true;
                    break;
                }
            }
            return g.WithNodes(nodes);
        }
    }
}
