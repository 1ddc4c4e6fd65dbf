using AkiDb.Queue.Broker;
using AkiDb.Queue.Worker.Messaging.Edges;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>
/// Before MassTransit's bus is built: each queue the worker declares (input, expired, error, parking) that already exists
/// is declared again with the worker's arguments on a channel of its own. RabbitMQ refuses a declaration whose arguments
/// differ (<c>PRECONDITION_FAILED</c>, closing the channel) and names the argument; left to MassTransit, that refusal
/// became a loop: a malformed request answered, its move to the error queue refused, the channel closed, the request
/// redelivered and answered again, hundreds of times. Here it is one line per queue, and then: a queue only published to
/// (error, parking) is used as it is, its own arguments learned from the broker one refusal at a time; a consumed one
/// (input, expired) is not consumed, and <c>/health/ready</c> says why.
/// </summary>
internal sealed class QueueArgumentCheck(
    BrokerConnections connections,
    IOptions<RabbitMqOptions> rabbit,
    IOptions<ResultsOptions> results,
    ExistingQueues existing,
    ILogger<QueueArgumentCheck> logger) : IHostedService
{
    /// <summary>More than the arguments RabbitMQ compares: each round learns one.</summary>
    private const int MaxRounds = 16;

    private const int Attempts = 3;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                existing.Record(await CheckAsync(cancellationToken));
                return;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && attempt < Attempts)
            {
                logger.LogWarning("Checking the existing queues failed (attempt {Attempt} of {Attempts}): {Error}", attempt, Attempts, connections.Explain(e).Reason);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Handled here: the worker still starts, and MassTransit declares the queues as it always did.
                logger.LogWarning("The existing queues could not be checked ({Error}); they are declared as usual", connections.Explain(e).Reason);
                existing.Record(new Dictionary<QueueRole, QueueFinding>());
                return;
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<IReadOnlyDictionary<QueueRole, QueueFinding>> CheckAsync(CancellationToken cancellationToken)
    {
        await using var connection = await connections.ConnectAsync(rabbit.Value.ConnectionName + " (queue check)", cancellationToken);
        var findings = new Dictionary<QueueRole, QueueFinding>();
        foreach (var queue in ExpectedQueue.All(rabbit.Value, results.Value))
        {
            var finding = await CheckAsync(connection, queue, cancellationToken);
            findings[queue.Role] = finding;
            if (finding.Difference is { } difference)
            {
                if (queue.UsableAsItIs && finding.Existing is not null)
                {
                    logger.LogWarning("Queue {Queue} exists with other arguments than this worker declares ({Difference}); it is used as it is. " +
                                      "To give it the worker's arguments, see the README, \"Queues that already exist\"", queue.Name, difference.Describe());
                }
                else
                {
                    logger.LogError("Queue {Queue} exists with other arguments than this worker declares ({Difference}); this worker does not consume it " +
                                    "(/health/ready says why). Migrate it as the README's \"Queues that already exist\" describes, then restart", queue.Name, difference.Describe());
                }
            }
        }

        return findings;
    }

    private static async Task<QueueFinding> CheckAsync(IConnection connection, ExpectedQueue queue, CancellationToken cancellationToken)
    {
        // Passive first: a missing queue is left for its usual declaration, not made here.
        await using (var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken))
        {
            try
            {
                await probe.QueueDeclarePassiveAsync(queue.Name, cancellationToken);
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                return new QueueFinding(queue.Role, queue.Name, null, null);
            }
        }

        var arguments = new Dictionary<string, object?>(queue.Arguments);
        QueueArgumentDifference? first = null;
        for (var round = 0; round < MaxRounds; round++)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            try
            {
                await channel.QueueDeclareAsync(queue.Name, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
                // Declared again with the arguments it already has: nothing changed on the broker.
                return new QueueFinding(queue.Role, queue.Name, first, first is null ? null : arguments);
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 406 && QueueArgumentDifference.Parse(e.ShutdownReason.ReplyText) is { } difference)
            {
                first ??= difference;
                switch (difference.Argument)
                {
                    case "durable" or "auto_delete" or "exclusive":
                        // Not something the worker's declarations can follow: the queue is not used as it is.
                        return new QueueFinding(queue.Role, queue.Name, first, null);
                    default:
                        if (difference.Current is null)
                        {
                            arguments.Remove(difference.Argument);
                        }
                        else
                        {
                            arguments[difference.Argument] = difference.Current;
                        }

                        break;
                }
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode is 405 or 406)
            {
                // Locked (exclusive to another connection) or refused for a reason not in the reply's usual form.
                first ??= new QueueArgumentDifference(e.ShutdownReason?.ReplyText ?? "unknown", null, null);
                return new QueueFinding(queue.Role, queue.Name, first, null);
            }
        }

        return new QueueFinding(queue.Role, queue.Name, first, null);
    }
}
