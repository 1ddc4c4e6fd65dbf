using MassTransit;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// The <c>embed-requested-expired</c> queue: the input queue's dead-letter target. It is bound to nothing but its own
/// exchange (no consume topology), so only dead-lettered requests arrive here, never new ones.
/// </summary>
internal sealed class BrokerExpiredConsumerDefinition : ConsumerDefinition<BrokerExpiredConsumer>
{
    private readonly RabbitMqOptions _rabbit;

    public BrokerExpiredConsumerDefinition(IOptions<RabbitMqOptions> rabbit)
    {
        _rabbit = rabbit.Value;
        Endpoint(e =>
        {
            e.Name = _rabbit.ExpiredQueueName;
            e.ConfigureConsumeTopology = false;
        });
        ConcurrentMessageLimit = 16;
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<BrokerExpiredConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        // As on the input endpoint: a publish that fails while the connection is re-established is retried.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Intervals(200, 1000, 3000);
            r.Ignore<InvalidOperationException>();
        });

        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = 16;
            rabbit.Durable = true;
            rabbit.AutoDelete = false;
            rabbit.ApplyQueueType(_rabbit);
        }
    }
}
