using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The bridge pool starts lane 0 alone and the other lanes once it is up, so the first bridge loads its model with a
/// core to itself and the worker takes messages sooner; every lane still ends up serving. Read from the order of the
/// worker's own log: the real broker, bridges and model.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class BridgePoolStartTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Lane_0s_bridge_is_up_before_the_next_bridge_starts_and_then_both_lanes_serve()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("pool-start");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Bridge:Processes"] = "2" });

        var lines = worker.Logs.Entries.Select(e => e.Message).ToList();
        var lane0Ready = lines.FindIndex(l => l.StartsWith("Bridge lane 0 ready", StringComparison.Ordinal));
        // Everything a bridge process writes is forwarded as "[bridge <lane> pid <pid>] ...", from its first line on.
        var lane1First = lines.FindIndex(l => l.StartsWith("[bridge 1 pid", StringComparison.Ordinal));
        output.WriteLine($"lane 0 ready at line {lane0Ready}, lane 1's bridge first heard at line {lane1First}");
        Assert.True(lane0Ready >= 0, "lane 0 never reported ready");
        Assert.True(lane1First >= 0, "lane 1's bridge never wrote a line");
        Assert.True(lane0Ready < lane1First, "lane 1's bridge was running before lane 0's was up");

        Assert.All(worker.BridgeLanes, lane => Assert.True(lane.IsReady, $"lane {lane.Id} is not ready"));
        Assert.Contains(worker.Logs.Entries, e => e.Message.StartsWith("Python bridge pool ready: 2/2 processes ready", StringComparison.Ordinal));

        const int requests = 40;
        for (var r = 0; r < requests; r++)
        {
            await results.PublishAsync(ResultCollector.Request($"pool-{r}", [$"Text number {r} for the bridge pool."]));
        }

        Assert.True(await results.WaitForAsync(requests, Patience), $"{results.Results.Count} of {requests} results arrived");
        Assert.All(results.Results, r => Assert.True(r.IsCompleted, r.Message));
        Assert.Equal(requests, results.Results.Select(r => r.RequestId).Distinct().Count()); // messages in = results out, once each
    }
}
