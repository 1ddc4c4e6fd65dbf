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
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "MassTransit" or "AkiDb.Queue",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

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
}
