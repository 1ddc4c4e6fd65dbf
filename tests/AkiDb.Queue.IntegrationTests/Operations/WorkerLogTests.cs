using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>What the worker's own console log says: when each line happened, and where its metrics are.</summary>
[Collection(BrokerCollection.Name)]
public sealed partial class WorkerLogTests(BrokerFixture broker)
{
    [Fact]
    public async Task Worker_log_lines_carry_a_UTC_timestamp_and_the_metrics_URL_is_logged_when_served()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("logs");
        var port = FreePort();
        await using var worker = await WorkerProcess.StartAsync("logs", url, new Dictionary<string, string?>
        {
            // The process's own defaults, not the single-line override the test kit sets for other tests.
            ["Logging:Console:FormatterName"] = null,
            ["Logging:Console:FormatterOptions:SingleLine"] = null,
            ["Telemetry:PrometheusUrl"] = $"http://127.0.0.1:{port}/",
        });

        var ready = worker.Lines.First(l => l.Contains("worker ready", StringComparison.Ordinal));
        Assert.Matches(Timestamped(), ready);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!worker.LogContains("Serving Prometheus metrics at") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains(worker.Lines, l => l.Contains($"Serving Prometheus metrics at http://127.0.0.1:{port}/metrics", StringComparison.Ordinal));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: .*worker ready")]
    private static partial Regex Timestamped();
}
