using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// After a burst of long texts the bridges give back what the burst left allocated (ONNX Runtime's arena, glibc's heap)
/// as soon as their lanes go idle, and say how much: the pong's <c>released_bytes</c>, logged by the worker. The real
/// broker, bridge and model; the wait is for the log line, never a sleep.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class MemoryReleaseTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task After_a_burst_of_long_texts_every_request_is_answered_and_the_bridges_report_the_memory_they_gave_back()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("memory-release");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);

        // Well above Bridge:ReleaseMemoryAboveTokens (1024 padded tokens): 8 texts of about 200 tokens per request.
        const int requests = 6;
        for (var r = 0; r < requests; r++)
        {
            var texts = Enumerable.Range(0, 8).Select(i =>
                $"Burst {r}.{i}: " + string.Join(' ', Enumerable.Repeat($"The harbour committee {i} postponed the vote on the budget for the lighthouse and the pier until next month.", 8))).ToArray();
            await results.PublishAsync(ResultCollector.Request($"burst-{r}", texts));
        }

        Assert.True(await results.WaitForAsync(requests, Patience), $"{results.Results.Count} of {requests} results arrived");
        Assert.All(results.Results, r => Assert.True(r.IsCompleted, r.Message));
        Assert.Equal(requests, results.Results.Select(r => r.RequestId).Distinct().Count()); // messages in = results out, once each

        using var cts = new CancellationTokenSource(Patience);
        while (!worker.LogContains("gave back"))
        {
            Assert.False(cts.IsCancellationRequested, "no bridge reported giving memory back after the burst");
            await Task.Delay(50);
        }

        var line = worker.Logs.Entries.First(e => e.Message.Contains("gave back", StringComparison.Ordinal)).Message;
        output.WriteLine(line);
        var mib = double.Parse(line.Split("gave back ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(mib > 0, line);
    }
}
