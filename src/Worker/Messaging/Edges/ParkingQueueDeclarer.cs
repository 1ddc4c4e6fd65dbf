using AkiDb.Queue.Broker;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Declares the parking queue with its bounds before the first result can need it. It runs after MassTransit has
/// connected (it is registered after it), so the broker is there. MassTransit's topology has no way to declare a queue
/// that nothing consumes, so this uses RabbitMQ.Client, which MassTransit brings along, on a short-lived connection.
/// </summary>
internal sealed class ParkingQueueDeclarer(
    BrokerConnections connections,
    IOptions<RabbitMqOptions> rabbit,
    IOptions<ResultsOptions> results,
    Queues.ExistingQueues existing,
    ILogger<ParkingQueueDeclarer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = results.Value;
        if (existing.For(Queues.QueueRole.Parking) is { Difference: not null })
        {
            // It exists with other arguments and is used as it is (Queues/QueueArgumentCheck logged which).
            return;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await connections.ConnectAsync(rabbit.Value.ConnectionName + " (declare)", cancellationToken);
                await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
                await channel.QueueDeclareAsync(options.ParkingQueue, durable: true, exclusive: false, autoDelete: false, Arguments(options), cancellationToken: cancellationToken);
                logger.LogInformation("Results no queue is bound for are kept in queue {ParkingQueue} (at most {MaxLength} results, {MaxBytes} bytes)",
                    options.ParkingQueue, options.ParkingMaxLength, options.ParkingMaxBytes);
                return;
            }
            // Handled here, never stopping the worker: a result that needs the queue while it is missing goes back to
            // its queue, and ResultPublisher says so (its line names the queue).
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                if (attempt == MaxAttempts)
                {
                    logger.LogWarning("Queue {ParkingQueue} could not be declared ({Error}); results no queue is bound for wait until it exists",
                        options.ParkingQueue, connections.Explain(e).Reason);
                    return;
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(attempt), cancellationToken);
        }
    }

    private const int MaxAttempts = 3;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Bounded, and refusing rather than dropping: with publisher confirms a refused result fails its publish.</summary>
    public static Dictionary<string, object?> Arguments(ResultsOptions options) => new()
    {
        ["x-max-length"] = options.ParkingMaxLength,
        ["x-max-length-bytes"] = options.ParkingMaxBytes,
        ["x-overflow"] = "reject-publish",
    };
}
