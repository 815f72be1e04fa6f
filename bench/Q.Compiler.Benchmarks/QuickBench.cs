using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;

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
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--seconds" && i + 1 < args.Length) secondsPerModel = double.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--model" && i + 1 < args.Length) only = args[++i];
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
        foreach (string name in BenchModel.Names)
        {
            if (only is not null && name != only) continue;
            using var model = BenchModel.TryLoad(name, out var reason);
            if (model is null) { skipped.Add($"{name}: {reason}"); continue; }
            var (maxAbs, range) = model.Compare();
            var (ours, ort) = Measure(model, secondsPerModel);
            times[name] = (ours, ort);
            Console.WriteLine(string.Format(inv, "| {0} | {1:N1} | {2:N1} | {3:F2} | {4:G2} (range {5:G3}) |", name, ours, ort, ours / ort, maxAbs, range));
        }
        PrintQuantizedRatios(times);
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
    /// <c>--loop ours|ort --model NAME --seconds S</c>: compiles, prints "running", then runs one engine for S seconds
    /// and nothing else, for a profiler (e.g. <c>perf record</c> with DOTNET_PerfMapEnabled=1).
    /// </summary>
    private static int Loop(string name, string engine, double seconds)
    {
        using var model = BenchModel.TryLoad(name, out var reason);
        if (model is null) { Console.WriteLine($"skipped {name}: {reason}"); return 1; }
        Action run = engine == "ort" ? model.RunOrt : model.RunOurs;
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
    private static (double Ours, double Ort) Measure(BenchModel model, double seconds)
    {
        // Warm up both (tiered JIT reaches its optimized code after ~30 calls plus a background delay).
        var warm = Stopwatch.StartNew();
        int warmRuns = 0;
        while (warmRuns < 60 || warm.Elapsed.TotalSeconds < Math.Min(1.0, seconds / 4))
        {
            model.RunOurs(); model.RunOrt(); warmRuns++;
            if (warm.Elapsed.TotalSeconds > seconds / 2 && warmRuns >= 3) break;
        }
        var ours = new List<double>(); var ort = new List<double>();
        const int rounds = 6;
        double slice = seconds / 2 / rounds;
        for (int r = 0; r < rounds; r++)
        {
            Sample(model.RunOurs, slice, ours);
            Sample(model.RunOrt, slice, ort);
        }
        return (Median(ours), Median(ort));
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

/// <summary>The calling thread's CPU time (Linux clock_gettime(CLOCK_THREAD_CPUTIME_ID)), or wall time elsewhere.</summary>
internal static class ThreadClock
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private const int ClockThreadCpuTime = 3;

    public static bool IsCpuTime { get; } = OperatingSystem.IsLinux() && Probe();

    private static bool Probe()
    {
        try { return ClockGetTime(ClockThreadCpuTime, out _) == 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    public static double Microseconds()
    {
        if (IsCpuTime && ClockGetTime(ClockThreadCpuTime, out var t) == 0) return t.Seconds * 1e6 + t.Nanoseconds / 1e3;
        return Stopwatch.GetTimestamp() * 1e6 / Stopwatch.Frequency;
    }
}
