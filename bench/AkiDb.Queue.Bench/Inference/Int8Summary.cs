using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AkiDb.Queue.Bench.Report;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// The int8 targets of one <c>./bench.sh int8</c> run, saved as benchmarks-int8.json beside its report, so the main
/// report (docs/benchmarks.md) carries them, rendered by its generator rather than pasted in.
/// </summary>
public sealed record Int8Summary(string Run, string Conditions, double Minutes, bool Quick, IReadOnlyList<TargetRow> Targets)
{
    public const string FileName = "benchmarks-int8.json";

    /// <summary>The same options as the main report's benchmarks.json.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Task WriteAsync(string directory, Int8Summary summary) =>
        File.WriteAllTextAsync(Path.Combine(directory, FileName), JsonSerializer.Serialize(summary, JsonOptions));

    public static Int8Summary? Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path) ? JsonSerializer.Deserialize<Int8Summary>(File.ReadAllText(path), JsonOptions) : null;
    }

    /// <summary>The section docs/benchmarks.md shows under its targets: the int8 run's targets; empty when there is none.</summary>
    public static string MainReportSection(string directory)
    {
        if (Read(directory) is not { } summary)
        {
            return string.Empty;
        }

        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"### int8 targets: one `./bench.sh int8` run, {summary.Run}{(summary.Quick ? " (--quick: not the published figures)" : string.Empty)}");
        s.AppendLine();
        s.Append(CultureInfo.InvariantCulture, $"The issue's int8 targets measured side by side in that run ({summary.Minutes:F0} min; {summary.Conditions}); details, every pair and round in ");
        s.AppendLine("[benchmarks-int8.md](benchmarks-int8.md). Where that run is newer than this report's, these rows supersede the int8 rows above, which measured the file " +
                     "the worker made at the time; quality against fp32 on every kind of text is in [quality.md](quality.md) (`./bench.sh quality`).");
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

    /// <summary>Re-renders benchmarks.md in <paramref name="directory"/> from its benchmarks.json and the int8 and path summaries; null when there is no full run there.</summary>
    public static async Task<string?> RerenderMainReportAsync(string directory)
    {
        var json = Path.Combine(directory, "benchmarks.json");
        if (!File.Exists(json))
        {
            return null;
        }

        var report = JsonSerializer.Deserialize<BenchReport>(await File.ReadAllTextAsync(json), JsonOptions)!;
        var md = Path.Combine(directory, "benchmarks.md");
        await File.WriteAllTextAsync(md, Markdown.Render(report, AroundModel.PathSummary.SupplementSections(directory)));
        return md;
    }
}
