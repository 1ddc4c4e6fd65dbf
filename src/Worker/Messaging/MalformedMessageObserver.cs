using System.Runtime.Serialization;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Telemetry;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// A body that is not JSON, or whose fields have the wrong types, never reaches the consumer: MassTransit moves it to
/// the <c>_error</c> queue with the exception in its headers. This observer also answers the producer with an
/// <see cref="EmbedFailed"/> (malformed_message) whenever a request id can be read from the broken body, so a caller
/// counting results is not left waiting.
/// </summary>
internal sealed class MalformedMessageObserver(IServiceProvider services, WorkerTelemetry telemetry, ILogger<MalformedMessageObserver> logger) : IReceiveObserver
{
    private const int MaxRequestIdLength = 256;

    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

    public async Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        if (!IsMalformed(exception))
        {
            return;
        }

        telemetry.ErrorQueueMoves.Add(1, new KeyValuePair<string, object?>("reason", EmbedErrorCodes.MalformedMessage));
        var requestId = TryReadRequestId(context.Body.GetBytes());
        var reason = Describe(exception);
        // The one line for this message: MassTransit's own R-FAULT entry with the stack trace is dropped (MalformedFaultLogFilter).
        logger.LogWarning("Malformed message (request id {RequestId}) moved to the error queue: {Reason}", requestId is null ? "unknown" : LogValue.Of(requestId), LogValue.Of(reason, 300));
        if (requestId is null)
        {
            return;
        }

        var correlationId = Edges.ResultPublisher.CorrelationIdOf(context, requestId);
        try
        {
            // Like every result: mandatory, parked when no queue is bound (see ResultPublisher).
            await services.GetRequiredService<Edges.ResultPublisher>().PublishToExchangeAsync(new EmbedFailed
            {
                RequestId = requestId,
                Code = EmbedErrorCodes.MalformedMessage,
                Message = $"The message could not be read as an EmbedRequested: {reason}. It is kept in the error queue.",
                TraceParent = System.Diagnostics.Activity.Current?.Id,
                CorrelationId = correlationId,
            }, "embed-failed", requestId, correlationId, context.CancellationToken);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not publish EmbedFailed for malformed request {RequestId}", LogValue.Of(requestId));
        }
    }

    internal static bool IsMalformed(Exception exception) => Chain(exception).Any(e => e is SerializationException or JsonException);

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    private static string Describe(Exception exception)
    {
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        var text = innermost.Message.TrimEnd('.', ' ');
        return text.Length <= 300 ? text : text[..300] + "...";
    }

    /// <summary>Reads a top-level "requestId" string (or one inside a MassTransit envelope's "message"), tolerating anything else being broken.</summary>
    internal static string? TryReadRequestId(ReadOnlySpan<byte> body)
    {
        if (body.StartsWith("\uFEFF"u8))
        {
            body = body[3..];
        }

        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64, AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        try
        {
            var inEnvelopeMessage = false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName)
                {
                    var atTop = reader.CurrentDepth == 1;
                    var inMessage = inEnvelopeMessage && reader.CurrentDepth == 2;
                    if ((atTop || inMessage) && string.Equals(reader.GetString(), "requestId", StringComparison.OrdinalIgnoreCase))
                    {
                        if (reader.Read() && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= MaxRequestIdLength * 4)
                        {
                            var value = reader.GetString();
                            return string.IsNullOrWhiteSpace(value) || value.Length > MaxRequestIdLength ? null : value;
                        }
                    }
                    else if (atTop && reader.ValueTextEquals("message"))
                    {
                        inEnvelopeMessage = true;
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Broken after (or before) the id: whatever was found so far is all there is.
        }

        return null;
    }
}
