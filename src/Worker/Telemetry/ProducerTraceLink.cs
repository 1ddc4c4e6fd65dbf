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
        if (Activity.Current is not { } current || Text(context, TraceparentHeader) is not { Length: > 0 } traceparent)
        {
            return;
        }

        var tracestate = Text(context, TracestateHeader);
        if (!ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out var producer) || producer.TraceId == current.TraceId)
        {
            return;
        }

        current.AddLink(new ActivityLink(producer));
        current.SetTag("akidb.producer.trace_id", producer.TraceId.ToString());
    }

    // Producers set headers of any AMQP type; only a short string (or its UTF-8 bytes) can be a trace header, and
    // nothing about a header may fail the message.
    private static string? Text(ConsumeContext context, string name) =>
        context.Headers.TryGetHeader(name, out var value)
            ? value switch
            {
                string { Length: <= MaxHeaderLength } text => text,
                byte[] { Length: <= MaxHeaderLength } bytes => System.Text.Encoding.UTF8.GetString(bytes),
                _ => null,
            }
            : null;
}
