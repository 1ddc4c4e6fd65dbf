using System.Diagnostics;
using MassTransit;

namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>
/// MassTransit continues a producer's trace only from its own header, <c>MT-Activity-Id</c>. Producers instrumented
/// with OpenTelemetry in other languages send the W3C <c>traceparent</c> header instead, which MassTransit's RabbitMQ
/// transport does not read, and by the time a consumer runs its span has already started as a new trace. Linking the
/// consume span to the producer's span is what OpenTelemetry's messaging conventions prescribe for that case: the
/// trace viewer then leads from the producer's span to the worker's trace.
/// </summary>
internal static class ProducerTraceLink
{
    public const string TraceparentHeader = "traceparent";
    public const string TracestateHeader = "tracestate";

    // A W3C traceparent is 55 characters; anything much longer is not one and is not parsed.
    private const int MaxHeaderLength = 256;

    /// <summary>Links the current span to the producer's <c>traceparent</c>, when one came and MassTransit did not already continue it.</summary>
    public static void Apply(ConsumeContext context)
    {
        if (Activity.Current is not { } current
            || context.Headers.Get<string>(TraceparentHeader) is not { Length: > 0 and <= MaxHeaderLength } traceparent)
        {
            return;
        }

        var tracestate = context.Headers.Get<string>(TracestateHeader) is { Length: <= MaxHeaderLength } state ? state : null;
        if (!ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out var producer) || producer.TraceId == current.TraceId)
        {
            return;
        }

        current.AddLink(new ActivityLink(producer));
        current.SetTag("akidb.producer.trace_id", producer.TraceId.ToString());
    }
}
