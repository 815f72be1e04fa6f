#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// com.microsoft QLinearSoftmax on uint8, as ONNX Runtime computes it: a 256-entry float table
    /// t[k] = exp((k − 255 + c) · sx) built at compile time (c keeps Σ t below float's range), for each row
    /// e_i = t[x_i − max + 255], s = Σ e_i in float in element order, y_i = min(255, round_half_even(e_i · ys / s) + zy)
    /// with ys = floor(1 / y_scale). Every step is one IEEE float operation in a fixed order, so the vector path (the
    /// final multiply, divide and round, 8 lanes at a time) gives the same bits as the scalar one.
    /// </summary>
    internal static class QLinearSoftmax
    {
        public enum Path { Scalar, Vector256 }

        public static Path Best => Vector256.IsHardwareAccelerated ? Path.Vector256 : Path.Scalar;

        public static bool IsSupported(Path p) => p != Path.Vector256 || Vector256.IsHardwareAccelerated;

        /// <summary>
        /// Softmax over <paramref name="d"/> elements with stride <paramref name="inner"/>, for outer × inner rows;
        /// <paramref name="e"/> is scratch of at least d floats.
        /// </summary>
        public static void Run(ReadOnlySpan<byte> x, ReadOnlySpan<float> table, Span<byte> y, Span<float> e, int outer, int d, int inner, float ys, int zy)
            => RunPath(Best, x, table, y, e, outer, d, inner, ys, zy);

        public static void RunPath(Path path, ReadOnlySpan<byte> x, ReadOnlySpan<float> table, Span<byte> y, Span<float> e, int outer, int d, int inner, float ys, int zy)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLinearSoftmax path " + path);
            if (table.Length < 256 || e.Length < d || x.Length < outer * d * inner || y.Length < outer * d * inner)
                throw new ArgumentException("QLinearSoftmax operand sizes do not match");
            ref float t = ref MemoryMarshal.GetReference(table);
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                {
                    int b = o * d * inner + j;
                    int max = 0;
                    for (int k = 0; k < d; k++) max = Math.Max(max, x[b + k * inner]);
                    float sum = 0;
                    for (int k = 0; k < d; k++)
                    {
                        float v = Unsafe.Add(ref t, x[b + k * inner] - max + 255);
                        e[k] = v;
                        sum += v;
                    }
                    int i = 0;
                    if (path == Path.Vector256 && inner == 1)
                    {
                        var vys = Vector256.Create(ys); var vs = Vector256.Create(sum);
                        var vhi = Vector256.Create((float)(255 - zy)); var magic = Vector256.Create(12582912f);
                        var vz = Vector256.Create(zy);
                        ref float er = ref MemoryMarshal.GetReference(e);
                        for (; i + 8 <= d; i += 8)
                        {
                            var q = Vector256.Min(Vector256.LoadUnsafe(ref er, (nuint)i) * vys / vs, vhi);
                            // Clamped to [0, 255 − zy] first, so the 1.5·2^23 trick rounds half to even exactly.
                            var r = Vector256.ConvertToInt32(q + magic - magic) + vz;
                            for (int l = 0; l < 8; l++) y[b + i + l] = (byte)r.GetElement(l);
                        }
                    }
                    for (; i < d; i++)
                    {
                        float q = MathF.Min(e[i] * ys / sum, 255 - zy);
                        y[b + i * inner] = (byte)((int)MathF.Round(q, MidpointRounding.ToEven) + zy);
                    }
                }
        }
    }
}
