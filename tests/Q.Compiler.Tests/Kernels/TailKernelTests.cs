using System.Runtime.Intrinsics;
using Q.Compiler.Kernels;
using Xunit;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// The vector e^x (Elementwise Exp, Softmax), the two-class Softmax, short-row strided copies (Slice, Concat) and the
/// 4×4-block Transpose against plain definitions.
/// </summary>
public sealed class TailKernelTests
{
    /// <summary>|e − y| within two float ulp of e (or one subnormal step for results below float's normal range).</summary>
    private static void AssertExp(double x, float y)
    {
        double e = Math.Exp(x);
        if (double.IsNaN(x)) { Assert.True(float.IsNaN(y), $"exp(NaN) = {y}"); return; }
        if (e > float.MaxValue) { Assert.True(float.IsPositiveInfinity(y) || Math.Abs(e - y) <= 2 * Math.Pow(2, 104), $"exp({x}) = {y}"); return; }
        double ulp = e < 1.1754943508222875e-38 ? Math.Pow(2, -149) : Math.Pow(2, Math.Floor(Math.Log2(e)) - 23);
        Assert.True(Math.Abs(e - y) <= 2 * ulp, $"exp({x:R}) = {y:R}, expected {e:R} (|diff| {Math.Abs(e - y) / ulp:F2} ulp)");
    }

    private static float[] ExpInputs()
    {
        var x = new List<float> { 0f, -0f, 1f, -1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 88.72f, 88.7228f, 88.73f, 89f, 100f,
            -87.3f, -88f, -100f, -103.27f, -103.98f, -104f, -110f, float.Epsilon, -float.Epsilon, 1e-30f, 0.34657f, -0.34657f, 0.5f };
        var rng = new Random(5);
        for (int i = 0; i < 4000; i++) x.Add((float)(rng.NextDouble() * 220 - 115));
        for (int i = 0; i < 2000; i++) x.Add((float)(rng.NextDouble() * 8 - 4));
        for (int k = -150; k <= 130; k++) x.Add(k * 0.6931472f);          // near the points where n = round(x·log2 e) changes
        for (int k = -300; k <= 300; k++) x.Add((k + 0.5f) * 0.34657359f);
        return x.ToArray();
    }

