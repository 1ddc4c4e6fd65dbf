using System.Text.Json;
using System.Threading.Channels;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>
/// Publishes requests and follows results with plain AMQP and plain JSON: exactly what a producer in any other
/// language does, so the CLI doubles as a reference client.
/// </summary>
internal sealed class QueueClient : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Most results a results queue declared here holds (x-max-length, reject-publish).</summary>
    public const int DefaultResultsMaxLength = 100_000;

    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private QueueClient(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    /// <param name="broker">Where and how to connect (URL, TLS, cluster nodes: with nodes, the first live one, and after a
    /// connection loss RabbitMQ.Client's automatic recovery reconnects to another).</param>
    /// <param name="maxInFlight">Most publishes awaiting their confirm.</param>
    /// <param name="cancellationToken">Ctrl+C: stops a connection attempt to a broker that does not answer.</param>
    public static async Task<QueueClient> ConnectAsync(BrokerSettings broker, int maxInFlight = 256, CancellationToken cancellationToken = default)
    {
        var connection = await broker.ConnectAsync("akidb-queue-cli", cancellationToken);
        // Confirms with a bounded number outstanding: the broker has every message before we report it sent, and
        // a slow broker slows us down instead of filling memory.
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true,
            publisherConfirmationTrackingEnabled: true,
            outstandingPublisherConfirmationsRateLimiter: new ThrottlingRateLimiter(maxInFlight)), cancellationToken);
        return new QueueClient(connection, channel);
    }

    /// <summary>
    /// Fails with <see cref="QueueMissingException"/> unless the queue exists: a passive declare, on a channel of its
    /// own because the broker closes the channel that asked about a missing queue.
    /// </summary>
    public async Task RequireQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        await using var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw new QueueMissingException(queue, e);
        }
    }

    /// <summary>
    /// Publishes one request, persistent and mandatory, to the input queue; completes when the broker confirmed it.
    /// A message no queue takes (the queue was deleted meanwhile) fails with <see cref="QueueMissingException"/>.
    /// </summary>
    public async Task PublishAsync(EmbedRequested request, string queue, CancellationToken cancellationToken = default)
    {
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = request.RequestId,
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
        };
        var body = JsonSerializer.SerializeToUtf8Bytes(request, Json);
        // A publish whose confirm was lost with the connection (a node went down) is sent again once automatic recovery
        // has reconnected: at least once, never reported sent unconfirmed. A few lines, so no retry library for them.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _channel.BasicPublishAsync("", queue, mandatory: true, properties, body, cancellationToken);
                return;
            }
            catch (PublishException e) when (e.IsReturn)
            {
                // Unroutable: the queue does not exist (mandatory publish). An answer, not a lost confirm.
                throw new QueueMissingException(queue, e);
            }
            // A returned (unroutable) message is an answer, not a lost confirm: not sent again.
            catch (Exception e) when (e is (AlreadyClosedException or OperationInterruptedException or PublishException) and not PublishReturnException
                                      && attempt < MaxPublishAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 250 * attempt * attempt)), cancellationToken);
            }
        }
    }

    private const int MaxPublishAttempts = 12;

    /// <summary>
    /// Declares the durable results queue and binds it to both result exchanges, so results are kept from now on even
    /// if nobody reads them yet. Idempotent.
    /// </summary>
    public async Task EnsureResultsQueueAsync(string queue, int maxLength, CancellationToken cancellationToken = default)
    {
        await using var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await DeclareResultsAsync(channel, queue, maxLength, cancellationToken);
    }

    /// <summary>
    /// Bounded, and refusing rather than dropping: when it is full the broker refuses the worker's publish, which
    /// waits (its request stays unacknowledged) until this queue is read. Nothing is lost, and nothing grows forever.
    /// </summary>
    private static Dictionary<string, object?> ResultsQueueArguments(int maxLength) => new()
    {
        ["x-max-length"] = maxLength,
        ["x-overflow"] = "reject-publish",
    };

    private static async Task<string> DeclareResultsAsync(IChannel channel, string? durableQueue, int maxLength, CancellationToken cancellationToken)
    {
        foreach (var exchange in new[] { QueueNames.EmbedCompleted, QueueNames.EmbedFailed })
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        }

        var queue = durableQueue is null
            ? (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, ResultsQueueArguments(maxLength), cancellationToken: cancellationToken)).QueueName
            : (await channel.QueueDeclareAsync(durableQueue, durable: true, exclusive: false, autoDelete: false, ResultsQueueArguments(maxLength), cancellationToken: cancellationToken)).QueueName;
        await channel.QueueBindAsync(queue, QueueNames.EmbedCompleted, "", cancellationToken: cancellationToken);
        await channel.QueueBindAsync(queue, QueueNames.EmbedFailed, "", cancellationToken: cancellationToken);
        return queue;
    }

    /// <summary>
    /// Subscribes to both result exchanges. With a name the queue is durable and outlives this process (results
    /// that arrive while nobody listens are kept); without one it is private and goes away with the connection.
    /// </summary>
    public Task<ChannelReader<ResultMessage>> SubscribeResultsAsync(string? durableQueue, CancellationToken cancellationToken = default) =>
        SubscribeResultsAsync(durableQueue, DefaultResultsMaxLength, parkingQueue: null, cancellationToken);

    /// <param name="durableQueue">A named durable queue, or null for a private one that goes away with the connection.</param>
    /// <param name="maxLength">The queue's length bound (reject-publish).</param>
    /// <param name="parkingQueue">Instead: read the worker's parking queue as it is (results published while no queue was bound), binding nothing.</param>
    /// <param name="cancellationToken">Stops the subscription set-up.</param>
    public async Task<ChannelReader<ResultMessage>> SubscribeResultsAsync(string? durableQueue, int maxLength, string? parkingQueue, CancellationToken cancellationToken = default)
    {
        var subscriber = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await subscriber.BasicQosAsync(0, 500, false, cancellationToken);
        string queue;
        if (parkingQueue is not null)
        {
            queue = (await subscriber.QueueDeclarePassiveAsync(parkingQueue, cancellationToken)).QueueName;
        }
        else
        {
            queue = await DeclareResultsAsync(subscriber, durableQueue, maxLength, cancellationToken);
        }

        Queue = queue;

        var results = Channel.CreateBounded<ResultMessage>(1000);
        var consumer = new AsyncEventingBasicConsumer(subscriber);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            var body = delivery.Body.ToArray();
            // A parked result names its exchange in a header; a delivered one came through it.
            var exchange = delivery.BasicProperties.Headers?.TryGetValue("x-akidb-exchange", out var parked) == true && parked is byte[] name
                ? System.Text.Encoding.UTF8.GetString(name)
                : delivery.Exchange;
            await results.Writer.WriteAsync(new ResultMessage(exchange == QueueNames.EmbedCompleted, body,
                () => subscriber.BasicAckAsync(delivery.DeliveryTag, false).AsTask()), cancellationToken);
        };
        await subscriber.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);
        return results.Reader;
    }

    /// <summary>The queue <see cref="SubscribeResultsAsync"/> reads.</summary>
    public string? Queue { get; private set; }

    // The channel closes with the connection; see QuickClose for why the wait is short.
    public ValueTask DisposeAsync() => _connection.CloseQuicklyAsync();
}

/// <summary>The queue a command was to publish to or read from does not exist on the broker's virtual host.</summary>
internal sealed class QueueMissingException(string queue, Exception inner)
    : Exception($"Queue '{queue}' does not exist on this broker and virtual host, so nothing sent to it is kept.", inner)
{
    public string Queue { get; } = queue;
}

/// <summary>A result as received: its raw JSON, and how to acknowledge it once it is safely written.</summary>
internal sealed record ResultMessage(bool Completed, byte[] Body, Func<Task> AckAsync)
{
    public JsonElement Parse() => JsonDocument.Parse(Body).RootElement.Clone();
}
