using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>Horizontal scaling: several worker processes on one queue share the work.</summary>
[Collection(BrokerCollection.Name)]
public sealed class ScalingTests(BrokerFixture broker, ITestOutputHelper output)
{
    [Fact]
    public async Task Two_worker_processes_on_one_queue_both_consume_and_answer_every_message_exactly_once()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("scale");
        using var management = new ManagementClient(broker.ManagementUrl);
        await using var results = await ResultCollector.StartAsync(url);
        await using var first = await WorkerProcess.StartAsync("scale-a", url);
        await using var second = await WorkerProcess.StartAsync("scale-b", url);

        var queue = await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Consumers == 2, TimeSpan.FromMinutes(1));
        Assert.Equal(2, queue?.Consumers);

        var ids = await Reliability.BridgeFaultTests.PublishLoadAsync(results, "scale", 300);
        Assert.True(await results.WaitForAsync(300, TimeSpan.FromMinutes(4)), $"{results.Results.Count} of 300 results");

        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(0, outcome.Duplicates);
        Assert.Equal(300, outcome.Completed);
        var byWorker = results.Results.GroupBy(r => r.WorkerProcessId).ToDictionary(g => g.Key ?? 0, g => g.Count());
        output.WriteLine(string.Join(", ", byWorker.Select(kv => $"pid {kv.Key}: {kv.Value}")));
        Assert.Equal(new[] { first.Pid, second.Pid }.Order(), byWorker.Keys.Order());
    }
}
