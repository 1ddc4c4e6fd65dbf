using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using System.Text.RegularExpressions;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The Grafana dashboard (compose/grafana/dashboards/akidb-queue.json) and the KEDA seconds-of-work trigger query
/// metrics by their Prometheus names; a name that drifts from what the worker exports leaves an empty panel or a
/// trigger that never fires, and nothing else would notice. Checked against the /metrics of a real worker process
/// that has done the things each panel shows: answered and failed requests, served a text from its cache, restarted
/// a bridge.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed partial class DashboardTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly string Dashboard = Path.Combine(RepoPaths.Root, "compose", "grafana", "dashboards", "akidb-queue.json");

    [Fact]
    public void The_dashboard_has_the_panels_operators_look_for_and_the_observability_profile_provisions_it()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Dashboard));
        var titles = Panels(dashboard.RootElement).Select(p => p.GetProperty("title").GetString()!).ToList();
        foreach (var title in new[] { "Throughput", "Queue depth", "Seconds of work", "Batch fill", "Padding efficiency", "Queueing time p95 by priority", "Bridge restarts", "Cache hit rate" })
        {
            Assert.Contains(title, titles);
        }

        // Every query names the data source variable, so the JSON imports into any Grafana as well as the provisioned one.
        Assert.All(Panels(dashboard.RootElement).Where(p => p.GetProperty("type").GetString() != "row"),
            p => Assert.Equal("${datasource}", p.GetProperty("datasource").GetProperty("uid").GetString()));

        var provisioning = Path.Combine(RepoPaths.Root, "compose", "grafana", "provisioning");
        Assert.Contains("url: http://prometheus:9090", File.ReadAllText(Path.Combine(provisioning, "datasources", "prometheus.yml")), StringComparison.Ordinal);
        Assert.Contains("path: /var/lib/grafana/dashboards", File.ReadAllText(Path.Combine(provisioning, "dashboards", "akidb-queue.yml")), StringComparison.Ordinal);
        var compose = File.ReadAllText(Path.Combine(RepoPaths.Root, "compose", "docker-compose.yml"));
        Assert.Contains("./grafana/dashboards:/var/lib/grafana/dashboards:ro", compose, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_metric_the_dashboard_and_the_KEDA_trigger_query_is_exported_by_a_running_worker_with_its_labels()
    {
        var queries = DashboardQueries().Append(KedaQuery()).ToList();
        var wanted = queries.SelectMany(q => MetricName().Matches(q).Select(m => m.Value)).ToHashSet();
        Assert.True(wanted.Count >= 10, $"the queries name only {string.Join(", ", wanted)}");

        var (_, url) = await broker.CreateVirtualHostAsync("dashboard");
        var port = FreePorts.Take(1)[0];
        await using var worker = await WorkerProcess.StartAsync("dashboard", url, new Dictionary<string, string?>
        {
            ["Telemetry:PrometheusUrl"] = $"http://127.0.0.1:{port}/",
            ["Bridge:RestartBackoffMax"] = "00:00:00.500",
        });
        await using var results = await ResultCollector.StartAsync(url);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var patience = TimeSpan.FromMinutes(2);

        // Requests answered, and one that fails (no texts).
        await results.PublishAsync(ResultCollector.Request("dash-1", "A man is playing a guitar.", "The kitten chased a ball of yarn."));
        await results.PublishAsync(ResultCollector.Request("dash-bad"));
        Assert.True((await results.WaitForAsync("dash-1", patience)).IsCompleted);
        Assert.False((await results.WaitForAsync("dash-bad", patience)).IsCompleted);
        // The same text again, after its first answer: served from the cache.
        await results.PublishAsync(ResultCollector.Request("dash-2", "A man is playing a guitar."));
        Assert.True((await results.WaitForAsync("dash-2", patience)).IsCompleted);

        // A bridge process dies and is replaced.
        var (lane, pid) = worker.BridgePids.First();
        Signals.Send(pid, Signals.Kill);
        Assert.True(await WaitUntilAsync(() => Task.FromResult(worker.BridgePids.TryGetValue(lane, out var now) && now != pid), patience), "the bridge was not restarted");
        await results.PublishAsync(ResultCollector.Request("dash-3", "After the restart."));
        Assert.True((await results.WaitForAsync("dash-3", patience)).IsCompleted);

        // Gauges that depend on a poll (queue depth) or on measured capacity appear within their interval.
        var exported = new Dictionary<string, List<Dictionary<string, string>>>();
        await WaitUntilAsync(async () =>
        {
            exported = Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));
            return wanted.All(exported.ContainsKey);
        }, patience);

        var missing = wanted.Where(name => !exported.ContainsKey(name)).ToList();
        Assert.True(missing.Count == 0, $"not exported: {string.Join(", ", missing)}; exported akidb metrics: {string.Join(", ", exported.Keys.Where(k => k.StartsWith("akidb_", StringComparison.Ordinal)).Order())}");

        foreach (var query in queries)
        {
            var names = MetricName().Matches(query).Select(m => m.Value).ToList();
            // {label="value"} selectors match samples the worker exported.
            foreach (Match selector in Selector().Matches(query))
            {
                var (name, label, value) = (selector.Groups[1].Value, selector.Groups[2].Value, selector.Groups[3].Value);
                Assert.True(exported[name].Any(s => s.GetValueOrDefault(label) == value), $"{query}: no sample of {name} with {label}=\"{value}\"");
            }

            // by (...) labels exist on a metric of the query.
            foreach (var label in ByClause().Matches(query).SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries)).Where(l => l != "le"))
            {
                Assert.True(names.Any(n => exported[n].Any(s => s.ContainsKey(label))), $"{query}: no metric in it has the label '{label}'");
            }
        }

        output.WriteLine($"checked {queries.Count} queries naming {wanted.Count} metrics");
    }

    private static IEnumerable<JsonElement> Panels(JsonElement dashboard) =>
        dashboard.GetProperty("panels").EnumerateArray().SelectMany(p => p.TryGetProperty("panels", out var nested) ? nested.EnumerateArray().Prepend(p) : [p]);

    private static List<string> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Dashboard));
        return Panels(dashboard.RootElement)
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .ToList();
    }

    private static string KedaQuery() =>
        KedaQueryLine().Match(File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "kubernetes", "base", "scaled-object.yaml"))).Groups[1].Value.Trim();

    /// <summary>Prometheus text format: metric name -> the label sets of its samples.</summary>
    private static Dictionary<string, List<Dictionary<string, string>>> Parse(string text)
    {
        var metrics = new Dictionary<string, List<Dictionary<string, string>>>();
        foreach (var line in text.Split('\n').Where(l => l.Length > 0 && l[0] != '#'))
        {
            var match = SampleLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var labels = LabelPair().Matches(match.Groups[2].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
            if (!metrics.TryGetValue(match.Groups[1].Value, out var samples))
            {
                metrics[match.Groups[1].Value] = samples = [];
            }

            samples.Add(labels);
        }

        return metrics;
    }

    /// <summary>Polls a condition until it holds or the time is up; the caller asserts on what it found.</summary>
    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(250);
        }

        return true;
    }

    [GeneratedRegex(@"\bakidb_[a-z0-9_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\b(akidb_[a-z0-9_]+)\{(\w+)=""([^""]*)""\}")]
    private static partial Regex Selector();

    [GeneratedRegex(@"\bby\s*\(([^)]*)\)")]
    private static partial Regex ByClause();

    [GeneratedRegex(@"^\s*query:\s*(.+)$", RegexOptions.Multiline)]
    private static partial Regex KedaQueryLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(\w+)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
