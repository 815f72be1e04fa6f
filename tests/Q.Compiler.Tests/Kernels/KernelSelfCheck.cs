// Compiled twice: into the test assembly, and (with the kernel sources as the generator emits them) into a small
// program that IsaDispatchTests runs in child processes with instruction sets switched off. So: BCL and
// Q.Compiler.Kernels only, explicit usings.
using System;
using System.IO;
using Q.Compiler.Kernels;

namespace Q.Compiler.Tests.Kernels;

/// <summary>
/// End-to-end checks of the kernels' public entry points (which dispatch on the machine's instruction sets) against
/// double references: GEMM (run-time and packed B), pointwise, im2col and depthwise convolution, max and average
/// pooling, and a detector's post-processing (Exp, two-class Softmax, short-row copies, Transpose, byte lookup). Returns the number of failures and prints which paths ran.
/// </summary>
internal static class KernelSelfCheck
{
    public static string Paths => $"gemm={Gemm.SelectedPath} simd={Simd.Width}";

    /// <summary>Runs the checks, prints the paths and "ok" (or the failures); the exit code of the child program.</summary>
    public static int RunAndReport()
    {
        int failures = Run(Console.Out);
        Console.WriteLine(failures == 0 ? "ok" : $"{failures} failures");
        return failures == 0 ? 0 : 1;
    }

    public static int Run(TextWriter log)
    {
        log.WriteLine(Paths);
        int failures = 0;
        foreach (var (m, n, k) in new[] { (1, 1, 1), (1, 37, 300), (6, 16, 16), (7, 33, 257), (13, 129, 40) })
            foreach (bool transB in new[] { false, true })
            {
                var a = Random(m * k, m + n); var b = Random(k * n, k);
                var bias = Random(n, 3);
                var y = new float[m * n];
                Gemm.Run(a, b, bias, y, m, n, k, false, transB, 1f, 1f, Gemm.BiasPerColumn, Activation.Relu, 0, 0);
                var e = new double[m * n];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double s = bias[j];
                        for (int kk = 0; kk < k; kk++) s += (double)a[i * k + kk] * (transB ? b[j * k + kk] : b[kk * n + j]);
                        e[i * n + j] = Math.Max(0, s);
                    }
                failures += Compare(log, $"Gemm.Run {m}x{n}x{k} transB={transB}", e, y, k);
                if (transB) continue;
                var packed = new float[Gemm.PackedLength(k, n)];
                Gemm.Pack(b, k, n, packed);
                var y2 = new float[m * n];
                Gemm.RunPacked(a, packed, bias, y2, m, n, k, false, Gemm.BiasPerColumn, Activation.Relu, 0, 0);
                failures += Compare(log, $"Gemm.RunPacked {m}x{n}x{k}", e, y2, k);
            }

