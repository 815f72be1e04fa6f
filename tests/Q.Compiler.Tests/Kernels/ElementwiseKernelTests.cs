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
}
