using System;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Q.Compiler.Bench;

/// <summary>The calling thread's CPU time (Linux clock_gettime(CLOCK_THREAD_CPUTIME_ID)), or wall time elsewhere.</summary>
public static class ThreadClock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private const int ClockThreadCpuTime = 3;

    public static bool IsCpuTime { get; } = OperatingSystem.IsLinux() && Probe();

    /// <summary>"thread CPU time" or "wall time", for a benchmark's header.</summary>
    public static string Kind => IsCpuTime ? "thread CPU time" : "wall time";

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

/// <summary>Two kernels timed against each other on a shared machine.</summary>
public static class PairTimer
{
    /// <summary>
    /// Microseconds per call of <paramref name="a"/> and <paramref name="b"/>: each runs in batches of about
    /// <paramref name="batchMicroseconds"/> of this thread's CPU time, alternating, and the best of
    /// <paramref name="batches"/> batches counts (CPU time does not count the slices other processes take, and the
    /// minimum is the least disturbed batch).
    /// </summary>
    public static (double A, double B) Time(Action a, Action b, double batchMicroseconds, int batches)
    {
        for (int i = 0; i < 5; i++) { a(); b(); }
        int ra = Reps(a, batchMicroseconds), rb = Reps(b, batchMicroseconds);
        double bestA = double.MaxValue, bestB = double.MaxValue;
        for (int batch = 0; batch < batches; batch++)
        {
            bestA = Math.Min(bestA, Batch(a, ra));
            bestB = Math.Min(bestB, Batch(b, rb));
        }
        return (bestA, bestB);
    }

    /// <summary>Calls per batch: doubled until a batch takes longer than <paramref name="batchMicroseconds"/>.</summary>
    private static int Reps(Action run, double batchMicroseconds)
    {
        int reps = 1;
        while (true)
        {
            double t0 = ThreadClock.Microseconds();
            for (int i = 0; i < reps; i++) run();
            if (ThreadClock.Microseconds() - t0 > batchMicroseconds) return reps;
            reps *= 2;
        }
    }

    private static double Batch(Action run, int reps)
    {
        double t0 = ThreadClock.Microseconds();
        for (int i = 0; i < reps; i++) run();
        return (ThreadClock.Microseconds() - t0) / reps;
    }
}