        // (C, H, W, M, K, stride, pad, group)
        foreach (var (c, h, w, m, ks, s, p, group) in new[]
        {
            (24, 9, 13, 10, 1, 1, 0, 1), (5, 12, 17, 7, 3, 1, 1, 1), (3, 15, 14, 8, 3, 2, 1, 1), (8, 13, 19, 8, 3, 1, 1, 8), (6, 16, 21, 6, 3, 2, 1, 6),
        })
        {
            int oh = (h + 2 * p - ks) / s + 1, ow = (w + 2 * p - ks) / s + 1, cg = c / group, mg = m / group;
            var x = Random(c * h * w, 5); var wt = Random(m * cg * ks * ks, 6); var bias = Random(m, 7);
            var y = new float[m * oh * ow];
            string path;
            if (group == c && m == c)
            {
                path = "Conv2D.Depthwise";
                var scratch = new float[Conv2D.DepthwiseScratchLength(h, w, s, p, p, p, p)];
                Conv2D.Depthwise(x, wt, bias, y, scratch, 1, c, h, w, oh, ow, ks, ks, s, s, 1, 1, p, p, p, p, Activation.Clip, 0f, 0.5f);
            }
            else if (ks == 1 && s == 1 && p == 0)
            {
                path = "Conv2D.Pointwise";
                Conv2D.Pointwise(x, wt, bias, y, new float[Gemm.PackBufferLength(cg, h * w)], 1, c, h * w, m, group, Activation.Clip, 0f, 0.5f);
            }
            else if (s == 1)
            {
                path = "Conv2D.ImplicitGemm";
                var scratch = new float[Conv2D.ImplicitGemmScratchLength(c, h, w, m, ks, ks, s, s, 1, group, p, p, p, p)];
                Conv2D.ImplicitGemm(x, wt, bias, y, scratch, 1, c, h, w, m, oh, ow, ks, ks, s, s, 1, 1, p, p, p, p, group, Activation.Clip, 0f, 0.5f);
            }
            else
            {
                path = "Conv2D.Im2Col";
                Conv2D.Im2Col(x, wt, bias, y, new float[cg * ks * ks * 32], 1, c, h, w, m, oh, ow, ks, ks, s, s, 1, 1, p, p, group, Activation.Clip, 0f, 0.5f);
            }
            var e = new double[y.Length];
            for (int oc = 0; oc < m; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double acc = bias[oc];
                        for (int ic = 0; ic < cg; ic++)
                            for (int ky = 0; ky < ks; ky++)
                                for (int kx = 0; kx < ks; kx++)
                                {
                                    int iy = oy * s + ky - p, ix = ox * s + kx - p;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                        acc += (double)x[((oc / mg * cg + ic) * h + iy) * w + ix] * wt[((oc * cg + ic) * ks + ky) * ks + kx];
                                }
                        e[(oc * oh + oy) * ow + ox] = Math.Min(Math.Max(acc, 0), 0.5);
                    }
            failures += Compare(log, $"{path} {c}x{h}x{w}→{m} k{ks} s{s} p{p} g{group}", e, y, cg * ks * ks);
        }

