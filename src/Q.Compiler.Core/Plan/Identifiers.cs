// This file is linked into Q.Compiler.Generator: keep it free of dependencies beyond the BCL (netstandard2.0).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Q.Compiler.Plan
{
    /// <summary>Turns ONNX names into C# identifiers.</summary>
    public static class Identifiers
    {
        private static readonly HashSet<string> s_keywords = new HashSet<string>(StringComparer.Ordinal)
        {
            "abstract","as","base","bool","break","byte","case","catch","char","checked","class","const","continue","decimal","default","delegate",
            "do","double","else","enum","event","explicit","extern","false","finally","fixed","float","for","foreach","goto","if","implicit","in",
            "int","interface","internal","is","lock","long","namespace","new","null","object","operator","out","override","params","private",
            "protected","public","readonly","ref","return","sbyte","sealed","short","sizeof","stackalloc","static","string","struct","switch",
            "this","throw","true","try","typeof","uint","ulong","unchecked","unsafe","ushort","using","virtual","void","volatile","while",
        };

        /// <summary>camelCase identifier, unique within <paramref name="taken"/>: "Plus214_Output_0" → "plus214Output0".</summary>
        public static string Parameter(string onnxName, HashSet<string> taken)
        {
            string s = Pascal(onnxName);
            s = char.ToLowerInvariant(s[0]) + s.Substring(1);
            if (s_keywords.Contains(s) || s == "arena") s = "@" + s;
            string u = s;
            for (int k = 2; !taken.Add(u); k++) u = s + k.ToString(CultureInfo.InvariantCulture);
            return u;
        }

        /// <summary>PascalCase identifier: "mnist-8" → "Mnist8", "input_1:0" → "Input10".</summary>
        public static string Pascal(string name)
        {
            var sb = new StringBuilder();
            bool up = true;
            foreach (char c in name)
            {
                if (char.IsLetterOrDigit(c) && c < 128)
                {
                    sb.Append(up ? char.ToUpperInvariant(c) : c);
                    up = false;
                }
                else up = true;
            }
            if (sb.Length == 0) sb.Append("Value");
            if (char.IsDigit(sb[0])) sb.Insert(0, 'V');
            return sb.ToString();
        }
    }
}
