#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>Copies a tensor unchanged (graph outputs that are views or constants).</summary>
    internal static class Copy
    {
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) => x.CopyTo(y);
    }
}
