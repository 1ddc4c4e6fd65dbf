using System.Globalization;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Bench.Report;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// The targets of one <c>./bench.sh --path</c> run (issue 23), saved as benchmarks-path.json beside its report, so the
/// main report (docs/benchmarks.md) carries them with their measured reasons, rendered by its generator (as the int8
/// targets are, <see cref="Int8Summary"/>).
/// </summary>
public sealed record PathSummary(string Run, string Conditions, bool Quick, bool LatencyOnly, IReadOnlyList<TargetRow> Targets)
{
    public const string FileName = "benchmarks-path.json";

    public static Task WriteAsync(string directory, PathSummary summary) =>
        File.WriteAllTextAsync(Path.Combine(directory, FileName), JsonSerializer.Serialize(summary, Int8Summary.JsonOptions));

    public static PathSummary? Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path) ? JsonSerializer.Deserialize<PathSummary>(File.ReadAllText(path), Int8Summary.JsonOptions) : null;
    }

    /// <summary>The section docs/benchmarks.md shows under its targets: the path run's targets; empty when there is none.</summary>
    public static string MainReportSection(string directory)
    {
        if (Read(directory) is not { } summary)
        {
            return string.Empty;
        }

        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"### The path around the model (issue 23): one `./bench.sh --path{(summary.LatencyOnly ? "-latency" : string.Empty)}` run, {summary.Run}{(summary.Quick ? " (--quick: not the published figures)" : string.Empty)}");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"{summary.Conditions} Details, the per-process and per-stage split, in [benchmarks-path.md](benchmarks-path.md).");
        s.AppendLine();
        s.AppendLine("| target | measured | met | why (measured) |");
        s.AppendLine("|---|---|---|---|");
        foreach (var t in summary.Targets)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"| {t.Target} | {t.Measured} | {t.Met switch { true => "**yes**", false => "**no**", _ => "-" }} | {t.Why} |");
        }

        s.AppendLine();
        return s.ToString();
    }

    /// <summary>Everything docs/benchmarks.md shows under its own targets from the separate runs (int8, the path).</summary>
    public static string SupplementSections(string directory) => Int8Summary.MainReportSection(directory) + MainReportSection(directory);
}
