using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;
using Q.Compiler.Ops;

namespace Q.Compiler.Interpreter
{
    /// <summary>
    /// Runs a graph node by node with each op's reference implementation (<see cref="OpDefinition.Evaluate"/>).
    /// Slow but simple: the oracle for generated code, and the engine that calibration runs on at build time.
    /// </summary>
    public static class FloatInterpreter
    {
        /// <summary>Runs the graph; <paramref name="observe"/> sees every value a node computes (for calibration statistics).</summary>
        public static IReadOnlyList<Tensor> Run(Graph graph, IReadOnlyList<Tensor> inputs, Action<Node, string, Tensor>? observe = null)
        {
            if (inputs.Count != graph.Inputs.Count)
                throw new ArgumentException($"the graph takes {graph.Inputs.Count} inputs, got {inputs.Count}");
            var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var kv in graph.Constants) values[kv.Key] = kv.Value;
            for (int i = 0; i < inputs.Count; i++)
            {
                var want = graph.Inputs[i].Type;
                if (!inputs[i].Type.Equals(want))
                    throw new ArgumentException($"input '{graph.Inputs[i].Name}' must be {want}, got {inputs[i].Type}");
                values[graph.Inputs[i].Name] = inputs[i];
            }
            foreach (var node in graph.Nodes)
            {
                var def = OpRegistry.Find(node.Domain, node.OpType)
                          ?? throw new QcException(DiagnosticIds.UnsupportedOp, $"{node.Describe()}: op is not supported", node.Name);
                var ins = node.Inputs.Select(n => n.Length == 0 ? null : values[n]).ToArray();
                long opset = graph.Info.Opsets.TryGetValue(node.Domain, out var v) ? v : 1;
                var ctx = new OpContext(node, ins.Select(t => t?.Type).ToArray(), ins, opset);
                var outs = def.Evaluate(ctx, ins);
                for (int o = 0; o < node.Outputs.Count && o < outs.Length; o++)
                {
                    if (node.Outputs[o].Length == 0) continue;
                    values[node.Outputs[o]] = outs[o];
                    observe?.Invoke(node, node.Outputs[o], outs[o]);
                }
            }
            return graph.Outputs.Select(o => values[o.Name]).ToList();
        }
    }
}
