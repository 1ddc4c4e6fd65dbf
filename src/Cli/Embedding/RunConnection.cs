using System.Text.Json;
using System.Threading.Channels;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One <c>embed</c> run's broker side: mandatory, confirmed publishes to the input queue, and a private reply
/// queue that lives exactly as long as the run. The connection recovers by itself (heartbeats notice a silent node; the
/// next attempt goes to any of the cluster's nodes); the reply queue is declared anew on recovery, so what was answered
/// while the run had no queue is asked again (<see cref="Reconnected"/>), and a result that arrives twice counts once.
/// </summary>
/// <remarks>
/// The reply queue is an exclusive, auto-delete, server-named queue that every request names in its AMQP
/// <c>reply_to</c>; it is bound to nothing. Bound to the two result exchanges (as it was before the worker answered
/// <c>reply_to</c>), every run received every result published on the vhost, its own and those of every other run and
/// pipeline, and parsed each one (some 70 KB of JSON for 16 vectors) to find its own: N runs at once meant N times the
/// results for each. The worker still publishes each result to its exchange as well, for whatever is bound there.
/// </remarks>
internal sealed class RunConnection : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private readonly Channel<PooledResult> _results = Channel.CreateBounded<PooledResult>(1000);
    private readonly Channel<bool> _reconnected = Channel.CreateUnbounded<bool>();

    // The run's own queue: results for this run arrive here. Server-named, so a recovered connection declares it under
    // a new name (QueueNameChangedAfterRecoveryAsync); requests sent from then on name the new one.
    private volatile string _replyQueue;

    private RunConnection(IConnection connection, IChannel publisher, string replyQueue)
    {
        _connection = connection;
        _publisher = publisher;
        _replyQueue = replyQueue;
    }

    public ChannelReader<PooledResult> Results => _results.Reader;

    /// <summary>One item each time the connection was lost and recovered: the requests still waiting must be sent again.</summary>
    public ChannelReader<bool> Reconnected => _reconnected.Reader;

    /// <summary>
    /// How long a run keeps starting its set-up again while the broker does not answer it. Declaring the run's queue,
    /// exchanges and bindings changes the cluster's metadata, which every member takes part in: with one member frozen or
    /// cut off, those steps wait on the broker until its peers call it down (<c>net_ticktime</c>: 45-75 s with
    /// RabbitMQ's default of 60), past RabbitMQ.Client's 20 s continuation timeout. Seen in the frozen-node scenario: the
    /// CLI started while a node was frozen and exited on the first timeout with every request unsent.
    /// </summary>
    public static readonly TimeSpan SetupPatience = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Connects, checks that <paramref name="inputQueue"/> exists, and starts listening before anything is published.
    /// A set-up the broker does not answer in time (a cluster member frozen or cut off) is started again on a new
    /// connection, each time told to <paramref name="retrying"/>, for up to <see cref="SetupPatience"/>.
    /// </summary>
    public static async Task<RunConnection> ConnectAsync(BrokerSettings broker, string inputQueue, int maxInFlight, CancellationToken cancellationToken,
        Action<string>? retrying = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ConnectOnceAsync(broker, inputQueue, maxInFlight, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsBrokerStall(e) && clock.Elapsed < SetupPatience)
            {
                retrying?.Invoke($"The broker did not complete this run's set-up (attempt {attempt}: {e.GetBaseException().Message}); a cluster node may be frozen or cut off. Starting it again.");
            }
        }
    }

    /// <summary>
    /// A set-up step that timed out, or a connection the broker closed under it (a node that pauses in a partition):
    /// worth another attempt. A missing queue (404), a refused login or permission (403) and the like are not.
    /// </summary>
    internal static bool IsBrokerStall(Exception e) => e switch
    {
        TimeoutException or OperationCanceledException => true,
        // AlreadyClosedException is one of these too.
        OperationInterruptedException interrupted => interrupted.ShutdownReason?.ReplyCode is not (403 or 404 or 406 or 530),
        _ => false,
    };

    private static async Task<RunConnection> ConnectOnceAsync(BrokerSettings broker, string inputQueue, int maxInFlight, CancellationToken cancellationToken)
    {
        var connection = await broker.ConnectAsync("akidb-queue-embed", cancellationToken);
        try
        {
            await EnsureQueueExistsAsync(connection, inputQueue, cancellationToken);
            var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: true,
                publisherConfirmationTrackingEnabled: true,
                outstandingPublisherConfirmationsRateLimiter: new ThrottlingRateLimiter(maxInFlight)), cancellationToken);

            var subscriber = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await subscriber.BasicQosAsync(0, 1000, false, cancellationToken);
            var queue = (await subscriber.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken)).QueueName;

            var run = new RunConnection(connection, publisher, queue);
            // Raised during topology recovery, before RecoverySucceededAsync: the requests sent again then name the new queue.
            connection.QueueNameChangedAfterRecoveryAsync += (_, renamed) =>
            {
                if (renamed.NameBefore == run._replyQueue)
                {
                    run._replyQueue = renamed.NameAfter;
                }

                return Task.CompletedTask;
            };
            connection.RecoverySucceededAsync += (_, _) =>
            {
                run._reconnected.Writer.TryWrite(true);
                return Task.CompletedTask;
            };
            var consumer = new AsyncEventingBasicConsumer(subscriber);
            consumer.ReceivedAsync += async (_, delivery) =>
            {
                // Acknowledged on arrival: the queue dies with the run, so a result is only ever worth what the run makes of it.
                await run._results.Writer.WriteAsync(PooledResult.CopyOf(delivery.Body.Span));
                await subscriber.BasicAckAsync(delivery.DeliveryTag, false);
            };
            await subscriber.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);
            return run;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Publishes one request, persistent and mandatory, its reply to the run's own queue; completes once the broker confirmed it.</summary>
    public async Task PublishAsync(EmbedRequested request, string queue, CancellationToken cancellationToken)
    {
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = request.RequestId,
            ReplyTo = _replyQueue,
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
        };
        try
        {
            await _publisher.BasicPublishAsync("", queue, mandatory: true, properties, JsonSerializer.SerializeToUtf8Bytes(request, QueueClient.Json), cancellationToken);
        }
        catch (PublishException e) when (e.IsReturn)
        {
            throw new InvalidOperationException($"The broker returned a request as unroutable: queue '{queue}' no longer exists.", e);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && (!_connection.IsOpen || !_publisher.IsOpen || e is AlreadyClosedException))
        {
            // The connection went while this publish waited: the request stays waiting and is sent again once the
            // connection has recovered (Reconnected). Better twice than never; a second answer is dropped by its id.
        }
    }

    public ValueTask DisposeAsync()
    {
        _results.Writer.TryComplete();
        return _connection.CloseQuicklyAsync();
    }

    private static async Task EnsureQueueExistsAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        // A passive declare that fails closes its channel, so it gets one of its own.
        await using var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await probe.QueueDeclarePassiveAsync(queue, cancellationToken);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw new InvalidOperationException($"Queue '{queue}' does not exist on this broker: start a worker (it declares the queue), or name the worker's queue with --queue.", e);
        }
    }
}
