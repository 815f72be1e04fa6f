using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using Q.Compiler.Bench;

namespace Q.Compiler.Benchmarks;

/// <summary>
/// A fast measurement for the README: each model's test_data_set_0, ours and ORT interleaved in rounds (so that
/// background load hits both alike), median time per run. Prints a Markdown table. Times are the calling thread's
/// CPU time on Linux (both engines run on the calling thread with one intra-op thread), which a busy machine distorts
/// far less than wall time; elsewhere wall time.
/// </summary>
public static class QuickBench
{
    public static int Run(string[] args)
    {
        double secondsPerModel = 5;
        string? only = null, engine = null;
        var models = new HashSet<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--seconds" && i + 1 < args.Length) secondsPerModel = double.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--model" && i + 1 < args.Length) models.Add(only = args[++i]);   // repeatable: the rows to run
            else if (args[i] == "--loop" && i + 1 < args.Length) engine = args[++i];
        }
        if (engine is not null && only is not null) return Loop(only, engine, secondsPerModel);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"Q.Compiler vs ONNX Runtime 1.31.1 (1 intra-op thread, ORT_ENABLE_ALL, IOBinding); {Environment.ProcessorCount} CPUs, " +
            $"{(Vector512.IsHardwareAccelerated ? "AVX-512" : Vector256.IsHardwareAccelerated ? "AVX2" : Vector128.IsHardwareAccelerated ? "128-bit SIMD" : "scalar")}, .NET {Environment.Version}");
        Console.WriteLine($"Median {(ThreadClock.IsCpuTime ? "thread CPU" : "wall")} time per run of test_data_set_0, µs.");
        Console.WriteLine();
        Console.WriteLine("| Model | Ours µs | ORT µs | Ours / ORT | max \\|ours − ORT\\| |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        var skipped = new List<string>();
        var times = new Dictionary<string, (double Ours, double Ort)>();
        var int8 = new Dictionary<string, List<(string Label, double Us, string Agreement)>>();
        foreach (string name in BenchModel.Names)
        {
            // A quantized row brings its float row along, for the int8 / float ratios.
            if (models.Count != 0 && !models.Contains(name) && !BenchModel.Quantized.Any(q => models.Contains(q.Name) && q.Base == name)) continue;
            using var model = BenchModel.TryLoad(name, out var reason);
            if (model is null) { skipped.Add($"{name}: {reason}"); continue; }
            var (maxAbs, range) = model.Compare();
            var engines = new List<Action> { model.RunOurs, model.RunOrt };
            for (int k = 0; k < model.OrtInt8Labels.Count; k++) { int kk = k; engines.Add(() => model.RunOrtInt8(kk)); }
            var us = Measure(engines, secondsPerModel);
            double ours = us[0], ort = us[1];
            times[name] = (ours, ort);
            if (model.OrtInt8Labels.Count > 0)
                int8[name] = model.OrtInt8Labels.Select((l, k) => (l, us[2 + k], model.CompareInt8(k))).ToList();
            Console.WriteLine(string.Format(inv, "| {0} | {1:N1} | {2:N1} | {3:F2} | {4:G2} (range {5:G3}) |", name, ours, ort, ours / ort, maxAbs, range));
        }
        PrintQuantizedRatios(times);
        PrintOrtInt8(times, int8);
        foreach (var s in skipped) Console.WriteLine($"skipped {s}");
        return 0;
    }

    /// <summary>
    /// The issue-3 ratios of the quantized rows: an int8 build against our float build and ORT's float run of the same
    /// model; our build of a QDQ model against ORT's run of it. (In the main table an int8 row's ORT column is ORT float.)
    /// </summary>
    private static void PrintQuantizedRatios(Dictionary<string, (double Ours, double Ort)> times)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = BenchModel.Quantized.Where(q => times.ContainsKey(q.Name)).ToList();
        if (rows.Count == 0) return;
        Console.WriteLine();
        Console.WriteLine("| Quantized | Ours µs | Our float µs | Ours / our float | ORT µs (ORT run of) | Ours / ORT |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var q in rows)
        {
            var (ours, ort) = times[q.Name];
            bool hasFloat = times.TryGetValue(q.Base, out var f);
            string ortOf = q.Calibration is null ? q.File + ", int8" : "float";
            Console.WriteLine(string.Format(inv, "| {0} | {1:N1} | {2} | {3} | {4:N1} ({5}) | {6:F2} |", q.Name, ours,
                hasFloat ? f.Ours.ToString("N1", inv) : "—", hasFloat ? (ours / f.Ours).ToString("F2", inv) : "—", ort, ortOf, ours / ort));
        }
        // Our int8 build against ORT's int8 run of the QDQ twin (the "within reach" criterion for kws-m).
        if (times.TryGetValue("kws-m int8", out var k) && times.TryGetValue("kws-m QDQ", out var qdq))
            Console.WriteLine(string.Format(inv, "\nkws-m: our int8 build {0:N1} µs, ORT's run of qdq.onnx {1:N1} µs: ratio {2:F2}.", k.Ours, qdq.Ort, k.Ours / qdq.Ort));
        // Dynamic against static int8 (no calibration data against calibrated activation ranges).
        if (times.TryGetValue("kws-m int8", out var s8) && times.TryGetValue("kws-m dynamic", out var dyn))
            Console.WriteLine(string.Format(inv, "\nkws-m: our dynamic build {0:N1} µs, our int8 build {1:N1} µs: ratio {2:F2}.", dyn.Ours, s8.Ours, dyn.Ours / s8.Ours));
    }

    /// <summary>
    /// ORT's int8 run of the same quantized graph (our calibrated build exported with OnnxWriter, int8 and uint8 weight
    /// forms) against ours int8, our float and ORT float; and how far ORT's int8 outputs are from ours.
    /// </summary>
    private static void PrintOrtInt8(Dictionary<string, (double Ours, double Ort)> times, Dictionary<string, List<(string Label, double Us, string Agreement)>> int8)
    {
        var inv = CultureInfo.InvariantCulture;
        if (int8.Count == 0) return;
        Console.WriteLine();
        Console.WriteLine("ORT int8 = ONNX Runtime running our calibrated int8 graph, exported as ONNX (docs/export.md); s8/u8 = weight form.");
        Console.WriteLine();
        Console.WriteLine("| Quantized | Ours int8 µs | Our float µs | ORT float µs | ORT int8 µs (weights) | ours int8 / our float | ours int8 / ORT float | ours int8 / ORT int8 | ORT int8 / ORT float | max \\|ours − ORT int8\\| per output |");
        Console.WriteLine("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var (name, runs) in int8)
        {
            var (ours, ortFloat) = times[name];
            var q = BenchModel.Quantized.First(m => m.Name == name);
            double ourFloat = times.TryGetValue(q.Base, out var f) ? f.Ours : double.NaN;
            foreach (var (label, us, steps) in runs)
                Console.WriteLine(string.Format(inv, "| {0} | {1:N1} | {2:N1} | {3:N1} | {4:N1} ({5}) | {6:F2} | {7:F2} | {8:F2} | {9:F2} | {10} |",
                    name, ours, ourFloat, ortFloat, us, label, ours / ourFloat, ours / ortFloat, ours / us, us / ortFloat, steps));
        }
    }

    /// <summary>
    /// <c>--loop ours|ort|ort-int8|ort-int8-u8 --model NAME --seconds S</c>: compiles, prints "running", then runs one engine for S seconds
    /// and nothing else, for a profiler (e.g. <c>perf record</c> with DOTNET_PerfMapEnabled=1).
    /// </summary>
    private static int Loop(string name, string engine, double seconds)
    {
        using var model = BenchModel.TryLoad(name, out var reason);
        if (model is null) { Console.WriteLine($"skipped {name}: {reason}"); return 1; }
        if (engine.StartsWith("ort-int8", StringComparison.Ordinal) && model.OrtInt8Labels.Count == 0) { Console.WriteLine($"{name} has no ORT int8 run"); return 1; }
        Action run = engine switch
        {
            "ort" => model.RunOrt,
            "ort-int8" => () => model.RunOrtInt8(0),      // int8 weights (ORT's U8S8 path)
            "ort-int8-u8" => () => model.RunOrtInt8(1),   // uint8 weights (U8U8)
            _ => model.RunOurs,
        };
        for (int i = 0; i < 50; i++) run();
        Thread.Sleep(500);   // let tiered compilation finish its background work
        Console.WriteLine("running");
        var sw = Stopwatch.StartNew();
        int runs = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { run(); runs++; }
        Console.WriteLine($"{runs} runs");
        return 0;
    }

    /// <summary>Median µs per run of each engine, measured in alternating rounds after a warm-up.</summary>
    private static double[] Measure(IReadOnlyList<Action> engines, double seconds)
    {
        // Warm up all (tiered JIT reaches its optimized code after ~30 calls plus a background delay).
        var warm = Stopwatch.StartNew();
        int warmRuns = 0;
        while (warmRuns < 60 || warm.Elapsed.TotalSeconds < Math.Min(1.0, seconds / 4))
        {
            foreach (var e in engines) e();
            warmRuns++;
            if (warm.Elapsed.TotalSeconds > seconds / 2 && warmRuns >= 3) break;
        }
        var samples = engines.Select(_ => new List<double>()).ToArray();
        const int rounds = 6;
        double slice = seconds / 2 / rounds;
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < engines.Count; k++) Sample(engines[k], slice, samples[k]);
        return samples.Select(Median).ToArray();
    }

    /// <summary>
    /// Adds per-run times to <paramref name="into"/>: runs are timed in batches of about 200 µs, since reading the
    /// thread CPU clock is a system call of its own (about a microsecond), too coarse to bracket a 3 µs model run.
    /// </summary>
    private static void Sample(Action run, double seconds, List<double> into)
    {
        double t0 = ThreadClock.Microseconds();
        run();
        double once = Math.Max(ThreadClock.Microseconds() - t0, 0.1);
        int batch = Math.Max(1, (int)(200 / once));
        double end = ThreadClock.Microseconds() + seconds * 1e6;
        int n = 0;
        do
        {
            double start = ThreadClock.Microseconds();
            for (int i = 0; i < batch; i++) run();
            double now = ThreadClock.Microseconds();
            into.Add((now - start) / batch);
            n++;
            if (now >= end && n >= 2) break;
        } while (true);
    }

    private static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
