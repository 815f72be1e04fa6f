using BenchmarkDotNet.Running;

namespace Q.Compiler.Benchmarks;

/// <summary>
/// <c>--quick</c>: a Markdown table in about a minute (options <c>--seconds S</c> per model, <c>--model NAME</c>);
/// otherwise BenchmarkDotNet with its usual arguments (e.g. <c>--filter *</c>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Contains("--quick")) return QuickBench.Run(args);
        if (args.Contains("--profile")) return LayerProfile.Run(args);
        if (args.Contains("--build")) return BuildReport.Run();
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
