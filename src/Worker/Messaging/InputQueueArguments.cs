using MassTransit;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// The input queue's priority and dead-letter arguments. Both are fixed when the queue is first declared: RabbitMQ
/// refuses a redeclaration with different arguments, and <c>x-max-priority</c> cannot be set by a policy (the
/// dead-letter exchange can). docs/operations.md describes how an existing queue is migrated.
/// </summary>
internal static class InputQueueArguments
{
    public static void Apply(IRabbitMqReceiveEndpointConfigurator queue, RabbitMqOptions options)
    {
        // Quorum queues before RabbitMQ 4.0 reject x-max-priority; the worker's own planner still orders by class.
        if (!options.IsQuorum() && options.MaxPriority > 0)
        {
            queue.SetQueueArgument("x-max-priority", options.MaxPriority);
        }

        if (options.AnswerBrokerExpired)
        {
            // The expired endpoint's own exchange (MassTransit declares one per endpoint, bound to its queue).
            queue.SetQueueArgument("x-dead-letter-exchange", options.ExpiredQueueName);
        }
    }
}
