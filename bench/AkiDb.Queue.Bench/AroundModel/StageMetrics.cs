using System.Globalization;
using System.Text.RegularExpressions;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// The worker's <c>akidb.request.stage</c> histogram from its Prometheus endpoint: sum and count per stage. A phase's
/// split is the difference of two scrapes.
/// </summary>
internal sealed partial record StageMetrics(IReadOnlyDictionary<string, (double Sum, double Count)> Stages)
{
    /// <summary>The stages in the order a request passes them.</summary>
    public static readonly string[] Order = ["delivery", "parse", "tokenize", "cache", "wait", "batch", "result", "publish"];

    public static async Task<StageMetrics> ScrapeAsync(int port)
    {
        // The exporter answers a scrape from a copy it keeps for a moment: a scrape right after another could show nothing new.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        var stages = new Dictionary<string, (double Sum, double Count)>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (Sample().Match(line) is { Success: true } m)
            {
                var stage = m.Groups["stage"].Value;
                var value = double.Parse(m.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
                var (sum, count) = stages.GetValueOrDefault(stage);
                stages[stage] = m.Groups["kind"].Value == "sum" ? (value, count) : (sum, value);
            }
        }

        return new StageMetrics(stages);
    }

    /// <summary>Mean milliseconds per request in each stage between <paramref name="before"/> and this scrape.</summary>
    public IReadOnlyDictionary<string, double> MeanSince(StageMetrics before)
    {
        var means = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (stage, (sum, count)) in Stages)
        {
            var (sum0, count0) = before.Stages.GetValueOrDefault(stage);
            if (count - count0 > 0)
            {
                means[stage] = (sum - sum0) / (count - count0);
            }
        }

        return means;
    }

    /// <summary>Total milliseconds spent in each stage between <paramref name="before"/> and this scrape (summed over requests).</summary>
    public IReadOnlyDictionary<string, double> TotalSince(StageMetrics before) =>
        Stages.ToDictionary(s => s.Key, s => s.Value.Sum - before.Stages.GetValueOrDefault(s.Key).Sum, StringComparer.Ordinal);

    [GeneratedRegex("""^akidb_request_stage[a-z_]*_(?<kind>sum|count)\{(?:[^}]*,)?stage="(?<stage>[a-z]+)"[^}]*\}\s+(?<value>\S+)""")]
    private static partial Regex Sample();
}
