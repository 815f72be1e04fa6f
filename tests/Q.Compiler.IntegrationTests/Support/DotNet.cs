using System.Diagnostics;
using System.Text;

namespace Q.Compiler.IntegrationTests.Support;

/// <summary>The output of one command.</summary>
public sealed record CommandResult(string Command, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>For assertion messages: the command, its exit code and the end of its output.</summary>
    public override string ToString() =>
        $"`{Command}` exited with {ExitCode} after {Elapsed.TotalSeconds:F1} s; output:\n" +
        (Output.Length > 12000 ? "…" + Output[^12000..] : Output);
}

/// <summary>Runs the dotnet CLI (and built programs) the way a user would, capturing everything they print.</summary>
public static class DotNet
{
    /// <summary>
    /// `dotnet args` in <paramref name="directory"/>. MSBuild nodes are not reused, so no process outlives the command;
    /// MSBuild variables inherited from a `dotnet test` parent are removed so that the child build stands alone.
    /// </summary>
    public static CommandResult Run(string directory, string args, TimeSpan? timeout = null) =>
        Exec("dotnet", args, directory, timeout ?? TimeSpan.FromMinutes(5));

    /// <summary>`dotnet build` with normal verbosity (so skipped targets and task messages are visible), without restore.</summary>
    public static CommandResult Build(string directory, string extra = "") =>
        Run(directory, $"build --no-restore -nodeReuse:false -v:n -clp:NoSummary {extra}".TrimEnd());

    public static CommandResult Exec(string fileName, string args, string directory, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(fileName, args)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var name in new[] { "MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly", "MSBUILDNOINPROCNODE" })
            psi.Environment.Remove(name);
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["MSBUILDTERMINALLOGGER"] = "off";

        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        var outputClosed = new ManualResetEventSlim();
        var errorClosed = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) => { if (e.Data is null) outputClosed.Set(); else lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is null) errorClosed.Set(); else lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"`{fileName} {args}` in {directory} did not finish within {timeout.TotalMinutes:F0} min; output so far:\n{output}");
        }
        // Exited: let the readers reach the end of the output, but not forever (a detached server process could hold the pipes open).
        outputClosed.Wait(TimeSpan.FromSeconds(10));
        errorClosed.Wait(TimeSpan.FromSeconds(10));
        clock.Stop();
        string text;
        lock (output) text = output.ToString();
        return new CommandResult($"{fileName} {args}", process.ExitCode, text, clock.Elapsed);
    }
}
