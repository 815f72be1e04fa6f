using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace Q.Compiler.Ops
{
    /// <summary>All op definitions in this assembly, by (domain, op type).</summary>
    public static class OpRegistry
    {
        private static readonly Lazy<Dictionary<(string, string), OpDefinition>> s_ops = new Lazy<Dictionary<(string, string), OpDefinition>>(Discover);

        public static OpDefinition? Find(string domain, string opType)
        {
            if (domain == "ai.onnx") domain = "";
            return s_ops.Value.TryGetValue((domain, opType), out var d) ? d : null;
        }

        public static IEnumerable<(string Domain, string OpType)> All => s_ops.Value.Keys.OrderBy(k => k.Item1).ThenBy(k => k.Item2);

        private static Dictionary<(string, string), OpDefinition> Discover()
        {
            var d = new Dictionary<(string, string), OpDefinition>();
            foreach (var t in typeof(OpRegistry).Assembly.GetTypes()
                         .Where(t => !t.IsAbstract && typeof(OpDefinition).IsAssignableFrom(t))
                         .OrderBy(t => t.FullName, StringComparer.Ordinal))
            {
                var def = (OpDefinition)Activator.CreateInstance(t)!;
                foreach (var op in def.OpTypes)
                {
                    if (d.ContainsKey((def.Domain, op)))
                        throw new InvalidOperationException($"op {op} is defined twice ({t.Name} and {d[(def.Domain, op)].GetType().Name})");
                    d[(def.Domain, op)] = def;
                }
            }
            return d;
        }
    }
}
