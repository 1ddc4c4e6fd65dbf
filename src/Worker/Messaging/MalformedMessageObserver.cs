using System.Runtime.Serialization;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Telemetry;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// A body that is not JSON, or whose fields have the wrong types, never reaches the consumer: MassTransit moves it to
/// the <c>_error</c> queue with the exception in its headers. This observer also answers the producer with an
/// <see cref="EmbedFailed"/> (malformed_message) whenever a request id can be read from the broken body, so a caller
/// counting results is not left waiting.
/// </summary>
internal sealed class MalformedMessageObserver(IServiceProvider services, IOptions<LimitsOptions> limits, WorkerTelemetry telemetry, ILogger<MalformedMessageObserver> logger) : IReceiveObserver
{
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
        var requestId = TryReadRequestId(context.Body.GetBytes(), limits.Value.MaxRequestIdLength);
        var reason = Describe(exception);
        // The one line for this message: MassTransit's own R-FAULT entry with the stack trace is dropped (MalformedFaultLogFilter).
        logger.LogWarning("Malformed message (request id {RequestId}) moved to the error queue: {Reason}", requestId is null ? "unknown" : LogValue.Of(requestId), LogValue.Of(reason, 300));
        if (requestId is null)
        {
            return;
        }

        await services.GetRequiredService<RequestResults>().MalformedAsync(context, requestId, reason);
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
    internal static string? TryReadRequestId(ReadOnlySpan<byte> body, int maxRequestIdLength)
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
                        if (reader.Read() && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= maxRequestIdLength * 4)
                        {
                            var value = reader.GetString();
                            return string.IsNullOrWhiteSpace(value) || value.Length > maxRequestIdLength ? null : value;
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
