using MassTransit;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Watches the broker connection for <c>connection.blocked</c> / <c>connection.unblocked</c>. MassTransit 8.5 does not
/// surface them, but it passes every connection it opens through the receive endpoint's connection pipe, where this
/// filter subscribes to RabbitMQ.Client's events. MassTransit shares one connection for consuming and publishing, so
/// that connection is the one the broker blocks.
/// </summary>
internal sealed class BrokerFlowFilter(BrokerFlowState state) : IFilter<ConnectionContext>
{
    private readonly object _lock = new();
    private IConnection? _watched;

    public Task Send(ConnectionContext context, IPipe<ConnectionContext> next)
    {
        Watch(context.Connection);
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
    /// <summary>Puts <see cref="BrokerFlowFilter"/> on the connection pipe of every RabbitMQ receive endpoint.</summary>
    public static void AddBrokerFlowWatch(this IBusRegistrationConfigurator configurator)
    {
        configurator.AddConfigureEndpointsCallback((context, _, endpoint) =>
        {
            if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
            {
                var filter = context.GetRequiredService<BrokerFlowFilter>();
                rabbit.ConfigureConnection(pipe => pipe.UseFilter(filter));
            }
        });
    }
}
