using MassTransit;

namespace AkiDb.Queue.Worker.Requests;

/// <summary>What a request's transport says about it besides the body: its size, AMQP priority and expiration, and when it was sent.</summary>
internal readonly record struct RequestEnvelope(long? BodyBytes, byte? AmqpPriority, string? AmqpExpiration, DateTime SentAt)
{
    public static RequestEnvelope Of(ConsumeContext context)
    {
        var sentAt = context.SentTime ?? DateTime.UtcNow;
        if (!context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit))
        {
            return new RequestEnvelope(context.ReceiveContext.Body.Length, null, null, sentAt);
        }

        var properties = rabbit.Properties;
        return new RequestEnvelope(
            context.ReceiveContext.Body.Length,
            properties.IsPriorityPresent() ? properties.Priority : null,
            properties.IsExpirationPresent() ? properties.Expiration : null,
            sentAt);
    }
}
