using AkiDb.Queue.Broker;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Polls the input queue's ready-message count with a passive declare on a connection of its own (MassTransit does
/// not expose it), for the back-pressure gauges. A failure only leaves the last value stale; it never stops the worker.
/// </summary>
internal sealed class InputQueueDepth(BrokerConnections connections, IOptions<RabbitMqOptions> options, ILogger<InputQueueDepth> logger) : BackgroundService
{
    private long _ready = -1;
    private long _consumers = -1;

    /// <summary>Ready messages in the input queue at the last poll; null before the first or while the broker is unreachable.</summary>
    public long? ReadyMessages => Volatile.Read(ref _ready) is >= 0 and var ready ? ready : null;

    /// <summary>Consumers on the input queue (workers, roughly) at the last poll.</summary>
    public long? Consumers => Volatile.Read(ref _consumers) is >= 0 and var consumers ? consumers : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var rabbit = options.Value;
        if (rabbit.QueueDepthPollInterval <= TimeSpan.Zero)
        {
            return;
        }

        IConnection? connection = null;
        using var timer = new PeriodicTimer(rabbit.QueueDepthPollInterval);
        try
        {
            do
            {
                try
                {
                    connection ??= await connections.ConnectAsync(rabbit.ConnectionName + " (queue depth)", stoppingToken);
                    // A passive declare of a missing queue closes the channel, so each poll gets a fresh one.
                    await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
                    var queue = await channel.QueueDeclarePassiveAsync(rabbit.QueueName, stoppingToken);
                    Volatile.Write(ref _ready, queue.MessageCount);
                    Volatile.Write(ref _consumers, queue.ConsumerCount);
                }
                // Anything but this service's own stop, a timeout's OperationCanceledException included (RabbitMQ.Client
                // cancels a channel open that gets no answer): a BackgroundService that throws stops the whole host.
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    Volatile.Write(ref _ready, -1);
                    logger.LogDebug("Queue depth poll of {Queue} failed: {Error}", rabbit.QueueName, e.Message);
                    if (connection is not null && (!connection.IsOpen || e is OperationCanceledException or TimeoutException))
                    {
                        await DisposeQuietlyAsync(connection);
                        connection = null;
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null)
            {
                await DisposeQuietlyAsync(connection);
            }
        }
    }

    private async Task DisposeQuietlyAsync(IConnection connection)
    {
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception e)
        {
            logger.LogDebug("Closing the queue depth connection failed: {Error}", e.Message);
        }
    }
}
