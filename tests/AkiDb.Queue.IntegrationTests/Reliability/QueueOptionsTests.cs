using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

[Collection(BrokerCollection.Name)]
public sealed class QueueOptionsTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_input_queue_can_be_a_quorum_queue_with_a_delivery_limit()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("quorum");
        using var management = new ManagementClient(broker.ManagementUrl);
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["RabbitMq:QueueType"] = "quorum",
            ["RabbitMq:DeliveryLimit"] = "4",
        });

        var queue = await management.GetQueueAsync(vhost, "embed-requested");
        await results.PublishAsync(ResultCollector.Request("q1", "quorum queues replicate messages"));

        Assert.Equal("quorum", queue?.Type);
        Assert.Contains("\"x-delivery-limit\": 4", queue!.Arguments.Replace(":4", ": 4", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True((await results.WaitForAsync("q1", Patience)).IsCompleted);
    }

    [Fact]
    public async Task Texts_over_the_token_limit_are_truncated_and_flagged_or_rejected_when_configured()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("limits");
        await using var results = await ResultCollector.StartAsync(url);
        var longText = string.Join(' ', Enumerable.Repeat("the quick brown fox jumps over the lazy dog", 60));

        await using (var truncating = await WorkerHost.StartAsync(url))
        {
            await results.PublishAsync(ResultCollector.Request("long", "short text", longText));
            var truncated = await results.WaitForAsync("long", Patience);
            Assert.True(truncated.IsCompleted);
            Assert.Equal([false, true], truncated.Body.GetProperty("truncated").EnumerateArray().Select(b => b.GetBoolean()));
            Assert.Equal(256, truncated.Body.GetProperty("tokenCounts")[1].GetInt32());
        }

        await using var rejecting = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Limits:RejectOverlongTexts"] = "true" });
        await results.PublishAsync(ResultCollector.Request("long-rejected", "short text", longText));
        var rejected = await results.WaitForAsync("long-rejected", Patience);
        Assert.Equal("too_many_tokens", rejected.Code);
        Assert.Equal(1, rejected.TextIndex);
    }
}
