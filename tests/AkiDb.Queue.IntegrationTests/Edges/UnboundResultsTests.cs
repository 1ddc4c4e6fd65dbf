using AkiDb.Queue.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// Results published while no queue is bound to embed-completed/embed-failed are kept in the parking queue, and a
/// full parking queue makes the broker refuse the result: the request then stays in its queue, nothing is lost.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class UnboundResultsTests(BrokerFixture broker, ITestOutputHelper output)
{
    private const string Parking = "embed-results-unrouted";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Results_published_while_nothing_is_bound_are_all_recovered_from_the_parking_queue_later()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("unbound");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        var ids = Enumerable.Range(0, 21).Select(i => $"unbound-{i}").ToList();
        foreach (var id in ids.Take(18))
        {
            await client.PublishAsync(ResultCollector.Request(id, $"text number {id}"));
        }

        await client.PublishAsync("""{"requestId":"unbound-18","texts":[]}""");
        await client.PublishAsync("""{"requestId":"unbound-19","texts":["x"],"model":"no-such-model"}""");
        await client.PublishAsync("""{"requestId":"unbound-20","texts":[1, 2]}""");

        var parked = await client.WaitForDepthAsync(Parking, d => d >= ids.Count, Patience);
        Assert.Equal(ids.Count, parked);

        // A consumer that starts late: it drains what was parked, then binds for what comes next.
        var recovered = await client.DrainAsync(Parking);
        await using var results = await ResultCollector.StartAsync(url);
        await client.PublishAsync(ResultCollector.Request("bound-after", "now someone listens"));
        var after = await results.WaitForAsync("bound-after", Patience);

        output.WriteLine($"parked {parked}, recovered {recovered.Count}");
        Assert.Equal(ids.Order(), recovered.Select(r => r.RequestId!).Order());
        Assert.Equal(18, recovered.Count(r => r.Exchange == "embed-completed"));
        Assert.Equal(3, recovered.Count(r => r.Exchange == "embed-failed"));
        Assert.All(recovered, r => Assert.Equal(r.RequestId, r.CorrelationId));
        Assert.True(after.IsCompleted, after.Message);
        Assert.Equal(0, await client.WaitForDepthAsync(Parking, d => d == 0, Patience));
        Assert.Contains(worker.Logs.Entries, e => e.Message.Contains("kept in queue embed-results-unrouted", StringComparison.Ordinal));
        ReliabilityReport.Record("results with no queue bound",
            "21 requests (18 good, 2 invalid, 1 malformed) while nothing is bound to `embed-completed`/`embed-failed`; a consumer drains the parking queue later, then binds",
            new ReliabilityReport.Outcome(ids.Count, 18, 3, ids.Count - recovered.Select(r => r.RequestId).Distinct().Count(), recovered.Count - recovered.Select(r => r.RequestId).Distinct().Count()),
            $"all {parked} parked in `{Parking}` (header `x-akidb-exchange` names the exchange), all recovered; the next result went to the new binding",
            "./test.sh --filter FullyQualifiedName~Edges.UnboundResultsTests");
    }

    [Fact]
    public async Task A_result_the_caller_got_as_its_reply_is_not_parked_while_one_without_a_reply_is()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("unbound-rpc");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        await using var replies = await client.Connection.CreateChannelAsync();
        var replyQueue = (await replies.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;

        // Nothing is bound to embed-completed or embed-failed: RPC callers only, as with examples/python/rpc.py.
        string[] rpc = ["rpc-0", "rpc-1", "rpc-2"];
        foreach (var id in rpc)
        {
            await client.PublishAsync(ResultCollector.Request(id, $"text of {id}"), replyTo: replyQueue, correlationId: id);
        }

        await client.PublishAsync("""{"requestId":"rpc-bad","texts":["x"],"model":"no-such-model"}""", replyTo: replyQueue, correlationId: "rpc-bad");
        await client.PublishAsync(ResultCollector.Request("plain", "nobody asked for a reply"));

        var got = new List<EdgeClient.Delivered>();
        var parked = new List<EdgeClient.Delivered>();
        var deadline = DateTime.UtcNow + Patience;
        bool Done() => got.Count >= rpc.Length + 1 && parked.Exists(p => p.RequestId == "plain");
        while (!Done() && DateTime.UtcNow < deadline)
        {
            got.AddRange(await client.DrainAsync(replyQueue));
            parked.AddRange(await client.DrainAsync(Parking));
            if (!Done())
            {
                await Task.Delay(100); // polls the queues; the condition, not the interval, ends the wait
            }
        }

        // Every request acknowledged: each result's publish to its exchange (and any parking) is over.
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        parked.AddRange(await client.DrainAsync(Parking));
        output.WriteLine($"replies: {string.Join(", ", got.Select(g => g.RequestId))}; parked: {string.Join(", ", parked.Select(p => p.RequestId))}");
        Assert.Equal([.. rpc, "rpc-bad"], got.Select(g => g.RequestId!).Order());
        Assert.All(got, g => Assert.Equal(g.RequestId, g.CorrelationId));
        Assert.Equal("unknown_model", got.Single(g => g.RequestId == "rpc-bad").Body.GetProperty("code").GetString());
        Assert.Equal(["plain"], parked.Select(p => p.RequestId!));
    }

    [Fact]
    public async Task A_direct_reply_to_caller_gets_its_replies_and_nothing_of_its_is_parked_or_logged_as_lost()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("unbound-direct");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);

        // Direct reply-to: consume amq.rabbitmq.reply-to (auto-ack) and publish on that same channel.
        await using var channel = await client.Connection.CreateChannelAsync();
        var replies = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            replies.Enqueue(delivery.BasicProperties.CorrelationId);
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync("amq.rabbitmq.reply-to", autoAck: true, consumer);
        string[] ids = ["direct-0", "direct-1", "direct-2"];
        foreach (var id in ids)
        {
            var properties = new BasicProperties { ContentType = "application/json", ReplyTo = "amq.rabbitmq.reply-to", CorrelationId = id };
            await channel.BasicPublishAsync("", "embed-requested", mandatory: false, properties, System.Text.Encoding.UTF8.GetBytes(ResultCollector.Request(id, $"text of {id}")));
        }

        await client.PublishAsync(ResultCollector.Request("plain", "nobody asked for a reply"));
        var parked = new List<EdgeClient.Delivered>();
        var deadline = DateTime.UtcNow + Patience;
        bool Done() => replies.Count >= ids.Length && parked.Exists(p => p.RequestId == "plain");
        while (!Done() && DateTime.UtcNow < deadline)
        {
            parked.AddRange(await client.DrainAsync(Parking));
            if (!Done())
            {
                await Task.Delay(100); // polls the parking queue; the condition, not the interval, ends the wait
            }
        }

        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        parked.AddRange(await client.DrainAsync(Parking));
        output.WriteLine($"replies: {string.Join(", ", replies)}; parked: {string.Join(", ", parked.Select(p => p.RequestId))}");
        Assert.Equal(ids, replies.Order());
        Assert.Equal(["plain"], parked.Select(p => p.RequestId!));
        Assert.DoesNotContain(worker.Logs.Entries, e => e.Message.Contains("not sent (", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_result_whose_caller_has_gone_for_good_is_not_parked_while_one_for_a_missing_named_queue_is()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("unbound-gone");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);

        // A caller that has gone, as an interrupted `akidb-queue embed` has: its server-named queue died with its connection.
        string goneQueue;
        await using (var caller = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost))
        await using (var channel = await caller.Connection.CreateChannelAsync())
        {
            goneQueue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        }

        Assert.StartsWith("amq.gen-", goneQueue);
        string[] gone = ["gone-0", "gone-1", "gone-2"];
        foreach (var id in gone)
        {
            await client.PublishAsync(ResultCollector.Request(id, $"text of {id}"), replyTo: goneQueue, correlationId: id);
        }

        // A named reply queue that does not exist may still be declared and read by someone; so may the results of a request with no reply.
        await client.PublishAsync(ResultCollector.Request("named-missing", "a named reply queue nobody declared"), replyTo: "replies-not-declared", correlationId: "named-missing");
        await client.PublishAsync(ResultCollector.Request("plain", "nobody asked for a reply"));

        var parked = new List<EdgeClient.Delivered>();
        var deadline = DateTime.UtcNow + Patience;
        int CallerGoneLogged() => worker.Logs.Entries.Count(e => e.Message.Contains("its caller has gone", StringComparison.Ordinal));
        bool Done() => parked.Count >= 2 && CallerGoneLogged() >= gone.Length;
        while (!Done() && DateTime.UtcNow < deadline)
        {
            parked.AddRange(await client.DrainAsync(Parking));
            if (!Done())
            {
                await Task.Delay(100); // polls the parking queue and the log; the condition, not the interval, ends the wait
            }
        }

        // Every request acknowledged: each result's reply, exchange publish and any parking are over.
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        parked.AddRange(await client.DrainAsync(Parking));
        var callerGone = CallerGoneLogged();
        output.WriteLine($"parked: {string.Join(", ", parked.Select(p => p.RequestId))}; caller gone logged {callerGone} times");
        Assert.Equal(["named-missing", "plain"], parked.Select(p => p.RequestId!).Order());
        Assert.Equal(gone.Length, callerGone);

        // Not parked is not dropped: the result still goes to its exchange, and a pipeline bound there gets it.
        await using var results = await ResultCollector.StartAsync(url);
        await client.PublishAsync(ResultCollector.Request("gone-bound", "a pipeline listens now"), replyTo: goneQueue, correlationId: "gone-bound");
        var bound = await results.WaitForAsync("gone-bound", Patience);
        Assert.True(bound.IsCompleted, bound.Message);
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        Assert.Empty(await client.DrainAsync(Parking));
    }

    [Fact]
    public async Task A_full_parking_queue_makes_the_broker_refuse_the_result_and_the_request_stays_in_its_queue()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("parkfull");
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Results:ParkingMaxLength"] = "2" });
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        var ids = Enumerable.Range(0, 5).Select(i => $"parkfull-{i}").ToList();
        foreach (var id in ids)
        {
            await client.PublishAsync(ResultCollector.Request(id, $"text {id}"));
        }

        // Two results fill the parking queue; the broker refuses the other three (a negative confirm). Their publishes
        // are retried while the requests stay unacknowledged: in their queue, not acked, not lost.
        Assert.Equal(2, await client.WaitForDepthAsync(Parking, d => d >= 2, Patience));
        var refusals = await WaitForLogAsync(worker, "The broker refused a result", 3, Patience);
        // The management API's counts refresh on the broker's statistics interval, so a single read right after the
        // refusals can still count the two parked requests (it did once on a clean clone at load 4): wait for them to go.
        // A worker that acknowledged a refused request would go below 3, and its result would be missing from the drain.
        var waiting = await client.WaitForDepthAsync("embed-requested", d => d <= 3, Patience);
        Assert.True(refusals >= 3, $"refusals logged: {refusals}");
        Assert.Equal(3, waiting);
        Assert.Equal(2, await client.DepthAsync(Parking));

        // A consumer drains the parking queue; the refused results get in on their next tries, two at a time.
        var parked = (await client.DrainAsync(Parking)).ToList();
        var deadline = DateTime.UtcNow + Patience;
        while (parked.Count < ids.Count && DateTime.UtcNow < deadline)
        {
            await client.WaitForDepthAsync(Parking, d => d >= 1, Patience);
            parked.AddRange(await client.DrainAsync(Parking));
        }
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));

        output.WriteLine($"parked {parked.Count}, refusals {refusals}");
        Assert.Equal(ids.Order(), parked.Select(p => p.RequestId!).Order());
        ReliabilityReport.Record("parking queue full", "5 requests, nothing bound, `Results:ParkingMaxLength=2` (`reject-publish`)",
            ReliabilityReport.Count(ids, parked.Select(p => new ResultCollector.Result(p.Exchange!, p.Body, null))),
            $"2 parked; the broker nacked the other 3 results ({refusals} refusals logged, `akidb.results.refused`); their requests stayed unacknowledged in `embed-requested` ({waiting} messages) until the parking queue was drained, then parked",
            "./test.sh --filter FullyQualifiedName~Edges.UnboundResultsTests");
    }

    private static async Task<int> WaitForLogAsync(WorkerHost worker, string text, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        int Seen() => worker.Logs.Entries.Count(e => e.Message.Contains(text, StringComparison.Ordinal));
        while (Seen() < count && DateTime.UtcNow < deadline)
        {
            // Polls what the worker has logged; the condition, not the interval, ends the wait.
            await Task.Delay(100);
        }

        return Seen();
    }
}
