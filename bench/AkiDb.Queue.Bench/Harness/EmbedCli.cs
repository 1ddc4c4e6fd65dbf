using System.Diagnostics;
using System.Text.Json;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>
/// <c>akidb-queue embed</c> run as a user runs it: its own process, wall time from start to exit, output checked line by
/// line. The user-path, path-around-the-model and int8 sections all time the CLI through this one runner, so their
/// figures measure the same thing.
/// </summary>
internal static class EmbedCli
{
    /// <param name="Seconds">Wall time from start to exit.</param>
    /// <param name="Lines">Result lines written.</param>
    /// <param name="InOrder">Every line's id is <c>t0</c>, <c>t1</c>, ... in input order (the inputs the benchmark writes).</param>
    /// <param name="CpuSeconds">The CLI's own CPU time, read from /proc until it exits.</param>
    internal sealed record Run(double Seconds, int ExitCode, int Lines, bool InOrder, double CpuSeconds);

    /// <param name="tag">Names the output file under the benchmark's artifacts (deleted after counting).</param>
    /// <param name="extra">Options after <c>--url</c>, e.g. <c>--model NAME</c>.</param>
    public static async Task<Run> RunAsync(string cli, string input, string url, string tag, params string[] extra)
    {
        var output = Path.Combine(Paths.Artifacts, $"embed-output-{tag}.jsonl");
        File.Delete(output);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { cli, "embed", input, "--out", output, "--url", url }.Concat(extra))
        {
            start.ArgumentList.Add(argument);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        Cleanup.Track(process.Id);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var cpu = 0.0;
        while (!process.HasExited)
        {
            // The last reading before exit: /proc/PID goes away with the process.
            cpu = Math.Max(cpu, ProcStat.CpuSeconds(process.Id) ?? 0);
            await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(100));
        }

        await process.WaitForExitAsync();
        var seconds = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            Log.Info($"  embed failed: {await stdout}{await stderr}");
        }

        var lines = 0;
        var inOrder = true;
        if (File.Exists(output))
        {
            foreach (var line in File.ReadLines(output))
            {
                using var doc = JsonDocument.Parse(line);
                inOrder &= doc.RootElement.TryGetProperty("id", out var id) && id.GetString() == $"t{lines}";
                lines++;
            }
        }

        File.Delete(output);
        return new Run(seconds, process.ExitCode, lines, inOrder, cpu);
    }
}
