using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// Producer headers are untrusted. Each hostile MT-Response-Address, MT-Fault-Address, MT-MessageType or reply_to value
/// gets exactly one result, creates no exchange or queue, and 300 ordinary requests around them are all answered.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class HostileHeaderTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    /// <summary>(request id, headers, reply_to, whether the worker should log a dropped reply for it).</summary>
    private static IEnumerable<(string Id, Dictionary<string, object?>? Headers, string? ReplyTo, bool DroppedReply)> Hostile(Uri broker, string vhost)
    {
        var here = $"rabbitmq://{broker.Host}:{broker.Port}/{Uri.EscapeDataString(vhost)}";
        Dictionary<string, object?> Header(string name, string value) => new() { [name] = Encoding.UTF8.GetBytes(value) };
        yield return ("mt-amq-x", Header("MT-Response-Address", $"{here}/amq.x"), null, true);
        yield return ("mt-other-host", Header("MT-Response-Address", $"rabbitmq://evil.invalid:5672/{vhost}/replies?temporary=true"), null, true);
        yield return ("mt-other-vhost", Header("MT-Response-Address", $"rabbitmq://{broker.Host}:{broker.Port}/other/replies?temporary=true"), null, true);
        yield return ("mt-durable-new", Header("MT-Response-Address", $"{here}/made-up-queue"), null, true);
        yield return ("mt-temp-missing", Header("MT-Response-Address", $"{here}/made-up-temp?temporary=true"), null, true);
        yield return ("mt-result-exchange", Header("MT-Response-Address", $"{here}/embed-completed?temporary=true"), null, true);
        yield return ("mt-own-queue", Header("MT-Response-Address", $"{here}/embed-requested?temporary=true"), null, true);
        yield return ("mt-not-a-uri", Header("MT-Response-Address", "not a uri \u001b[2J\r\n"), null, true);
        yield return ("mt-fault-amq", Header("MT-Fault-Address", $"{here}/amq.y"), null, false);
        yield return ("mt-type-evil", Header("MT-MessageType", "urn:message:Evil:Thing"), null, false);
        yield return ("mt-type-completed", Header("MT-MessageType", "urn:message:AkiDb.Queue.Contracts:EmbedCompleted"), null, false);
        yield return ("rt-amq", null, "amq.x", true);
        yield return ("rt-own-queue", null, "embed-requested", true);
        yield return ("rt-missing", null, "no-such-queue", true);
        // Direct reply-to: the broker tells the worker nothing about a token (delivered or made up), so the reply is
        // sent and the broker drops it; nothing is declared or reached either way.
        yield return ("rt-bogus-direct", null, "amq.rabbitmq.reply-to.bogus", false);
        yield return ("rt-control", null, "bad name\r\n\u001b[2J", true);
        yield return ("rt-result-exchange", null, "embed-failed", true);
    }

    [Fact]
    public async Task Each_hostile_header_gets_exactly_one_result_creates_no_broker_object_and_300_others_are_all_answered()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("hostile");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var results = await ResultCollector.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);

        // A first request with a valid reply queue: every object the worker itself makes exists before the snapshot.
        await using var replies = await client.Connection.CreateChannelAsync();
        var replyQueue = (await replies.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        var published = (await replies.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await replies.QueueBindAsync(published, "embed-completed", "");
        await client.PublishAsync(ResultCollector.Request("warm-up", "warm up"), replyTo: replyQueue, correlationId: "warm-up-correlation");
        Assert.True((await results.WaitForAsync("warm-up", Patience)).IsCompleted);
        var warmReply = await WaitForMessageAsync(replies, replyQueue, Patience);
        var warmPublished = await WaitForMessageAsync(replies, published, Patience);
        Assert.Equal("warm-up-correlation", warmReply?.BasicProperties.CorrelationId);
        Assert.Equal("warm-up-correlation", warmPublished?.BasicProperties.CorrelationId);
        await replies.QueueUnbindAsync(published, "embed-completed", "");
        await replies.QueueDeleteAsync(published);
        var before = await client.BrokerObjectsAsync();

        var hostile = Hostile(new Uri(url), vhost).ToList();
        var good = Enumerable.Range(0, 300).Select(i => $"good-{i}").ToList();
        var next = 0;
        for (var i = 0; i < good.Count; i++)
        {
            await client.PublishAsync(ResultCollector.Request(good[i], $"an ordinary text, number {i}"));
            if (i % 15 == 7 && next < hostile.Count)
            {
                var (id, headers, replyTo, _) = hostile[next++];
                await client.PublishAsync(ResultCollector.Request(id, $"a text with hostile headers: {id}"), replyTo, correlationId: null, headers);
            }
        }

        for (; next < hostile.Count; next++)
        {
            var (id, headers, replyTo, _) = hostile[next];
            await client.PublishAsync(ResultCollector.Request(id, $"a text with hostile headers: {id}"), replyTo, correlationId: null, headers);
        }

        var expected = 1 + good.Count + hostile.Count;
        Assert.True(await results.WaitForAsync(expected, Patience), $"{results.Results.Count} of {expected} results");
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        var after = await client.BrokerObjectsAsync();

        var perId = results.Results.GroupBy(r => r.RequestId ?? "(none)").ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (id, _, _, _) in hostile)
        {
            Assert.True(perId.TryGetValue(id, out var answers) && answers.Count == 1, $"{id}: {perId.GetValueOrDefault(id)?.Count ?? 0} results");
            Assert.True(answers![0].IsCompleted, $"{id}: {answers[0].Code} {answers[0].Message}");
        }

        Assert.All(good, id => Assert.Single(perId[id]));
        Assert.Equal(expected, results.Results.Count);
        Assert.Equal(before, after);
        Assert.True(await client.DepthAsync("embed-requested_skipped") <= 0, "something went to embed-requested_skipped");
        Assert.Null(await WaitForMessageAsync(replies, replyQueue, TimeSpan.Zero));
        var dropped = worker.Logs.Entries.Count(e => e.Message.Contains("not sent (", StringComparison.Ordinal));
        Assert.Equal(hostile.Count(h => h.DroppedReply), dropped);
        Assert.DoesNotContain(worker.Logs.Entries, e => e.Message.Contains('\u001b', StringComparison.Ordinal));

        output.WriteLine($"{hostile.Count} hostile + {good.Count} ordinary requests: {results.Results.Count - 1} results, {dropped} replies dropped, broker objects {before.Count} before and {after.Count} after");
        ReliabilityReport.Record("hostile producer headers",
            $"{hostile.Count} requests with hostile `MT-Response-Address` (`amq.x`, another host, another vhost, a non-temporary queue, a missing temporary queue, a result exchange's name, the worker's own queue, not a URI), `MT-Fault-Address`, `MT-MessageType` (an unknown type, `EmbedCompleted`) or `reply_to` (`amq.x`, the input queue, a missing queue, a bogus direct reply-to token, control characters, a result exchange's name), interleaved with {good.Count} ordinary requests",
            ReliabilityReport.Count(hostile.Select(h => h.Id).Concat(good), results.Results),
            $"every one answered once; {dropped} replies dropped, each logged once (escaped) and counted (`akidb.replies.dropped`); the vhost's exchanges and queues identical before and after ({after.Count} objects); nothing in `embed-requested_skipped`",
            "./test.sh --filter FullyQualifiedName~Edges.HostileHeaderTests");
    }

    /// <summary>Waits for one message on the queue (polling basic.get); null when none came within the timeout.</summary>
    private static async Task<BasicGetResult?> WaitForMessageAsync(IChannel channel, string queue, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
            {
                return message;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(100);
        }
    }
}
