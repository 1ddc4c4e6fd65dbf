using System.Diagnostics;
using System.Text;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Telemetry;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Answers requests that RabbitMQ dead-lettered from the input queue because their AMQP expiration passed while they
/// waited, with <see cref="EmbedErrorCodes.Expired"/>: without this they would vanish, and messages in would no
/// longer equal results out. Nothing is tokenised or embedded here.
/// </summary>
internal sealed class BrokerExpiredConsumer(RequestValidator validator, Edges.ResultPublisher results, WorkerTelemetry telemetry, ILogger<BrokerExpiredConsumer> logger)
    : IConsumer<EmbedRequested>
{
    public async Task Consume(ConsumeContext<EmbedRequested> context)
    {
        var reason = FirstDeathReason(context);
        if (reason != "expired")
        {
            // Dead-lettered for another reason (a quorum queue's delivery limit, a reject): not ours to answer as
            // expired. Faulting it keeps it, with this message, in this endpoint's _error queue.
            throw new InvalidOperationException($"The broker dead-lettered this request for '{reason ?? "(no reason)"}', not for its expiration.");
        }

        var message = context.Message;
        var failure = validator.Validate(message, context.ReceiveContext.Body.Length) ?? new EmbedFailed
        {
            RequestId = message.RequestId,
            Code = EmbedErrorCodes.Expired,
            Message = "The request's AMQP expiration passed while it waited in the queue; no inference was spent on it.",
            Metadata = message.Metadata,
        };
        failure = failure with { TraceParent = Activity.Current?.Id, CorrelationId = Edges.ResultPublisher.CorrelationIdOf(context, message.RequestId) };
        await results.PublishAsync(context, failure, QueueNames.EmbedFailed, failure.RequestId, failure.CorrelationId);

        if (failure.Code == EmbedErrorCodes.Expired)
        {
            telemetry.RequestsExpired.Add(1, new KeyValuePair<string, object?>("where", "broker"));
        }

        telemetry.RequestsFailed.Add(1, new KeyValuePair<string, object?>("code", failure.Code));
        logger.LogInformation("Request {RequestId} failed with {Code}: {Reason}", LogValue.Of(failure.RequestId), failure.Code, LogValue.Of(failure.Message, 300));
    }

    /// <summary>RabbitMQ's <c>x-first-death-reason</c> header: <c>expired</c>, <c>rejected</c>, <c>maxlen</c> or <c>delivery_limit</c>.</summary>
    private static string? FirstDeathReason(ConsumeContext context)
    {
        if (!context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) ||
            rabbit.Properties.Headers?.TryGetValue("x-first-death-reason", out var value) != true)
        {
            return null;
        }

        // A closed set of short words from the broker; anything else is shown bounded.
        var text = value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 32)),
            string s => s.Length <= 32 ? s : s[..32],
            _ => null,
        };
        return text;
    }
}