        foreach (bool max in new[] { true, false })
        {
            int planes = 3, h = 27, w = 30, k = 3, s = 2, p = max ? 0 : 1;
            int oh = (h + 2 * p - k + s - 1) / s + 1, ow = (w + 2 * p - k + s - 1) / s + 1;   // ceil_mode
            if ((oh - 1) * s >= h + p) oh--;
            if ((ow - 1) * s >= w + p) ow--;
            var x = Random(planes * h * w, 9);
            var y = new float[planes * oh * ow];
            var scratch = new float[Pool2D.ScratchLength(h, w, oh, ow, k, k, s, s, 1, 1, p, p)];
            if (max) Pool2D.MaxPadded(x, y, scratch, planes, h, w, oh, ow, k, k, s, s, 1, 1, p, p);
            else Pool2D.AveragePadded(x, y, scratch, planes, h, w, oh, ow, k, k, s, s, p, p, p, p, false);
            var e = new double[y.Length];
            for (int pl = 0; pl < planes; pl++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double acc = max ? double.NegativeInfinity : 0; int count = 0;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                            {
                                int iy = oy * s + ky - p, ix = ox * s + kx - p;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                double v = x[(pl * h + iy) * w + ix];
                                acc = max ? Math.Max(acc, v) : acc + v; count++;
                            }
                        e[(pl * oh + oy) * ow + ox] = max ? acc : acc / count;
                    }
            failures += Compare(log, max ? "Pool2D.MaxPadded 3x3 s2 ceil" : "Pool2D.AveragePadded 3x3 s2 p1 ceil", e, y, k * k);
        }
        failures += DetectorTail(log);
        return failures;
    }

    /// <summary>A detector's post-processing kernels: e^x, two-class Softmax, short-row Slice/Concat copies, NHWC Transpose, byte lookup.</summary>
    private static int DetectorTail(TextWriter log)
    {
        int failures = 0;
        var x = Random(203, 21);
        for (int i = 0; i < x.Length; i++) x[i] *= 90;
        var y = new float[x.Length];
        Elementwise.Unary<float>(x, y, 10, 0, 0);
        for (int i = 0; i < x.Length; i++)
        {
            double e = Math.Exp(x[i]);
            bool ok = e > float.MaxValue ? float.IsPositiveInfinity(y[i]) : Math.Abs(e - y[i]) <= 3e-7 * e + 1e-44;
            if (!ok) { log.WriteLine($"FAIL Exp({x[i]:R}) = {y[i]:R}, expected {e:R}"); failures++; break; }
        }

        int rows = 13;
        var s = new float[2 * rows];
        var es = new double[2 * rows];
        for (int r = 0; r < rows; r++)
        {
            double a = x[2 * r] / 30.0, b = x[2 * r + 1] / 30.0;
            es[2 * r] = 1 / (1 + Math.Exp(b - a)); es[2 * r + 1] = 1 / (1 + Math.Exp(a - b));
        }
        for (int i = 0; i < 2 * rows; i++) x[i] /= 30;
        Softmax.Rows(x.AsSpan(0, 2 * rows), s, rows, 2, false);
        failures += Compare(log, "Softmax.Rows 13 rows of 2", es, s, 1);

        var slice = new float[rows * 2];
        Strided.Copy<float>(x, slice, [rows, 2], [4, 1], 2);
        var cat = new float[rows * 4];
        Strided.CopyRows<float>(slice, 0, 2, cat, 2, 4, rows, 2);
        var ec = new double[rows * 2]; var ac = new float[rows * 2];
        for (int r = 0; r < rows; r++) for (int i = 0; i < 2; i++) { ec[r * 2 + i] = x[r * 4 + 2 + i]; ac[r * 2 + i] = cat[r * 4 + 2 + i]; }
        failures += Compare(log, "Strided.Copy/CopyRows rows of 2 floats", ec, ac, 1);

        int c = 6, hw = 29;
        var t = new float[c * hw];
        Transpose.Run<float>(x.AsSpan(0, c * hw), t, [hw, c], [1, hw]);
        var et = new double[c * hw];
        for (int p = 0; p < hw; p++) for (int ch = 0; ch < c; ch++) et[p * c + ch] = x[ch * hw + p];
        failures += Compare(log, "Transpose [1,6,29] NCHW→NHWC", et, t, 1);

        var table = new byte[256]; var bytes = new byte[300]; var mapped = new byte[300];
        for (int i = 0; i < 256; i++) table[i] = (byte)(i * 37 + 11);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 13);
        QLookup.Run(bytes, table, mapped);
        for (int i = 0; i < bytes.Length; i++)
            if (mapped[i] != table[bytes[i]]) { log.WriteLine($"FAIL QLookup.Run at {i}"); failures++; break; }
        // The run-time HardSwish table on this ISA's best path against the scalar loop.
        var built = new byte[256]; var scalar = new byte[256];
        QLookup.BuildTable(QLookup.Best, built, QLookup.HardSwish, 0, 0, 0.0922333f, 103, 0.0603675f, 6);
        QLookup.BuildTable(QLookup.Path.Scalar, scalar, QLookup.HardSwish, 0, 0, 0.0922333f, 103, 0.0603675f, 6);
        for (int i = 0; i < 256; i++)
            if (built[i] != scalar[i]) { log.WriteLine($"FAIL QLookup.BuildTable {QLookup.Best} entry {i}: {built[i]} vs scalar {scalar[i]}"); failures++; break; }
        return failures;
    }

    private static int Compare(TextWriter log, string what, double[] expected, float[] actual, int terms)
    {
        double tol = 2e-6 * Math.Max(terms, 1) + 1e-5;
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
            {
                log.WriteLine($"FAIL {what}: element {i} expected {expected[i]:G9} got {actual[i]:G9}");
                return 1;
            }
        return 0;
    }

    private static float[] Random(int count, int seed)
    {
        var r = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(r.NextDouble() * 2 - 1);
        return v;
    }
}
