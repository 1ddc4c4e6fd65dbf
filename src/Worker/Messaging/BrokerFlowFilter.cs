using MassTransit;
using Microsoft.Extensions.Logging;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Watches the broker connection for <c>connection.blocked</c> / <c>connection.unblocked</c>. MassTransit 8.5 does not
/// surface them, but every channel the receive endpoint opens passes through its channel pipe, with the connection it
/// belongs to, where this filter subscribes to RabbitMQ.Client's events once per connection. (The endpoint's
/// connection pipe looks like the place, but the RabbitMQ transport in 8.5 never sends a context through it.)
/// MassTransit shares one connection for consuming and publishing, so that connection is the one the broker blocks.
/// </summary>
internal sealed class BrokerFlowFilter(BrokerFlowState state, ILogger<BrokerFlowFilter> logger) : IFilter<ChannelContext>
{
    private readonly object _lock = new();
    private IConnection? _watched;

    public Task Send(ChannelContext context, IPipe<ChannelContext> next)
    {
        Watch(context.ConnectionContext.Connection);
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("brokerFlow");

    private void Watch(IConnection connection)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_watched, connection))
            {
                return;
            }

            _watched = connection;
            state.Reset();
        }

        logger.LogDebug("Watching the broker connection {Connection} for connection.blocked", connection.ClientProvidedName);
        connection.ConnectionBlockedAsync += OnBlockedAsync;
        connection.ConnectionUnblockedAsync += OnUnblockedAsync;
    }

    private Task OnBlockedAsync(object sender, ConnectionBlockedEventArgs e)
    {
        if (ReferenceEquals(sender, _watched))
        {
            state.Blocked(e.Reason);
        }

        return Task.CompletedTask;
    }

    private Task OnUnblockedAsync(object sender, AsyncEventArgs e)
    {
        if (ReferenceEquals(sender, _watched))
        {
            state.Unblocked();
        }

        return Task.CompletedTask;
    }
}

internal static class BrokerFlowRegistration
{
    /// <summary>Puts <see cref="BrokerFlowFilter"/> on the channel pipe of every RabbitMQ receive endpoint.</summary>
    public static void AddBrokerFlowWatch(this IBusRegistrationConfigurator configurator)
    {
        configurator.AddConfigureEndpointsCallback((context, _, endpoint) =>
        {
            if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
            {
                var filter = context.GetRequiredService<BrokerFlowFilter>();
                rabbit.ConfigureChannel(pipe => pipe.UseFilter(filter));
            }
        });
    }
}
