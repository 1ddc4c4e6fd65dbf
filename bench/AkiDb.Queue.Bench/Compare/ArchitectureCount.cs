using System.Diagnostics;

namespace AkiDb.Queue.Bench.Compare;

/// <summary>One row of scripts/architecture-counts.sh: a count read from a source tree.</summary>
public sealed record ArchitectureCount(string Key, int Value, string Description)
{
    /// <summary>Runs this tree's script over <paramref name="tree"/>, so both trees are counted by the same definitions.</summary>
    public static IReadOnlyList<ArchitectureCount> Read(string tree)
    {
        var script = Path.Combine(Harness.Paths.Root, "scripts", "architecture-counts.sh");
        var start = new ProcessStartInfo(script, [tree]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {tree} exited with {process.ExitCode}: {process.StandardError.ReadToEnd()}");
        }

        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .Select(f => new ArchitectureCount(f[0], int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture), f[2]))
            .ToList();
    }
}
