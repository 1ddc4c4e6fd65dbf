using MassTransit;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// <c>RabbitMq:QueueType</c> for every queue the worker declares: the input queue, its <c>_error</c> and <c>_skipped</c>
/// queues, and any results or parking queue. One place, so a new queue cannot be left classic by accident on a cluster,
/// where a classic queue lives on one node and is gone while that node is.
/// </summary>
internal static class RabbitMqQueueTypes
{
    public const string Quorum = "quorum";

    public static bool IsQuorum(this RabbitMqOptions options) => options.QueueType == QueueType.Quorum;

    /// <summary>For a queue declared through MassTransit (a receive endpoint, an alternate-exchange queue binding, ...).</summary>
    public static void ApplyQueueType(this IRabbitMqQueueConfigurator queue, RabbitMqOptions options)
    {
        if (options.IsQuorum())
        {
            queue.SetQuorumQueue();
        }
    }

    /// <summary>
    /// For a queue consumed in a loop (the input queue): set explicitly, because RabbitMQ 4.0 made 20 the default for
    /// quorum queues, and a message over the limit is dead-lettered, or dropped where no dead-letter exchange is set.
    /// </summary>
    public static void ApplyDeliveryLimit(this IRabbitMqQueueConfigurator queue, RabbitMqOptions options)
    {
        if (options.IsQuorum())
        {
            queue.SetQueueArgument("x-delivery-limit", options.DeliveryLimit);
        }
    }

    /// <summary>For a queue declared with RabbitMQ.Client directly: the arguments of <c>QueueDeclare</c>.</summary>
    public static Dictionary<string, object?> QueueArguments(RabbitMqOptions options) =>
        options.IsQuorum() ? new() { ["x-queue-type"] = Quorum } : [];

    /// <summary>
    /// MassTransit derives the <c>_error</c> and <c>_skipped</c> queues from each endpoint, copying the endpoint's queue
    /// arguments, and declares them when the first message moves there. The type is set here explicitly; the copied
    /// delivery limit is removed: nothing consumes these queues in a loop, and a limit could only drop a message that
    /// an operator moves back and forth.
    /// </summary>
    /// <param name="bus">The bus being configured.</param>
    /// <param name="options">The worker's settings.</param>
    /// <param name="asItIs">The arguments of an error queue that exists with others than these (Queues/QueueArgumentCheck):
    /// declared with exactly those, so the broker accepts the declaration and the queue is used as it is.</param>
    public static void ApplyToErrorQueues(this IRabbitMqBusFactoryConfigurator bus, RabbitMqOptions options, IReadOnlyDictionary<string, object?>? asItIs = null)
    {
        bus.SendTopology.ConfigureErrorSettings = queue =>
        {
            if (asItIs is not null && queue is MassTransit.RabbitMqTransport.Configuration.RabbitMqQueueConfigurator declared)
            {
                declared.QueueArguments.Clear();
                foreach (var (key, value) in asItIs)
                {
                    queue.SetQueueArgument(key, value);
                }

                return;
            }

            queue.ApplyToErrorQueue(options);
            if (options.ErrorQueueMaxLength > 0)
            {
                // drop-head: when full, the oldest poison message goes. reject-publish would fail the move, and
                // MassTransit would then return the message to the input queue, to fail again, forever.
                queue.SetQueueArgument("x-max-length", options.ErrorQueueMaxLength);
                queue.SetQueueArgument("x-overflow", "drop-head");
            }
        };
        bus.SendTopology.ConfigureDeadLetterSettings = queue => queue.ApplyToErrorQueue(options);
    }

    /// <summary>For a queue that keeps messages for people rather than feeding a consumer (error, parking): the type, no delivery limit.</summary>
    public static void ApplyToErrorQueue(this IRabbitMqQueueConfigurator queue, RabbitMqOptions options)
    {
        queue.ApplyQueueType(options);
        // Copied from the input queue by MassTransit, meaningless here: the delivery limit (see above), the priority
        // levels, and the dead-letter exchange into the expired queue (a message dropped from a full error queue
        // would otherwise be "answered" as expired).
        queue.SetQueueArgument("x-delivery-limit", null);
        queue.SetQueueArgument("x-max-priority", null);
        queue.SetQueueArgument("x-dead-letter-exchange", null);
    }
}
