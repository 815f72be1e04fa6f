using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>Small helpers shared by the passes.</summary>
    internal static class GraphEdit
    {
        /// <summary>Nodes that read each value.</summary>
        public static Dictionary<string, List<Node>> Consumers(Graph g)
        {
            var d = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
            foreach (var n in g.Nodes)
                foreach (var i in n.Inputs.Distinct())
                    if (i.Length > 0)
                    {
                        if (!d.TryGetValue(i, out var l)) d[i] = l = new List<Node>();
                        l.Add(n);
                    }
            return d;
        }

        /// <summary>True when the value is read by exactly one node and is not a graph output.</summary>
        public static bool SingleUse(Graph g, Dictionary<string, List<Node>> consumers, string value, out Node consumer)
        {
            consumer = null!;
            if (g.IsGraphOutput(value)) return false;
            if (!consumers.TryGetValue(value, out var l) || l.Count != 1) return false;
            if (l[0].Inputs.Count(i => i == value) != 1) return false;
            consumer = l[0];
            return true;
        }

        /// <summary>Replaces every read of <paramref name="from"/> by <paramref name="to"/>.</summary>
        public static IReadOnlyList<Node> Rename(IEnumerable<Node> nodes, string from, string to) =>
            nodes.Select(n => n.Inputs.Contains(from) ? n.WithInputs(n.Inputs.Select(i => i == from ? to : i).ToArray()) : n).ToList();

        public static Dictionary<string, Tensor> WithConstant(Graph g, string name, Tensor t)
        {
            var d = new Dictionary<string, Tensor>(g.Constants.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal) { [name] = t };
            return d;
        }

        public static Dictionary<string, TensorType> WithType(Graph g, string name, TensorType t)
        {
            var d = new Dictionary<string, TensorType>(g.Types.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal) { [name] = t };
            return d;
        }

        /// <summary>A constant name not used yet in the graph.</summary>
        public static string FreshName(Graph g, string hint)
        {
            string n = hint;
            for (int k = 2; g.Types.ContainsKey(n) || g.Constants.ContainsKey(n); k++) n = hint + "_" + k;
            return n;
        }
    }
}
