namespace AkiDb.Queue.Bench.Harness;

/// <summary>Medians and percentiles (linear interpolation between closest ranks, as numpy's default).</summary>
public static class Stats
{
    public static double Median(IEnumerable<double> values) => Percentile(values, 50);

    public static double Percentile(IEnumerable<double> values, double percentile)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = percentile / 100.0 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public static LatencyStats Latency(IReadOnlyCollection<double> milliseconds) => new(
        milliseconds.Count,
        Percentile(milliseconds, 50),
        Percentile(milliseconds, 95),
        Percentile(milliseconds, 99),
        milliseconds.Count > 0 ? milliseconds.Average() : double.NaN,
        milliseconds.Count > 0 ? milliseconds.Max() : double.NaN);
}

/// <summary>Latency summary in milliseconds.</summary>
public sealed record LatencyStats(int Samples, double P50, double P95, double P99, double Mean, double Max);
