// This file is linked into Q.Compiler.Generator: keep it free of dependencies beyond the BCL (netstandard2.0).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Q.Compiler.Plan
{
    /// <summary>
    /// Writes and reads the plan's text form: one record a line, space-separated tokens, key=value pairs,
    /// strings quoted with \" and \\ escapes. Deterministic: the same plan always gives the same bytes.
    /// </summary>
    public static class PlanText
    {
        public const string Extension = ".qplan";

        public static string Write(ModelPlan p)
        {
            var w = new StringBuilder();
            w.Append("qplan ").Append(ModelPlan.FormatVersion).Append('\n');
            Line(w, "compiler", ("version", p.CompilerVersion));
            Line(w, "model", ("path", p.SourcePath), ("sha256", p.Sha256), ("producer", p.Producer), ("opset", p.Opset), ("precision", p.Precision));
            Line(w, "class", ("namespace", p.Namespace), ("name", p.ClassName));
            foreach (var n in p.Notes) Line(w, "note", ("text", n));
            foreach (var v in p.Inputs) Value(w, "input", v);
            foreach (var v in p.Outputs) Value(w, "output", v);
            Line(w, "arena", ("bytes", I(p.ArenaBytes)), ("lowerbound", I(p.ArenaLowerBound)));
            foreach (var b in p.Buffers)
            {
                var pairs = new List<(string, string)>
                {
                    ("id", b.Id), ("type", b.Type), ("shape", b.Shape), ("elements", I(b.Elements)),
                    ("kind", b.Kind.ToString().ToLowerInvariant()), ("offset", I(b.Offset)), ("name", b.Name),
                };
                // Only coded weights carry the key, so plans without coded weights read as before.
                if (b.Coding is not null) pairs.Add(("coding", b.Coding.ToString()));
                Line(w, "buffer", pairs.ToArray());
            }
            foreach (var l in p.Layers)
            {
                Line(w, "layer", ("index", I(l.Index)), ("method", l.Method), ("op", l.Op), ("nodes", string.Join("\u0001", l.Nodes)),
                    ("detail", l.Detail), ("math", l.Math));
                foreach (var c in l.Calls)
                {
                    // Quoted when needed: a target may hold spaces ("Elementwise.Binary<float, Elementwise.Add<float>>").
                    w.Append("  call ").Append(Quote(c.Target));
                    foreach (var a in c.Args) w.Append(' ').Append(FormatArg(a));
                    w.Append('\n');
                }
            }
            Line(w, "kernels", ("list", string.Join(",", p.Kernels)));
            w.Append("weights bytes=").Append(I(p.Weights.Length)).Append('\n');
            string b64 = Convert.ToBase64String(p.Weights);
            for (int i = 0; i < b64.Length; i += 120)
                w.Append(b64, i, Math.Min(120, b64.Length - i)).Append('\n');
            w.Append("end\n");
            return w.ToString();
        }

        public static ModelPlan Read(string text)
        {
            var p = new ModelPlan();
            var lines = text.Split('\n');
            int li = 0;
            string Next() => li < lines.Length ? lines[li++].TrimEnd('\r') : throw new FormatException("plan ends early");
            string head = Next();
            if (head != "qplan " + ModelPlan.FormatVersion)
                throw new FormatException($"not a version {ModelPlan.FormatVersion} plan (first line '{head}'); rebuild the project so the plan is written again");
            PlanLayer? layer = null;
            while (true)
            {
                string line = Next();
                if (line.Length == 0) continue;
                if (line.StartsWith("  call ", StringComparison.Ordinal))
                {
                    if (layer is null) throw new FormatException("call outside a layer");
                    var toks = Tokenize(line.Substring(7));
                    var args = new List<PlanArg>();
                    for (int i = 1; i < toks.Count; i++) args.Add(ParseArg(toks[i]));
                    layer.Calls.Add(new PlanCall(toks[0], args));
                    continue;
                }
                var t = Tokenize(line);
                var kv = Pairs(t);
                switch (t[0])
                {
                    case "compiler": p.CompilerVersion = kv["version"]; break;
                    case "model":
                        p.SourcePath = kv["path"]; p.Sha256 = kv["sha256"]; p.Producer = kv["producer"]; p.Opset = kv["opset"]; p.Precision = kv["precision"];
                        break;
                    case "class": p.Namespace = kv["namespace"]; p.ClassName = kv["name"]; break;
                    case "note": p.Notes.Add(kv["text"]); break;
                    case "input": p.Inputs.Add(ReadValue(kv)); break;
                    case "output": p.Outputs.Add(ReadValue(kv)); break;
                    case "arena": p.ArenaBytes = L(kv["bytes"]); p.ArenaLowerBound = L(kv["lowerbound"]); break;
                    case "buffer":
                        p.Buffers.Add(new PlanBuffer(kv["id"], kv["type"], kv["shape"], (int)L(kv["elements"]),
                            (BufferKind)Enum.Parse(typeof(BufferKind), kv["kind"], true), L(kv["offset"]), kv["name"],
                            kv.TryGetValue("coding", out var coding) ? WeightCoding.Parse(coding) : null));
                        break;
                    case "layer":
                        layer = new PlanLayer
                        {
                            Index = (int)L(kv["index"]), Method = kv["method"], Op = kv["op"], Detail = kv["detail"], Math = kv["math"],
                        };
                        if (kv["nodes"].Length > 0) layer.Nodes.AddRange(kv["nodes"].Split('\u0001'));
                        p.Layers.Add(layer);
                        break;
                    case "kernels":
                        if (kv["list"].Length > 0) p.Kernels.AddRange(kv["list"].Split(','));
                        break;
                    case "weights":
                    {
                        long n = L(kv["bytes"]);
                        var sb = new StringBuilder();
                        while (true)
                        {
                            string wl = Next();
                            if (wl == "end") break;
                            sb.Append(wl);
                        }
                        p.Weights = Convert.FromBase64String(sb.ToString());
                        if (p.Weights.Length != n) throw new FormatException($"weights: expected {n} bytes, found {p.Weights.Length}");
                        return p;
                    }
                    default: throw new FormatException($"unknown plan record '{t[0]}' on line {li}");
                }
            }
        }

        private static PlanValue ReadValue(Dictionary<string, string> kv) =>
            new PlanValue(kv["name"], kv["id"], kv["type"], kv["shape"], kv["buffer"]);

        private static void Value(StringBuilder w, string rec, PlanValue v) =>
            Line(w, rec, ("name", v.Name), ("id", v.Identifier), ("type", v.Type), ("shape", v.Shape), ("buffer", v.Buffer));

        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        private static long L(string s) => long.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

        private static void Line(StringBuilder w, string record, params (string Key, string Value)[] pairs)
        {
            w.Append(record);
            foreach (var (k, v) in pairs) w.Append(' ').Append(k).Append('=').Append(Quote(v));
            w.Append('\n');
        }

        private static string Quote(string s)
        {
            bool plain = s.Length > 0;
            foreach (char c in s) if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c > '~') { plain = false; break; }
            if (plain) return s;
            var sb = new StringBuilder("\"");
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') sb.Append('\\').Append(c);
                else if (c == '\n') sb.Append("\\n");
                else if (c == '\r') sb.Append("\\r");
                else if (c < ' ' || c > '~') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                else sb.Append(c);
            }
            return sb.Append('"').ToString();
        }

        private static List<string> Tokenize(string line)
        {
            var toks = new List<string>();
            int i = 0;
            while (i < line.Length)
            {
                if (line[i] == ' ') { i++; continue; }
                var sb = new StringBuilder();
                while (i < line.Length && line[i] != ' ')
                {
                    if (line[i] == '"')
                    {
                        i++;
                        while (i < line.Length && line[i] != '"')
                        {
                            if (line[i] == '\\' && i + 1 < line.Length)
                            {
                                char e = line[++i];
                                if (e == 'n') sb.Append('\n');
                                else if (e == 'r') sb.Append('\r');
                                else if (e == 'u') { sb.Append((char)int.Parse(line.Substring(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture)); i += 4; }
                                else sb.Append(e);
                                i++;
                            }
                            else sb.Append(line[i++]);
                        }
                        if (i >= line.Length) throw new FormatException("unterminated string in plan line: " + line);
                        i++;
                    }
                    else sb.Append(line[i++]);
                }
                toks.Add(sb.ToString());
            }
            if (toks.Count == 0) throw new FormatException("empty plan line");
            return toks;
        }

        private static Dictionary<string, string> Pairs(List<string> toks)
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 1; i < toks.Count; i++)
            {
                int eq = toks[i].IndexOf('=');
                if (eq < 0) throw new FormatException("expected key=value, got '" + toks[i] + "'");
                d[toks[i].Substring(0, eq)] = toks[i].Substring(eq + 1);
            }
            return d;
        }

        private static string FormatArg(PlanArg a) => a.Kind switch
        {
            ArgKind.In => "in:" + a.Buffer,
            ArgKind.Out => "out:" + a.Buffer,
            ArgKind.Int => "i:" + I(a.Integer),
            ArgKind.Long => "l:" + I(a.Integer),
            ArgKind.Bool => a.Integer != 0 ? "b:true" : "b:false",
            ArgKind.Float => "f:" + FormatFloat(a.Real),
            ArgKind.Ints => "is:" + string.Join(",", Map(a.Integers, I)),
            ArgKind.Floats => "fs:" + string.Join(",", Map(a.Reals, FormatFloat)),
            _ => throw new ArgumentOutOfRangeException(),
        };

        private static IEnumerable<string> Map<T>(IReadOnlyList<T> xs, Func<T, string> f) { foreach (var x in xs) yield return f(x); }

        /// <summary>Round-trip formatting of a float (R), with NaN and infinities spelled out.</summary>
        public static string FormatFloat(float f)
        {
            if (float.IsNaN(f)) return "NaN";
            if (float.IsPositiveInfinity(f)) return "Inf";
            if (float.IsNegativeInfinity(f)) return "-Inf";
            return f.ToString("R", CultureInfo.InvariantCulture);
        }

        public static float ParseFloat(string s) => s switch
        {
            "NaN" => float.NaN,
            "Inf" => float.PositiveInfinity,
            "-Inf" => float.NegativeInfinity,
            _ => float.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
        };

        private static PlanArg ParseArg(string tok)
        {
            int c = tok.IndexOf(':');
            if (c < 0) throw new FormatException("expected a kernel argument like in:b3 or i:5, got '" + tok + "'");
            string k = tok.Substring(0, c), v = tok.Substring(c + 1);
            switch (k)
            {
                case "in": return PlanArg.In(v);
                case "out": return PlanArg.Out(v);
                case "i": return PlanArg.Int(L(v));
                case "l": return PlanArg.Long(L(v));
                case "b": return PlanArg.Bool(v == "true");
                case "f": return PlanArg.Float(ParseFloat(v));
                case "is": { var l = new List<long>(); if (v.Length > 0) foreach (var s in v.Split(',')) l.Add(L(s)); return PlanArg.Ints(l); }
                case "fs": { var l = new List<float>(); if (v.Length > 0) foreach (var s in v.Split(',')) l.Add(ParseFloat(s)); return PlanArg.Floats(l); }
                default: throw new FormatException("unknown argument kind in '" + tok + "'");
            }
        }
    }
}
