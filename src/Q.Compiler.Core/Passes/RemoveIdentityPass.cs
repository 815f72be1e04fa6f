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
            var uses = g.UseCounts();
            foreach (var n in g.Nodes)
            {
                bool identity = n.OpType == "Identity" && n.Domain.Length == 0;
                // Dropout's mask output may be named yet read by nobody (old exporters always name it).
                bool noMask = n.Outputs.Count < 2 || n.Outputs[1].Length == 0 || !uses.ContainsKey(n.Outputs[1]);
                bool dropout = n.OpType == "Dropout" && n.Domain.Length == 0 && noMask
                               && (n.Inputs.Count < 3 || n.Inputs[2].Length == 0 || (g.Constants.TryGetValue(n.Inputs[2], out var tm) && tm.ToDoubles()[0] == 0));
                if (!identity && !dropout) continue;
                string from = n.Outputs[0], to = n.Inputs[0];
                if (g.IsGraphOutput(from)) continue;
                nodes.Remove(n);
                nodes = GraphEdit.Rename(nodes, from, to).ToList();
            }
            return g.WithNodes(nodes);
        }
    }
}
