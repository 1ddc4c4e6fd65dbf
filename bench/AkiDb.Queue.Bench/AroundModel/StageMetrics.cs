using System.Globalization;
using System.Text.RegularExpressions;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// The worker's <c>akidb.request.stage</c> histogram from its Prometheus endpoint: sum and count per stage. A phase's
/// split is the difference of two scrapes. Two per-batch histograms come along under their own keys, to split the
/// "batch" stage: <see cref="Model"/> (<c>akidb.batch.inference</c>, the model's time measured inside the backend) and
/// <see cref="Transport"/> (<c>akidb.batch.transport</c>, framing, the pipe and pooling).
/// </summary>
internal sealed partial record StageMetrics(IReadOnlyDictionary<string, (double Sum, double Count)> Stages)
{
    /// <summary>The stages in the order a request passes them.</summary>
    public static readonly string[] Order = ["delivery", "parse", "tokenize", "cache", "wait", "batch", "result", "publish"];

    /// <summary>Per batch: the model's time inside the backend (the bridge's own clock).</summary>
    public const string Model = "batch:model";

    /// <summary>Per batch: the rest of the backend's round trip (framing, the pipe, pooling).</summary>
    public const string Transport = "batch:transport";

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
            else if (BatchSample().Match(line) is { Success: true } b)
            {
                // Summed over the series (one per model).
                var key = b.Groups["name"].Value == "inference" ? Model : Transport;
                var value = double.Parse(b.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
                var (sum, count) = stages.GetValueOrDefault(key);
                stages[key] = b.Groups["kind"].Value == "sum" ? (sum + value, count) : (sum, count + value);
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

    [GeneratedRegex("""^akidb_batch_(?<name>inference|transport)[a-z_]*_(?<kind>sum|count)(?:\{[^}]*\})?\s+(?<value>\S+)""")]
    private static partial Regex BatchSample();
}
