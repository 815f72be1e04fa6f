using Q.Compiler.Kernels;
using Xunit;

namespace Q.Compiler.Tests.Kernels;

/// <summary>Vectorized float Max and Min: the same results as the scalar definition, NaN in either operand giving NaN.</summary>
public sealed class ElementwiseKernelTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MaxAndMinPropagateNaN(bool max)
    {
        int n = 37;
        var a = KernelReference.Random(n, 1); var b = KernelReference.Random(n, 2);
        a[3] = float.NaN; b[10] = float.NaN; a[20] = b[20] = float.NaN; a[30] = float.PositiveInfinity; b[31] = float.NegativeInfinity;
        // Same shape, then b broadcast as a scalar.
        foreach (bool scalarB in new[] { false, true })
        {
            var y = new float[n];
            ReadOnlySpan<int> dims = [n], sa = [1], sb = [scalarB ? 0 : 1];
            if (max) Elementwise.Binary<float, Elementwise.Max<float>>(a, b, y, dims, sa, sb);
            else Elementwise.Binary<float, Elementwise.Min<float>>(a, b, y, dims, sa, sb);
            for (int i = 0; i < n; i++)
            {
                float bv = b[scalarB ? 0 : i];
                float e = float.IsNaN(a[i]) || float.IsNaN(bv) ? float.NaN : max ? Math.Max(a[i], bv) : Math.Min(a[i], bv);
                Assert.True(e.Equals(y[i]), $"{(max ? "Max" : "Min")}({a[i]}, {bv}) = {y[i]}, expected {e}");
            }
        }
    }

    [Theory]
    [InlineData(2f)]
    [InlineData(1f)]
    [InlineData(0.5f)]
    [InlineData(3f)]
    [InlineData(-1.5f)]
    public void PowMatchesMathPow(float exponent)
    {
        int n = 41;
        var a = KernelReference.Random(n, 3).Select(v => v * 4).ToArray();
        a[0] = -0f; a[1] = float.NegativeInfinity; a[2] = float.PositiveInfinity; a[3] = float.NaN; a[4] = 0f; a[5] = -2f;
        var y = new float[n];
        ReadOnlySpan<int> dims = [n], sa = [1], sb = [0];
        Elementwise.Binary<float, Elementwise.Pow<float>>(a, [exponent], y, dims, sa, sb);
        for (int i = 0; i < n; i++)
        {
            float e = (float)Math.Pow(a[i], exponent);
            Assert.True(e.Equals(y[i]) || Math.Abs(e - y[i]) <= 1e-6f * Math.Abs(e), $"Pow({a[i]}, {exponent}) = {y[i]}, expected {e}");
        }
    }

    [Theory]
    [InlineData(1, 0f, 0f)]
    [InlineData(2, -0.5f, 0.75f)]
    [InlineData(3, 0.1f, 0f)]
    [InlineData(4, 0f, 0f)]
    [InlineData(5, 0.2f, 0.5f)]
    [InlineData(6, 0f, 0f)]
    [InlineData(7, 0f, 0f)]
    public void ActivationsMatchReference(int code, float alpha, float beta)
    {
        var y = KernelReference.Random(45, code).Select(v => v * 8).ToArray();
        var x = y.ToArray();
        Activation.Apply(y, code, alpha, beta);
        for (int i = 0; i < x.Length; i++)
        {
            double e = KernelReference.Activate(x[i], code, alpha, beta);
            Assert.True(Math.Abs(e - y[i]) <= 1e-6 * Math.Max(1, Math.Abs(e)), $"activation {code}({x[i]}) = {y[i]}, expected {e}");
        }
        // NaN stays NaN through the activations that are not clamps.
        if (code >= 3)
        {
            var nan = Enumerable.Repeat(float.NaN, 17).ToArray();
            Activation.Apply(nan, code, alpha, beta);
            Assert.All(nan, v => Assert.True(float.IsNaN(v)));
        }
    }
}
