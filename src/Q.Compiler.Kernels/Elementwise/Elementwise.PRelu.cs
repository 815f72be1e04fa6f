#nullable enable
using System.Numerics;

namespace Q.Compiler.Kernels
{
    internal static partial class Elementwise
    {
        /// <summary>PRelu as a binary op: a is x, b the (broadcast) slope; y = a ≥ 0 ? a : a·b.</summary>
        public readonly struct PRelu<T> : IBinary<T> where T : unmanaged, INumber<T>
        {
            public static T Invoke(T a, T b) => a >= T.Zero ? a : a * b;
            public static Vector<T> Invoke(Vector<T> a, Vector<T> b) => Vector.ConditionalSelect(Vector.GreaterThanOrEqual(a, Vector<T>.Zero), a, a * b);
            public static bool Vectorizable => Vector<T>.IsSupported;
        }
    }
}
