namespace AkiDb.Queue.Worker.Messaging;

/// <summary>The RabbitMQ queue type of the input queue (<c>RabbitMq:QueueType</c>).</summary>
public enum QueueType
{
    Classic,

    /// <summary>Replicated; the broker dead-letters a message after <c>RabbitMq:DeliveryLimit</c> deliveries.</summary>
    Quorum,
}
