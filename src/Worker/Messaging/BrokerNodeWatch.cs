using System.Diagnostics;
using System.Runtime.CompilerServices;
using AkiDb.Queue.Worker.Telemetry;
using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Knows the broker connection the worker consumes through, gives its node up when it stops making progress, and says
/// so in the log once per connection: which node (<c>host:port</c>, as <c>RabbitMq:ClusterNodes</c> lists it) and why.
/// </summary>
/// <remarks>
/// A node that dies closes its connections at once, and MassTransit reconnects through <c>ClusterNodes</c> by itself.
/// The quiet faults do not: a frozen node or a cut link leaves a TCP connection open and silent (the client gives it up
/// after two heartbeats without a frame, <c>RabbitMq:Heartbeat</c>), and a node in the minority of a partition keeps
/// answering heartbeats while it confirms nothing (until it notices the partition and pauses, a minute later with the
/// default <c>net_ticktime</c>). For that one the publish-confirm deadline (<c>RabbitMq:PublishConfirmTimeout</c>) calls
/// <see cref="GiveUpAsync"/>: the connection is aborted, MassTransit's connection supervisor sees it gone and connects
/// to the next node, and every request whose result was not confirmed goes back to its queue.
/// The connection is learnt from the messages received through it (MassTransit does not hand it out otherwise); one
/// owner: this class, with the current connection swapped whole.
/// </remarks>
internal sealed class BrokerNodeWatch(
    IOptions<RabbitMqOptions> options,
    AkiDb.Queue.Broker.BrokerConnections connections,
    BrokerFlowState flow,
    ILogger<BrokerNodeWatch> logger) : IReceiveObserver, IPublishObserver, ISendObserver
{
    private static readonly object Seen = new();
    private readonly TimeSpan _confirmTimeout = options.Value.PublishConfirmTimeout;
    private long _lastAnswer = Stopwatch.GetTimestamp();
    private readonly ConditionalWeakTable<IConnection, object> _watched = [];
    private readonly ConditionalWeakTable<IConnection, object> _givenUp = [];
    private readonly Lock _gate = new();
    private IConnection? _current;
    private (string Node, long At) _lastGivenUp;
    private int _watchingHandshakes;
    private int _givenUpWithoutAnswer;

    /// <summary>
    /// Logs a node that took a TCP connection and sent nothing (frozen), or whose connection ended after it fell silent,
    /// once; <see cref="AkiDb.Queue.Broker.BrokerConnections"/> has ended that attempt or given the node up and moved on. Called once, when the bus is configured (the one place that has this watch).
    /// </summary>
    public void WatchHandshakes()
    {
        if (Interlocked.Exchange(ref _watchingHandshakes, 1) == 1)
        {
            return;
        }

        connections.NodeSilent += node =>
        {
            if (FirstWord(node))
            {
                logger.LogWarning("Giving up broker node {Node}: it accepted a connection and sent nothing within {Seconds:F0} s (RabbitMq:ConnectionTimeout); reconnecting through the next of RabbitMq:ClusterNodes",
                    node, connections.Settings.ConnectionTimeout.TotalSeconds);
            }
        };
        // Also for connections no message has arrived through yet (OnShutdown knows only those): the worker's node frozen
        // before its first result.
        connections.NodeEndedSilent += (node, silence) =>
        {
            if (FirstWord(node))
            {
                logger.LogWarning("Gave up broker node {Node}: it sent nothing, not even a heartbeat, for {Seconds:F0} s (RabbitMq:Heartbeat {Heartbeat:F0} s); reconnecting through the next of RabbitMq:ClusterNodes",
                    node, silence.TotalSeconds, connections.Settings.Heartbeat.TotalSeconds);
            }
        };
    }

    /// <summary>
    /// Connections given up on the publish-confirm deadline since a publish was last answered. One is a node that froze
    /// or lost its majority; several in a row, each on another node, mean the worker's own publishing is stuck (the soak
    /// run's result publishes all waited in one exchange declaration), which <see cref="ConsumingWatchdog"/> ends.
    /// </summary>
    public int GivenUpWithoutAnswer => Volatile.Read(ref _givenUpWithoutAnswer);

    /// <summary>The node of the connection messages last arrived through, <c>host:port</c>; null before the first.</summary>
    public string? CurrentNode => Volatile.Read(ref _current) is { } connection ? Node(connection) : null;

    /// <summary>
    /// Waits for a publish's confirm. Past <c>RabbitMq:PublishConfirmTimeout</c> with no answer from the broker to this
    /// or any other publish (a confirm, a negative confirm, a return: each shows the node is making progress), the node
    /// is given up and the caller gets an <see cref="OperationCanceledException"/>: the request goes back to its queue.
    /// </summary>
    public async Task AwaitConfirmAsync(Task publish, CancellationToken cancellationToken)
    {
        if (_confirmTimeout <= TimeSpan.Zero)
        {
            await publish;
            return;
        }

        while (true)
        {
            try
            {
                await publish.WaitAsync(_confirmTimeout, cancellationToken);
                return;
            }
            catch (TimeoutException) when (Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAnswer)) < _confirmTimeout)
            {
                // Slow, not silent: the node answered another publish within the window (a full queue's back-off, a busy broker).
            }
            catch (TimeoutException) when (flow.BlockedReason is not null)
            {
                // Blocked, not silent: the node said connection.blocked (a memory or disk alarm) and holds every publish
                // until the alarm clears. Every node of a cluster blocks alike, so moving on would only repeat the wait on
                // the next one, and the watchdog would count those give-ups as a stuck worker and stop it.
            }
            catch (TimeoutException)
            {
                // The publish ends when the connection does; its fault is observed here so it goes nowhere else.
                _ = publish.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                await GiveUpAsync($"no publish confirm for {_confirmTimeout.TotalSeconds:F0} s (RabbitMq:PublishConfirmTimeout)");
                throw new OperationCanceledException("The broker node confirmed nothing in time; the request goes back to its queue.");
            }
        }
    }

    /// <summary>
    /// Aborts the connection messages arrive through, so that MassTransit moves to the next node; logs which node and
    /// <paramref name="reason"/>, once however many callers give up the same connection.
    /// </summary>
    public async Task GiveUpAsync(string reason)
    {
        if (Volatile.Read(ref _current) is not { } connection || !_givenUp.TryAdd(connection, Seen) || !FirstWord(Node(connection)))
        {
            return;
        }

        Interlocked.Increment(ref _givenUpWithoutAnswer);
        logger.LogWarning("Giving up broker node {Node}: {Reason}; reconnecting through the next of RabbitMq:ClusterNodes", Node(connection), reason);
        connections.GiveUp(connection.Endpoint.HostName, connection.Endpoint.Port);
        try
        {
            // Cut as a network failure cuts it, so MassTransit replaces the connection for consuming and publishing alike
            // (it ignores a close the application initiates: BrokerConnections.Sever). The abort is the fallback for a
            // connection whose socket is not known; a node that confirms nothing will not answer a close either.
            if (!connections.Sever(connection))
            {
                await connection.CloseAsync(Constants.ConnectionForced, "akidb-queue gave this node up: " + reason, TimeSpan.FromSeconds(2), abort: true);
            }
        }
        catch (Exception e)
        {
            logger.LogDebug("Closing the connection to {Node} failed: {Error}", Node(connection), e.Message);
        }
    }

    public Task PreReceive(ReceiveContext context)
    {
        if (context.TryGetPayload<ChannelContext>(out var channel) && channel.ConnectionContext.Connection is { } connection)
        {
            Volatile.Write(ref _current, connection);
            if (_watched.TryAdd(connection, Seen))
            {
                connection.ConnectionShutdownAsync += (_, e) => OnShutdown(connection, e);
            }
        }

        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PrePublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context) where T : class => Answered();

    public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Refused(exception);

    public Task PreSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context) where T : class => Answered();

    public Task SendFault<T>(SendContext<T> context, Exception exception) where T : class => Refused(exception);

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;

    private Task Answered()
    {
        Volatile.Write(ref _givenUpWithoutAnswer, 0);
        Volatile.Write(ref _lastAnswer, Stopwatch.GetTimestamp());
        return Task.CompletedTask;
    }

    /// <summary>A negative confirm or a return is an answer too: the node is there and deciding.</summary>
    private Task Refused(Exception exception) =>
        Edges.ResultPublisher.Find<RabbitMQ.Client.Exceptions.PublishException>(exception) is not null ? Answered() : Task.CompletedTask;

    private Task OnShutdown(IConnection connection, ShutdownEventArgs e)
    {
        // Closed by the worker itself: on stopping (nothing to report) or by GiveUpAsync (already reported).
        if (e.Initiator == ShutdownInitiator.Application || !_givenUp.TryAdd(connection, Seen) || !FirstWord(Node(connection)))
        {
            return Task.CompletedTask;
        }

        var why = e.Initiator == ShutdownInitiator.Peer
            ? $"the node closed the connection ({e.ReplyCode} {LogValue.Of(e.ReplyText, 200)})"
            : $"the connection failed ({LogValue.Of(Innermost(e.Exception)?.Message ?? e.ReplyText, 200)}; heartbeat {connection.Heartbeat.TotalSeconds:F0} s)";
        logger.LogWarning("Gave up broker node {Node}: {Reason}; reconnecting through the next of RabbitMq:ClusterNodes", Node(connection), why);
        connections.GiveUp(connection.Endpoint.HostName, connection.Endpoint.Port);
        return Task.CompletedTask;
    }

    /// <summary>
    /// MassTransit may hold more than one connection to a node; when they fail together, one line says so, not one
    /// per connection.
    /// </summary>
    private bool FirstWord(string node)
    {
        lock (_gate)
        {
            if (_lastGivenUp.Node == node && Stopwatch.GetElapsedTime(_lastGivenUp.At) < TimeSpan.FromSeconds(30))
            {
                return false;
            }

            _lastGivenUp = (node, Stopwatch.GetTimestamp());
            return true;
        }
    }

    private static string Node(IConnection connection) => $"{connection.Endpoint.HostName}:{connection.Endpoint.Port}";

    private static Exception? Innermost(Exception? e)
    {
        while (e?.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
