using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Endpoint settings for the <c>embed-requested</c> queue. The concurrency limit is what makes continuous batching
/// work: many messages are consumed at once, each waits for its texts, and the scheduler batches across them.
/// </summary>
internal sealed class EmbedRequestedConsumerDefinition : ConsumerDefinition<EmbedRequestedConsumer>
{
    private readonly RabbitMqOptions _rabbit;

    public EmbedRequestedConsumerDefinition(IOptions<RabbitMqOptions> rabbit, IOptions<BatchingOptions> batching, IInferenceBackend backend)
    {
        _rabbit = rabbit.Value;
        EndpointName = _rabbit.QueueName;
        ConcurrentMessageLimit = EffectivePrefetch(_rabbit, batching.Value, backend.LaneCount);
    }

    /// <summary>
    /// Enough messages in hand to fill the next batch of every lane while the current ones run, and no more:
    /// a bigger number only moves the queue from the broker (visible, shareable with other workers) into this process.
    /// </summary>
    public static int EffectivePrefetch(RabbitMqOptions rabbit, BatchingOptions batching, int lanes) =>
        rabbit.PrefetchCount > 0 ? rabbit.PrefetchCount : Math.Max(16, 2 * batching.MaxBatchTexts * lanes + 16);

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<EmbedRequestedConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        // Publishing the result can fail while the broker connection is being re-established; a short retry covers
        // that. A text the model fails on alone is final (it goes to _error with its EmbedFailed) and cancellation means
        // "back to the queue", so neither is retried here.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(200, 1000, 3000);
            r.Ignore<PoisonTextException>();
            r.Ignore<OperationCanceledException>();
        });

        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = ConcurrentMessageLimit ?? 16;
            rabbit.Durable = true;
            rabbit.AutoDelete = false;
            rabbit.ApplyQueueType(_rabbit);
            rabbit.ApplyDeliveryLimit(_rabbit);

            InputQueueArguments.Apply(rabbit, _rabbit);
        }

        endpointConfigurator.ConnectReceiveEndpointObserver(context.GetRequiredService<InferenceCircuitBreaker>());
        endpointConfigurator.ConnectReceiveEndpointObserver(context.GetRequiredService<ConsumingWatchdog>());

        // Every request that fails is answered with an EmbedFailed, so MassTransit's Fault<EmbedRequested> would only be
        // a second, unrequested answer, sent where a producer's MT-Fault-Address or MT-Response-Address says.
        endpointConfigurator.PublishFaults = false;
    }
}
