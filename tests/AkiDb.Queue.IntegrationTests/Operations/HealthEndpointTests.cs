using System.Net;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>Probes: ready means the broker is connected and a bridge is ready; live is separate.</summary>
[Collection(BrokerCollection.Name)]
public sealed class HealthEndpointTests(BrokerFixture broker)
{
    [Fact]
    public async Task Ready_follows_the_bridge_while_live_stays_up()
    {
        var port = FreePort();
        var (_, url) = await broker.CreateVirtualHostAsync("health");
        var gate = Path.Combine(Directory.CreateTempSubdirectory("akidb-health-gate-").FullName, "open");
        await File.WriteAllTextAsync(gate, "");
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Health:Urls"] = $"http://127.0.0.1:{port}/",
            ["Bridge:Processes"] = "1",
            ["Bridge:EntryPoint"] = RepoPaths.FaultBridge,
            ["Bridge:Environment:AKIDB_BRIDGE_GATE_FILE"] = gate,
            ["Bridge:RestartBackoffMax"] = "00:00:00.500",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var ready = await http.GetAsync("health/ready");
        using (var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            var checks = body.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
            Assert.Contains("inference", checks);
            Assert.Contains("masstransit-bus", checks);
        }

        // The bridge dies and cannot come back: not ready, still live.
        File.Delete(gate);
        Signals.Send(worker.BridgeLanes[0].ProcessId!.Value, Signals.Kill);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        HttpStatusCode status;
        do
        {
            status = (await http.GetAsync("health/ready")).StatusCode;
        }
        while (status == HttpStatusCode.OK && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("health/other")).StatusCode);
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
