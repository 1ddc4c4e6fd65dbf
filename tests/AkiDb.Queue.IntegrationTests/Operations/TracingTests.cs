using System.Collections.Concurrent;
using System.Diagnostics;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>One request, one trace: from the producer's traceparent through the consumer, the batch, the bridge process and back on the result.</summary>
[Collection(BrokerCollection.Name)]
public sealed class TracingTests(BrokerFixture broker)
{
    [Fact]
    public async Task A_request_can_be_followed_from_publish_through_the_bridge_to_its_result()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = ListenTo(spans);

        var (_, url) = await broker.CreateVirtualHostAsync("trace");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Bridge:LogLevel"] = "debug" });

        // A producer in any language starts the trace by sending its W3C traceparent in MT-Activity-Id.
        var traceId = ActivityTraceId.CreateRandom();
        var traceparent = $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01";
        await results.PublishAsync(System.Text.Encoding.UTF8.GetBytes(ResultCollector.Request("traced", "follow me")),
            headers: new Dictionary<string, object?> { ["MT-Activity-Id"] = traceparent });
        var result = await results.WaitForAsync("traced", TimeSpan.FromMinutes(2));

        Assert.True(result.IsCompleted);
        Assert.Equal(traceId.ToString(), ActivityContext.Parse(result.Body.GetProperty("traceParent").GetString()!, null).TraceId.ToString());

        // The consume span ends after the result is published (MassTransit acknowledges, then stops it): wait for it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!spans.Any(s => s.TraceId == traceId && s.Source.Name == "MassTransit" && s.Kind == ActivityKind.Consumer) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var inTrace = spans.Where(s => s.TraceId == traceId).ToList();
        var names = inTrace.Select(s => s.OperationName).ToHashSet();
        Assert.Contains("embed tokenize", names);
        Assert.Contains("embed batch", names);
        Assert.Contains("bridge call", names);
        Assert.Contains("bridge inference", names);
        Assert.Contains(inTrace, s => s.Source.Name == "MassTransit" && s.Kind == ActivityKind.Consumer);
        Assert.Contains(inTrace, s => s.Source.Name == "MassTransit" && s.Kind == ActivityKind.Producer && s.DisplayName.Contains("embed-completed", StringComparison.Ordinal));

        // The bridge process's own log line for this batch carries the trace too.
        var call = inTrace.Single(s => s.OperationName == "bridge call");
        Assert.Equal(call.SpanId, inTrace.Single(s => s.OperationName == "bridge inference").ParentSpanId);
        Assert.Contains(worker.Logs.Entries, e => e.Message.Contains("embedded", StringComparison.Ordinal) && e.TraceId == traceId.ToString());
    }

    [Fact]
    public async Task A_producer_that_sends_the_standard_traceparent_header_is_linked_from_the_workers_trace()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = ListenTo(spans);

        var (_, url) = await broker.CreateVirtualHostAsync("trace-link");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);

        // What an OpenTelemetry-instrumented producer (pika, amqplib, ...) sends: traceparent, not MT-Activity-Id.
        var producerTrace = ActivityTraceId.CreateRandom();
        var producerSpan = ActivitySpanId.CreateRandom();
        await results.PublishAsync(System.Text.Encoding.UTF8.GetBytes(ResultCollector.Request("linked", "link me")),
            headers: new Dictionary<string, object?> { ["traceparent"] = $"00-{producerTrace}-{producerSpan}-01" });
        var result = await results.WaitForAsync("linked", TimeSpan.FromMinutes(2));
        Assert.True(result.IsCompleted);
        var workerTrace = ActivityContext.Parse(result.Body.GetProperty("traceParent").GetString()!, null).TraceId;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        Activity? linked;
        while ((linked = spans.FirstOrDefault(s => s.TraceId == workerTrace && s.Links.Any())) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.NotNull(linked);
        var link = Assert.Single(linked.Links);
        Assert.Equal(producerTrace, link.Context.TraceId);
        Assert.Equal(producerSpan, link.Context.SpanId);
        Assert.Equal(producerTrace.ToString(), linked.GetTagItem("akidb.producer.trace_id"));

        // Trace headers that are not one (wrong type, garbage, far too long) are ignored, never a failure.
        var odd = new object?[] { 12345, "not-a-traceparent", new string('0', 10_000), new byte[] { 0xff, 0xfe } };
        for (var i = 0; i < odd.Length; i++)
        {
            await results.PublishAsync(System.Text.Encoding.UTF8.GetBytes(ResultCollector.Request($"odd-{i}", "still answered")),
                headers: new Dictionary<string, object?> { ["traceparent"] = odd[i], ["tracestate"] = odd[i] });
        }

        for (var i = 0; i < odd.Length; i++)
        {
            Assert.True((await results.WaitForAsync($"odd-{i}", TimeSpan.FromMinutes(2))).IsCompleted);
        }
    }

    /// <summary>Records every finished span of MassTransit and the worker, sampled in full.</summary>
    private static ActivityListener ListenTo(ConcurrentQueue<Activity> spans)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "MassTransit" or "AkiDb.Queue",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
