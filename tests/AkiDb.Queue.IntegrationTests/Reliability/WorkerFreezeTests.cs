using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>
/// The worker itself stops running for a while (SIGSTOP, a paused container, a suspended VM) while its bridge goes on.
/// A deadline that passed only because the worker was frozen is not the bridge's fault.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class WorkerFreezeTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    // Longer than any batch deadline below, so every deadline running at the freeze passes on the wall clock.
    private static readonly TimeSpan Freeze = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task A_worker_frozen_past_its_deadlines_and_resumed_keeps_its_bridge_and_answers_every_message()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("freeze");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerProcess.StartAsync("freeze", url, new Dictionary<string, string?>
        {
            ["Bridge:Processes"] = "1",
            ["Bridge:DeadlineBase"] = "00:00:03",
            ["Bridge:DeadlinePerText"] = "00:00:00.100",
            ["Bridge:MaxDeadline"] = "00:00:05",
            ["Bridge:PingInterval"] = "00:00:00.500",
            ["Bridge:PingTimeout"] = "00:00:03",
        });
        var bridge = worker.BridgePids[0];
        var ids = await BridgeFaultTests.PublishLoadAsync(results, "freeze", 200);
        Assert.True(await results.WaitForAsync(20, Patience));

        worker.Signal(Signals.Stop);
        // The fault itself, not a wait for something: the worker stays frozen this long while its bridge runs on.
        await Task.Delay(Freeze);
        worker.Signal(Signals.Cont);

        Assert.True(await results.WaitForAsync(ids.Count, Patience), $"{results.Results.Count} of {ids.Count} results");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count, outcome.Completed);
        Assert.True(Signals.IsAlive(bridge), "the bridge was killed for the worker's freeze");
        Assert.Equal(bridge, worker.BridgePids[0]);
        Assert.False(worker.LogContains("deadline and was killed"), "a deadline was charged to the bridge");
        Assert.False(worker.LogContains("failed its idle health check"), "a ping was charged to the bridge");

        ReliabilityReport.Record("worker frozen", $"`SIGSTOP` of the worker (not its bridge) for {Freeze.TotalSeconds:F0} s mid-load (200 messages), batch deadline 3 s + 100 ms/text, at most 5 s", outcome,
            "no deadline charged to the bridge (deadlines run on a clock that stands still while the worker is frozen): same bridge, no restart",
            "./test.sh --filter FullyQualifiedName~A_worker_frozen_past_its_deadlines");
        output.WriteLine(outcome.ToString());
    }
}
