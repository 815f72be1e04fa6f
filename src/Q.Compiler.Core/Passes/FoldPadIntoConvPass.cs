using System;
using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;

namespace Q.Compiler.Passes
{
    /// <summary>
    /// Folds a zero Pad of the spatial axes into the Conv that reads it (TensorFlow exports pad explicitly before strided
    /// convolutions): the Conv's own pads grow by the Pad's, and the padded copy of the tensor is never made.
    /// Only constant mode with value 0, non-negative pads, nothing padded on the batch and channel axes, and a Pad
    /// output read by that Conv alone.
    /// </summary>
    public static class FoldPadIntoConvPass
    {
        public static Graph Run(Graph g)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                var consumers = GraphEdit.Consumers(g);
                foreach (var pad in g.Nodes.Where(n => n.OpType == "Pad" && n.Domain.Length == 0))
                {
                    if (!GraphEdit.SingleUse(g, consumers, pad.Outputs[0], out var conv)) continue;
                    if (conv.OpType != "Conv" || conv.Domain.Length != 0 || conv.Input(0) != pad.Outputs[0]) continue;
                    var spatial = SpatialPads(g, pad);
                    if (spatial is null) continue;
                    var merged = Merge(conv, spatial);
                    if (merged is null) continue;
                    var replaced = new Node(conv.Name, conv.OpType, conv.Domain, new[] { pad.Inputs[0] }.Concat(conv.Inputs.Skip(1)).ToArray(),
                        conv.Outputs, merged, conv.Activation, conv.SourceNodes.Concat(pad.SourceNodes).ToArray());
                    g = g.WithNodes(g.Nodes.Where(n => n != pad).Select(n => n == conv ? replaced : n).ToList());
                    changed = true;
                    break;
                }
            }
            return g;
        }

        /// <summary>The Pad's [begin…, end…] over the spatial axes when it is a plain zero pad of those axes only, else null.</summary>
        private static long[]? SpatialPads(Graph g, Node pad)
        {
            var x = g.TypeOf(pad.Input(0));
            int rank = x.Shape.Rank;
            if (rank < 3 || x.ElementType != DataType.Float) return null;
            string mode = pad.Attributes.TryGetValue("mode", out var m) ? m.S : "constant";
            if (mode != "constant") return null;
            long[] pads;
            double value = 0;
            if (pad.Attributes.TryGetValue("pads", out var pa))
            {
                pads = pa.Ints.ToArray();
                if (pad.Attributes.TryGetValue("value", out var va)) value = va.F;
            }
            else
            {
                if (!pad.HasInput(1) || !g.Constants.TryGetValue(pad.Inputs[1], out var pt)) return null;
                pads = pt.ToLongs();
                if (pad.HasInput(2))
                {
                    if (!g.Constants.TryGetValue(pad.Inputs[2], out var cv)) return null;
                    if (cv.Length > 0) value = cv.ToDoubles()[0];
                }
                if (pad.HasInput(3))
                {
                    // Opset 18 axes: spread the listed pads over all axes.
                    if (!g.Constants.TryGetValue(pad.Inputs[3], out var at)) return null;
                    var axes = at.ToLongs().Select(a => (int)(a < 0 ? a + rank : a)).ToArray();
                    var full = new long[2 * rank];
                    for (int i = 0; i < axes.Length; i++) { full[axes[i]] = pads[i]; full[rank + axes[i]] = pads[axes.Length + i]; }
                    pads = full;
                }
            }
            if (value != 0 || pads.Length != 2 * rank || pads.Any(p => p < 0)) return null;
            if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) return null;
            int s = rank - 2;
            var r = new long[2 * s];
            for (int i = 0; i < s; i++) { r[i] = pads[2 + i]; r[s + i] = pads[rank + 2 + i]; }
            return r;
        }

        private static Dictionary<string, AttributeValue>? Merge(Node conv, long[] extra)
        {
            string autoPad = conv.Attributes.TryGetValue("auto_pad", out var ap) ? ap.S : "NOTSET";
            if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "") return null;
            var own = autoPad == "VALID" ? new long[extra.Length]
                : conv.Attributes.TryGetValue("pads", out var p) ? p.Ints.ToArray() : new long[extra.Length];
            if (own.Length != extra.Length) return null;
            var attrs = conv.Attributes.Where(kv => kv.Key != "auto_pad" && kv.Key != "pads").ToDictionary(kv => kv.Key, kv => kv.Value);
            attrs["pads"] = AttributeValue.IntList(own.Select((v, i) => v + extra[i]));
            return new SortedDictionary<string, AttributeValue>(attrs, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value);
        }
    }
}
