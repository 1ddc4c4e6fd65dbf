using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>Worker processes, as deployed: SIGTERM drains and hands over; a killed worker leaves no orphan bridge.</summary>
[Collection(BrokerCollection.Name)]
public sealed class ShutdownTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task A_worker_given_SIGTERM_mid_load_drains_exits_0_and_a_second_worker_answers_the_rest()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("handover");
        using var management = new ManagementClient(broker.ManagementUrl);
        await using var results = await ResultCollector.StartAsync(url);

        // The whole load waits in the queue before the first worker consumes, so how much it takes before its SIGTERM
        // does not depend on how fast this test can publish: a worker that has run once has declared the queue.
        await (await WorkerProcess.StartAsync("handover-declare", url)).DisposeAsync();
        var ids = await BridgeFaultTests.PublishLoadAsync(results, "handover", 400);
        await using var first = await WorkerProcess.StartAsync("handover-a", url, new Dictionary<string, string?> { ["RabbitMq:PrefetchCount"] = "32" });
        Assert.True(await results.WaitForAsync(40, Patience));
        first.Signal(Signals.Term);
        var exitCode = await first.Exited.WaitAsync(Patience);

        Assert.Equal(0, exitCode);
        // Every message is either answered by the first worker or back in the queue: none in between, none lost. Results
        // the first worker published just before it exited may still be on their way to the collector, so the count
        // is read live on every poll rather than once at exit.
        var left = await management.WaitForQueueAsync(vhost, "embed-requested",
            q => q.Consumers == 0 && q.Unacknowledged == 0 && q.Messages == ids.Count - results.Results.Count, Patience);
        var answeredByFirst = results.Results.Count;
        Assert.Equal(ids.Count - answeredByFirst, left?.Messages);
        Assert.True(left!.Messages > 0, "nothing was left in the queue for the second worker");
        Assert.All(first.BridgePids.Values, pid => Assert.False(Signals.IsAlive(pid), "the first worker's bridge outlived it"));

        await using var second = await WorkerProcess.StartAsync("handover-b", url);
        Assert.True(await results.WaitForAsync(ids.Count, Patience), $"{results.Results.Count} of {ids.Count} results");
        var outcome = ReliabilityReport.Count(ids, results.Results);

        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count, outcome.Completed);
        ReliabilityReport.Record("worker SIGTERM and handover", $"400 messages queued; worker A (prefetch 32) gets SIGTERM after 40 results; worker B starts after A exits", outcome,
            $"A drained its in-flight messages ({answeredByFirst} answered in all), exited 0 and left {left.Messages} in the queue; B answered the rest",
            "./test.sh --filter FullyQualifiedName~drains_exits_0");
        output.WriteLine($"{outcome}; first worker answered {answeredByFirst}, left {left.Messages}");
    }

    [Fact]
    public async Task A_worker_killed_with_kill_9_leaves_no_bridge_behind_and_its_messages_go_back_to_the_queue()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("orphan");
        using var management = new ManagementClient(broker.ManagementUrl);
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerProcess.StartAsync("orphan", url);
        var bridges = worker.BridgePids.Values.ToList();
        Assert.NotEmpty(bridges);

        var ids = await BridgeFaultTests.PublishLoadAsync(results, "orphan", 200);
        Assert.True(await results.WaitForAsync(20, Patience));
        worker.Signal(Signals.Kill);
        await worker.Exited.WaitAsync(Patience);

        // EOF on its stdin is each bridge's signal to exit.
        var deadline = DateTime.UtcNow + Patience;
        while (bridges.Any(Signals.IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.All(bridges, bridge => Assert.False(Signals.IsAlive(bridge), $"bridge {bridge} is an orphan"));
        // Whatever the killed worker had not answered is back in the queue. Some answered ones may be there too: their
        // result went out but the acknowledgement died with the process (a duplicate later, never a loss).
        var answered = results.Results.Select(r => r.RequestId).Distinct().Count();
        var queue = await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Consumers == 0 && q.Unacknowledged == 0 && q.Messages >= ids.Count - answered, Patience);
        Assert.NotNull(queue);
        Assert.Equal(0, queue.Unacknowledged);
        Assert.True(queue.Messages >= ids.Count - answered, $"{queue.Messages} in the queue, {ids.Count - answered} unanswered");
    }
}