    [Fact]
    public void Exp_is_within_two_ulp_of_the_exact_value()
    {
        var x = ExpInputs();
        var y = new float[x.Length];
        VectorMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++) AssertExp(x[i], y[i]);
        // The same through Elementwise.Unary (Exp is code 10) and through each vector width directly.
        var u = new float[x.Length];
        Elementwise.Unary<float>(x, u, 10, 0, 0);
        Assert.Equal(y, u);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            var v8 = VectorMath.Exp(Vector256.Create(x.AsSpan(i, 8)));
            var v4 = VectorMath.Exp(Vector128.Create(x.AsSpan(i, 4)));
            for (int k = 0; k < 8; k++) AssertExp(x[i + k], v8[k]);
            for (int k = 0; k < 4; k++) AssertExp(x[i + k], v4[k]);
        }
    }

    [Fact]
    public void Exp_of_an_element_does_not_depend_on_its_position()
    {
        var x = ExpInputs().Take(29).ToArray();
        var whole = new float[x.Length];
        VectorMath.Exp(x, whole);
        for (int start = 0; start < x.Length; start++)
            for (int len = 1; start + len <= x.Length && len <= 11; len++)
            {
                var part = new float[len];
                VectorMath.Exp(x.AsSpan(start, len), part);
                for (int k = 0; k < len; k++) Assert.True(whole[start + k].Equals(part[k]), $"exp({x[start + k]}) at {start + k} vs {k}");
            }
    }

    /// <summary>Relu and Clip as standalone ops: one pass from x to y, the same values as the in-place fused activation.</summary>
    [Theory]
    [InlineData(1, 0f, 0f)]
    [InlineData(2, -0.25f, 0.5f)]
    public void Unary_Relu_and_Clip_match_the_fused_activation(int code, float lo, float hi)
    {
        var x = KernelReference.Random(77, 4).Select(v => v * 3).ToArray();
        x[5] = float.PositiveInfinity; x[6] = float.NegativeInfinity;
        var y = new float[x.Length];
        Elementwise.Unary<float>(x, y, code, lo, hi);
        var want = x.ToArray();
        Activation.Apply(want, code, lo, hi);
        Assert.Equal(want, y);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(code == 1 ? MathF.Max(x[i], 0) : MathF.Min(MathF.Max(x[i], lo), hi), y[i]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(4420)]
    public void Softmax_of_rows_of_two_matches_the_definition(int rows)
    {
        var x = KernelReference.Random(2 * rows, rows).Select(v => v * 30).ToArray();
        if (rows >= 3) { x[2] = 80; x[3] = -80; x[4] = 5; x[5] = 5; }
        var y = new float[x.Length];
        Softmax.Rows(x, y, rows, 2, log: false);
        for (int r = 0; r < rows; r++)
        {
            double a = x[2 * r], b = x[2 * r + 1], m = Math.Max(a, b);
            double ea = Math.Exp(a - m), eb = Math.Exp(b - m);
            Assert.True(Math.Abs(ea / (ea + eb) - y[2 * r]) <= 3e-7, $"row {r}: {y[2 * r]} vs {ea / (ea + eb)}");
            Assert.True(Math.Abs(eb / (ea + eb) - y[2 * r + 1]) <= 3e-7, $"row {r}: {y[2 * r + 1]} vs {eb / (ea + eb)}");
        }
        // A NaN or +∞ score makes its row NaN (as e^(x − max) does for the scalar rows); the other rows are untouched.
        if (rows >= 3)
        {
            x[0] = float.NaN; x[3] = float.PositiveInfinity;
            Softmax.Rows(x, y, rows, 2, log: false);
            Assert.True(float.IsNaN(y[0]) && float.IsNaN(y[1]) && float.IsNaN(y[2]) && float.IsNaN(y[3]));
            Assert.Equal(0.5f, y[4]);
        }
    }

    [Theory]
    [InlineData(3, 2, 5)]
    [InlineData(2, 3, 17)]
    [InlineData(1, 4, 8)]
    public void Strided_softmax_matches_the_definition(int outer, int n, int inner)
    {
        var x = KernelReference.Random(outer * n * inner, 9).Select(v => v * 20).ToArray();
        var y = new float[x.Length];
        Softmax.Strided(x, y, new float[2 * inner], outer, n, inner, log: false);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                int b = o * n * inner + j;
                double m = Enumerable.Range(0, n).Max(k => (double)x[b + k * inner]);
                double s = Enumerable.Range(0, n).Sum(k => Math.Exp(x[b + k * inner] - m));
                for (int k = 0; k < n; k++)
                    Assert.True(Math.Abs(Math.Exp(x[b + k * inner] - m) / s - y[b + k * inner]) <= 5e-7, $"({o}, {k}, {j})");
            }
    }

    private static T[] Seq<T>(int n, Func<int, T> f) => Enumerable.Range(0, n).Select(f).ToArray();

    /// <summary>Slice-like copies of rows of 4, 8, 12 and 16 bytes (float, byte, long, ushort), forward and backward.</summary>
    [Theory]
    [InlineData(2, 4, 1)]     // floats: 8-byte rows of [N, 4] → [N, 2] (UltraFace's box halves)
    [InlineData(3, 4, 0)]     // 12 bytes
    [InlineData(4, 6, 2)]     // 16 bytes
    [InlineData(1, 3, 2)]     // 4 bytes
    [InlineData(5, 7, 1)]     // 20 bytes: the general row copy
    public void Short_row_copies_match_the_definition(int inner, int stride, int start)
    {
        int rows = 37;
        var xf = Seq(rows * stride, i => (float)i);
        Check(xf, f => f);
        Check(Seq(rows * stride, i => (byte)(i * 7)), b => b);
        Check(Seq(rows * stride, i => (long)i * 1_000_000_007L), l => l);
        Check(Seq(rows * stride, i => (ushort)(i * 3)), u => u);

        void Check<T>(T[] x, Func<T, T> id)
        {
            // Forward, then rows in reverse order (a negative row stride, as Slice with a negative step on the outer axis).
            var y = new T[rows * inner];
            Strided.Copy<T>(x, y, [rows, inner], [stride, 1], start);
            for (int r = 0; r < rows; r++) for (int i = 0; i < inner; i++) Assert.Equal(x[r * stride + start + i], y[r * inner + i]);
            Strided.Copy<T>(x, y, [rows, inner], [-stride, 1], (rows - 1) * stride + start);
            for (int r = 0; r < rows; r++) for (int i = 0; i < inner; i++) Assert.Equal(x[(rows - 1 - r) * stride + start + i], y[r * inner + i]);
            // Concat-like: the rows into every other block of a wider output.
            var z = new T[rows * 2 * inner];
            Strided.CopyRows<T>(y, 0, inner, z, inner, 2 * inner, rows, inner);
            for (int r = 0; r < rows; r++) for (int i = 0; i < inner; i++) Assert.Equal(y[r * inner + i], z[r * 2 * inner + inner + i]);
            Assert.ThrowsAny<ArgumentException>(() => Strided.Copy<T>(x, y, [rows, inner], [stride + 1, 1], start));
            Assert.ThrowsAny<ArgumentException>(() => Strided.CopyRows<T>(y, 0, inner, z, inner + 1, 2 * inner, rows, inner));
        }
    }

    /// <summary>The uint8 table lookup (QLinearConcat parts, QLinearSigmoid, ...) on every path: every byte value, odd lengths.</summary>
    [Fact]
    public void Byte_lookup_paths_match_the_table()
    {
        var rng = new Random(3);
        foreach (int n in new[] { 0, 1, 31, 32, 63, 64, 65, 256, 1000, 19200 })
        {
            var table = Seq(256, _ => (byte)rng.Next(256));
            var x = Seq(n, i => i < 256 ? (byte)i : (byte)rng.Next(256));
            foreach (var path in Enum.GetValues<QLookup.Path>().Where(QLookup.IsSupported))
            {
                var y = new byte[n + 3];
                QLookup.RunPath(path, x, table, y);
                for (int i = 0; i < n; i++) Assert.True(table[x[i]] == y[i], $"{path}: table[{x[i]}] = {table[x[i]]}, got {y[i]} at {i}");
                Assert.Equal(new byte[3], y.AsSpan(n).ToArray());
            }
            // Rows into a wider output, as QLinearConcat lowers it.
            var z = new byte[2 * n + 5];
            QLookup.Rows(x, table, z, 5, 2 * n, 1, n);
            for (int i = 0; i < n; i++) Assert.Equal(table[x[i]], z[5 + i]);
        }
    }

    /// <summary>NCHW → NHWC-like transposes: 4-byte elements in 4×4 blocks plus remainders, other sizes element by element.</summary>
    [Theory]
    [InlineData(1, 12, 1200)]
    [InlineData(1, 6, 1200)]
    [InlineData(2, 4, 20)]
    [InlineData(3, 5, 19)]
    [InlineData(1, 3, 7)]
    [InlineData(1, 17, 33)]
    [InlineData(2, 8, 3)]
    public void Transpose_matches_the_definition(int n, int c, int hw)
    {
        Check(Seq(n * c * hw, i => (float)i));
        Check(Seq(n * c * hw, i => i * 31));
        Check(Seq(n * c * hw, i => (byte)i));
        Check(Seq(n * c * hw, i => (long)i << 20));

        void Check<T>(T[] x)
        {
            var y = new T[x.Length];
            Transpose.Run<T>(x, y, [n, hw, c], [c * hw, 1, hw]);
            for (int b = 0; b < n; b++)
                for (int p = 0; p < hw; p++)
                    for (int ch = 0; ch < c; ch++)
                        Assert.Equal(x[(b * c + ch) * hw + p], y[(b * hw + p) * c + ch]);
        }
    }
}
