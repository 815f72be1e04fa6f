using Q.Compiler.Kernels;
using Xunit;

namespace Q.Compiler.Tests.Quantization;

/// <summary>
/// The byte kernels with SIMD paths that have no op-level Evaluate of their own: the 256-entry table lookup (every path
/// against table[x]) and MaxPoolQ's 2×2 stride-2 path (against the plain window loop).
/// </summary>
public class QByteKernelTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(100)]
    [InlineData(4099)]
    public void QLookup_paths_equal_the_table(int n)
    {
        var rng = new Random(n + 5);
        var x = new byte[n];
        rng.NextBytes(x);
        if (n >= 256) for (int i = 0; i < 256; i++) x[i] = (byte)i;   // every entry at least once
        var tables = new List<byte[]> { Enumerable.Range(0, 256).Select(i => (byte)(255 - i)).ToArray(), new byte[256] };
        var random = new byte[256];
        rng.NextBytes(random);
        tables.Add(random);
        foreach (var table in tables)
            foreach (var path in Enum.GetValues<QLookup.Path>().Where(QLookup.IsSupported))
            {
                var y = new byte[n + 3];
                QLookup.RunPath(path, x, table, y);
                for (int i = 0; i < n; i++) Assert.True(y[i] == table[x[i]], $"{path} n={n} at {i}: x={x[i]} got {y[i]}, want {table[x[i]]}");
                Assert.True(y[n] == 0 && y[n + 1] == 0 && y[n + 2] == 0, $"{path} wrote past n");
            }
    }

    /// <summary>
    /// The tables the kernel builds at run time (QLookup.BuildTable, every path) are the compile-time tables of the integer
    /// reference (QLookupTable.Build with the ops' float functions) bit for bit, over random and extreme parameters.
    /// </summary>
    [Fact]
    public void QLookup_built_tables_equal_the_compile_time_tables()
    {
        var rng = new Random(17);
        var functions = new (int Kind, string Op, float Alpha, float Beta)[]
        {
            (QLookup.HardSwish, "HardSwish", 0, 0), (QLookup.HardSigmoid, "HardSigmoid", 0.2f, 0.5f),
            (QLookup.HardSigmoid, "HardSigmoid", 0.1666667f, 0.5f), (QLookup.LeakyRelu, "LeakyRelu", 0.01f, 0), (QLookup.LeakyRelu, "LeakyRelu", 0.3f, 0),
        };
        int checkedTables = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var (kind, op, alpha, beta) = functions[trial % functions.Length];
            float sx = (float)Math.Exp(rng.NextDouble() * 12 - 9), sy = (float)Math.Exp(rng.NextDouble() * 12 - 9);
            int zx = rng.Next(256), zy = rng.Next(256);
            if (trial % 50 == 0) (sx, sy) = (1e-30f, 1e30f);          // everything rounds to zy
            if (trial % 50 == 1) (sx, sy) = (1e20f, 1e-20f);          // saturates (±1e9 clamp)
            if (trial % 50 == 2) (sx, zx, sy, zy) = (0.5f, 128, 1f, 128); // exact halves: round half to even
            Func<float, float> f = op == "LeakyRelu" ? v => v >= 0 ? v : v * alpha : v => Q.Compiler.Ops.Activation.ActivationReference.Apply(v, op, alpha, beta);
            var want = Q.Compiler.Ops.QContrib.QLookupTable.Build(f, sx, zx, sy, zy, Q.Compiler.Ir.DataType.UInt8);
            foreach (var path in Enum.GetValues<QLookup.Path>().Where(QLookup.IsSupported))
            {
                var table = new byte[256];
                QLookup.BuildTable(path, table, kind, alpha, beta, sx, zx, sy, zy);
                for (int i = 0; i < 256; i++)
                    Assert.True(table[i] == want[i], $"{path} {op} sx={sx:R} zx={zx} sy={sy:R} zy={zy}: entry {i} is {table[i]}, want {want[i]}");
                checkedTables++;
            }
        }
        Assert.True(checkedTables >= 400);
    }

    [Theory]
    [InlineData(3, 4, 2)]
    [InlineData(2, 5, 33)]
    [InlineData(4, 2, 96)]
    [InlineData(1, 6, 130)]
    [InlineData(2, 3, 201)]
    public void MaxPoolQ_2x2_stride_2_equals_the_window_loop(int planes, int h, int w)
    {
        var rng = new Random(planes * 1000 + h * 100 + w);
        var x = new byte[planes * h * w];
        rng.NextBytes(x);
        int oh = h / 2, ow = w / 2;
        var want = new byte[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    int b = p * h * w + 2 * oy * w + 2 * ox;
                    want[(p * oh + oy) * ow + ox] = Math.Max(Math.Max(x[b], x[b + 1]), Math.Max(x[b + w], x[b + w + 1]));
                }
        var y = new byte[want.Length];
        MaxPoolQ.Run<byte>(x, y, planes, h, w, oh, ow, 2, 2, 2, 2, 1, 1, 0, 0);
        Assert.Equal(want, y);

        var xs = x.Select(v => (sbyte)v).ToArray();
        var ys = new sbyte[want.Length];
        MaxPoolQ.Run<sbyte>(xs, ys, planes, h, w, oh, ow, 2, 2, 2, 2, 1, 1, 0, 0);
        for (int i = 0; i < ys.Length; i++)
        {
            int p = i / (oh * ow), oy = i / ow % oh, ox = i % ow, b = p * h * w + 2 * oy * w + 2 * ox;
            Assert.Equal(Math.Max(Math.Max(xs[b], xs[b + 1]), Math.Max(xs[b + w], xs[b + w + 1])), ys[i]);
        }
    }
}
