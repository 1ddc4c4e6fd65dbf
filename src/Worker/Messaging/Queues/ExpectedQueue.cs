namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>A queue as this worker declares it: its name, durability and the arguments RabbitMQ compares on every declaration.</summary>
internal sealed record ExpectedQueue(QueueRole Role, string Name, IReadOnlyDictionary<string, object?> Arguments)
{
    /// <summary>Published to only: the worker can use one that exists with other arguments as it is.</summary>
    public bool UsableAsItIs => Role is QueueRole.Error or QueueRole.Parking;

    /// <summary>
    /// The four queues with the arguments MassTransit (input, expired, error) and <see cref="Edges.ParkingQueueDeclarer"/>
    /// declare them with; the same helpers build both, so they cannot drift apart.
    /// </summary>
    public static IReadOnlyList<ExpectedQueue> All(RabbitMqOptions rabbit, Edges.ResultsOptions results)
    {
        var queueType = RabbitMqQueueTypes.QueueArguments(rabbit);
        var input = new Dictionary<string, object?>(queueType);
        if (rabbit.IsQuorum())
        {
            input["x-delivery-limit"] = rabbit.DeliveryLimit;
        }
        else if (rabbit.MaxPriority > 0)
        {
            input["x-max-priority"] = rabbit.MaxPriority;
        }

        if (rabbit.AnswerBrokerExpired)
        {
            input["x-dead-letter-exchange"] = rabbit.ExpiredQueueName;
        }

        var error = new Dictionary<string, object?>(queueType);
        if (rabbit.ErrorQueueMaxLength > 0)
        {
            error["x-max-length"] = rabbit.ErrorQueueMaxLength;
            error["x-overflow"] = "drop-head";
        }

        return
        [
            new(QueueRole.Input, rabbit.QueueName, input),
            .. rabbit.AnswerBrokerExpired ? [new ExpectedQueue(QueueRole.Expired, rabbit.ExpiredQueueName, queueType)] : Array.Empty<ExpectedQueue>(),
            new(QueueRole.Error, rabbit.QueueName + "_error", error),
            new(QueueRole.Parking, results.ParkingQueue, Edges.ParkingQueueDeclarer.Arguments(results)),
        ];
    }
}
