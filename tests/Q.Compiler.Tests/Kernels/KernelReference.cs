namespace Q.Compiler.Tests.Kernels;

/// <summary>Double-precision references and helpers shared by the kernel tests.</summary>
internal static class KernelReference
{
    /// <summary>Values in [−1, 1) from a fixed seed.</summary>
    public static float[] Random(int count, int seed)
    {
        var r = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(r.NextDouble() * 2 - 1);
        return v;
    }

    /// <summary>The fusable activations of Q.Compiler.Kernels.Activation, in double.</summary>
    public static double Activate(double v, int act, float alpha, float beta) => act switch
    {
        0 => v,
        1 => Math.Max(v, 0),
        2 => Math.Min(Math.Max(v, alpha), beta),
        3 => v >= 0 ? v : v * alpha,
        4 => 1 / (1 + Math.Exp(-v)),
        5 => Math.Max(0, Math.Min(1, alpha * v + beta)),
        6 => v * Math.Max(0, Math.Min(1, v / 6 + 0.5)),
        7 => Math.Tanh(v),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    /// <summary>
    /// Asserts |actual − expected| ≤ 1e-5·scale + 1e-6 elementwise, where scale bounds the magnitude of the terms
    /// summed (float32 rounding of a K-term dot product grows with Σ|a·b|, not with the result).
    /// </summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> scale, ReadOnlySpan<float> actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = 1e-5 * scale[i] + 1e-6;
            double d = Math.Abs(expected[i] - actual[i]);
            if (!(d <= tol))
                throw new Xunit.Sdk.XunitException($"{what}: element {i}: expected {expected[i]:G9}, got {actual[i]:G9} (|diff| {d:G3} > {tol:G3})");
        }
    }
}
