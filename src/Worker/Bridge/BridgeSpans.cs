using System.Diagnostics;
using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>The spans of a bridge call, and the W3C traceparent that carries the call's context into the bridge.</summary>
internal static class BridgeSpans
{
    /// <summary>The span the bridge's own log lines and timings belong to.</summary>
    public static Activity? StartCall(ActivityContext parent, int pid, int lane)
    {
        var call = WorkerTelemetry.ActivitySource.StartActivity("bridge call", ActivityKind.Client, parent);
        call?.SetTag("akidb.bridge.pid", pid);
        call?.SetTag("akidb.lane", lane);
        return call;
    }

    /// <summary>
    /// The bridge reports how long decoding, inference and pooling took; they become child spans of the call, laid out
    /// in order and centred in it (what is left over at either end is the pipe and framing in each direction).
    /// </summary>
    public static void RecordBridgeTimings(Activity? call, BridgeTimings? timings, DateTimeOffset startedAt, TimeSpan elapsed)
    {
        if (call is null || timings is null)
        {
            return;
        }

        call.SetTag("akidb.bridge.total_ms", timings.TotalMs);
        var transport = Math.Max(0, elapsed.TotalMilliseconds - timings.TotalMs);
        var at = startedAt + TimeSpan.FromMilliseconds(transport / 2);
        foreach (var (name, ms) in new[] { ("bridge decode", timings.DecodeMs), ("bridge inference", timings.InferenceMs), ("bridge pooling", timings.PoolingMs) })
        {
            using var span = WorkerTelemetry.ActivitySource.StartActivity(name, ActivityKind.Internal, call.Context, startTime: at);
            at += TimeSpan.FromMilliseconds(ms);
            span?.SetEndTime(at.UtcDateTime);
        }
    }

    public static string? Traceparent(ActivityContext context) =>
        context == default ? null : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{(context.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? "01" : "00")}";
}
