using System.Globalization;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>The worker's Prometheus text exposition, read once at the end of the scenario.</summary>
internal sealed class Metrics(IReadOnlyList<(string Name, double Value)> samples)
{
    public static async Task<Metrics> ScrapeAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        var samples = new List<(string, double)>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var nameEnd = line.IndexOfAny(['{', ' ']);
            var valueStart = line.LastIndexOf('}') is >= 0 and var brace ? brace + 1 : nameEnd;
            var parts = line[valueStart..].Trim().Split(' ');
            if (nameEnd > 0 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples.Add((line[..nameEnd], value));
            }
        }

        return new Metrics(samples);
    }

    /// <summary>Sum over label sets of the series whose name starts with <paramref name="prefix"/> and ends with <paramref name="suffix"/>.</summary>
    public double? Sum(string prefix, string suffix)
    {
        var matching = samples.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal) && s.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();
        return matching.Count == 0 ? null : matching.Sum(s => s.Value);
    }

    public double? Max(string prefix)
    {
        var matching = samples.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return matching.Count == 0 ? null : matching.Max(s => s.Value);
    }
}
