using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Q.Compiler.Generator
{
    /// <summary>
    /// Parameter names of the kernel methods, read from the embedded kernel sources, so that the emitter can name the
    /// constant arguments of a kernel call (<c>strideH: 2</c> rather than a bare <c>2</c>).
    /// </summary>
    internal static class KernelSignatures
    {
        private static readonly Lazy<Dictionary<string, List<(string[] Names, int Required)>>> s_methods =
            new Lazy<Dictionary<string, List<(string[] Names, int Required)>>>(Load);

        /// <summary>
        /// The parameter name at each of the first <paramref name="argCount"/> positions of the method a call target
        /// names ("Conv2D.Run", "Elementwise.Binary&lt;float, Elementwise.Add&lt;float&gt;&gt;"), or null at a position
        /// where overloads disagree; null when no method of that name takes that many arguments.
        /// </summary>
        public static string?[]? ParameterNames(string target, int argCount)
        {
            if (!s_methods.Value.TryGetValue(StripTypeArguments(target), out var overloads)) return null;
            // An overload fits if it takes this many arguments (optional parameters may be left out; params arrays are not named).
            var fits = overloads.Where(o => argCount <= o.Names.Length && argCount >= o.Required).Select(o => o.Names).ToList();
            if (fits.Count == 0) return null;
            var names = new string?[argCount];
            for (int i = 0; i < argCount; i++)
                names[i] = fits.All(f => f[i] == fits[0][i]) ? fits[0][i] : null;
            return names;
        }

        /// <summary>"Elementwise.Binary&lt;float, Elementwise.Add&lt;float&gt;&gt;" → "Elementwise.Binary".</summary>
        internal static string StripTypeArguments(string target)
        {
            var sb = new System.Text.StringBuilder();
            int depth = 0;
            foreach (char c in target)
            {
                if (c == '<') depth++;
                else if (c == '>') depth--;
                else if (depth == 0) sb.Append(c);
            }
            return sb.ToString();
        }

        /// <summary>"Class.Method" (and "Outer.Inner.Method" for nested classes) → parameter lists of its overloads.</summary>
        private static Dictionary<string, List<(string[] Names, int Required)>> Load()
        {
            var d = new Dictionary<string, List<(string[] Names, int Required)>>(StringComparer.Ordinal);
            foreach (var kv in KernelSources.Files.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var root = CSharpSyntaxTree.ParseText(kv.Value).GetRoot();
                foreach (var m in root.DescendantNodes().OfType<MethodDeclarationSyntax>())
                {
                    var ps = m.ParameterList.Parameters.TakeWhile(p => !p.Modifiers.Any(SyntaxKind.ParamsKeyword)).ToList();
                    var path = m.Ancestors().OfType<TypeDeclarationSyntax>().Select(t => t.Identifier.ValueText).Reverse().ToList();
                    if (path.Count == 0) continue;
                    string key = string.Join(".", path) + "." + m.Identifier.ValueText;
                    if (!d.TryGetValue(key, out var list)) d[key] = list = new List<(string[], int)>();
                    list.Add((ps.Select(p => p.Identifier.ValueText).ToArray(), ps.Count(p => p.Default is null)));
                }
            }
            return d;
        }
    }
}
