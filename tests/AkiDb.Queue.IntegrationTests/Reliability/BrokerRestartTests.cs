using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>The broker goes away mid-load and comes back on the same data: the worker reconnects and nothing is lost.</summary>
public sealed class BrokerRestartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Stopping_and_restarting_the_broker_mid_load_loses_no_message()
    {
        // A broker of this test's own: it is stopped and started again, which a shared broker cannot be.
        await using var broker = await PrivateRabbitMq.StartNewAsync("restart");
        await using var results = await ResultCollector.StartAsync(broker.AmqpUrl, durableQueue: "test-results");
        await using var worker = await WorkerHost.StartAsync(broker.AmqpUrl);

        var ids = await BridgeFaultTests.PublishLoadAsync(results, "restart", 400);
        Assert.True(await results.WaitForAsync(60, Patience));

        var down = System.Diagnostics.Stopwatch.StartNew();
        await broker.StopAsync();
        var stoppedAfter = down.Elapsed;
        await broker.StartAsync();
        var upAfter = down.Elapsed;

        Assert.True(await results.WaitForAsync(ids.Count, Patience), $"{results.Results.Count} of {ids.Count} results after the restart");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count, outcome.Completed);

        ReliabilityReport.Record("broker restart", "private broker stopped (`rabbitmqctl shutdown`) after 60 of 400 results and started again on the same data directory", outcome,
            $"broker down {upAfter.TotalSeconds:F0} s (stop {stoppedAfter.TotalSeconds:F0} s + start {(upAfter - stoppedAfter).TotalSeconds:F0} s); the worker reconnected by itself",
            "./test.sh --filter FullyQualifiedName~Stopping_and_restarting_the_broker");
        output.WriteLine(outcome.ToString());
    }
}
