using System.Text;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Requests;
using MassTransit;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Answers requests that RabbitMQ dead-lettered from the input queue because their AMQP expiration passed while they
/// waited, with <see cref="EmbedErrorCodes.Expired"/>: without this they would vanish, and messages in would no
/// longer equal results out. Nothing is tokenised or embedded here.
/// </summary>
internal sealed class BrokerExpiredConsumer(RequestValidator validator, RequestResults results)
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
        if (validator.Validate(message, context.ReceiveContext.Body.Length) is { } invalid)
        {
            await results.FailedAsync(context, invalid);
            return;
        }

        await results.ExpiredAsync(context, RequestParser.Failure(message, EmbedErrorCodes.Expired,
            "The request's AMQP expiration passed while it waited in the queue; no inference was spent on it."), ExpiredWhere.Broker);
    }

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
