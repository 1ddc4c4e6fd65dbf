using System.Net;
using System.Net.Sockets;
using RabbitMQ.Client;

namespace AkiDb.Queue.Broker;

/// <summary>
/// A socket to a broker node that is closed when the node sends nothing within a deadline of the TCP connect: the
/// connection attempt then fails, and the next one starts with the next node (<see cref="BrokerConnections.GiveUp"/>).
/// It also tells its owner when an open connection ends after the node had been silent for longer than a heartbeat
/// (<paramref name="heartbeat"/>): the node froze or the link was cut, and the next connection should not start there.
/// </summary>
/// <remarks>
/// Why: a frozen node (SIGSTOP, a paused VM) still completes TCP handshakes, its kernel answers, and never sends AMQP's
/// <c>connection.start</c>. RabbitMQ.Client 7.2 waits for that frame with no deadline of its own (its handshake timeout
/// is set as the socket's read timeout, which asynchronous reads ignore; only a cancellation token ends the wait), and
/// MassTransit 8.5 opens its connections without a token (<c>ConnectionContextFactory.CreateConnection</c>). One
/// attempt that meets a frozen node therefore hangs for as long as the node stays silent, and, since MassTransit holds one
/// pending connection for every endpoint, the worker sits with no consumer and makes no other attempt: seen in the soak
/// run, and reproduced by freezing the worker's node before its first result (QuietFaultTests). Once the node has sent
/// anything the deadline is off: the later handshake steps are bounded by RabbitMQ.Client's handshake timeout, and an
/// open connection by heartbeats.
/// <para>Why the silence at the end: RabbitMQ.Client ends a connection whose node missed two heartbeats, and MassTransit then
/// reconnects through the same node list. Without this, a connection nobody watched (the worker learns its connection
/// from the first message received through it) was reconnected to the frozen node first and waited out the handshake
/// deadline there: 37 s to resume when the node froze before the worker's first result, of a 30 s target. A healthy
/// node sends a heartbeat every half heartbeat interval and answers a close, so a long silence at the end means a node
/// that stopped talking, whoever noticed it.</para>
/// </remarks>
internal sealed class HandshakeDeadlineTcpClient(
    Socket socket,
    TimeSpan deadline,
    Action onSilent,
    OpenSockets? open = null,
    TimeSpan heartbeat = default,
    Action<TimeSpan>? onEndedSilent = null,
    TimeProvider? clock = null) : TcpClientAdapter(socket)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private Timer? _timer;
    private int _state; // 0 connecting or waiting, 1 heard from the node, 2 given up
    private int _ended;
    private long _lastHeard;
    private int _localPort;

    public override async Task ConnectAsync(IPAddress ep, int port, CancellationToken cancellationToken = default)
    {
        await base.ConnectAsync(ep, port, cancellationToken).ConfigureAwait(false);
        _localPort = open?.Add(Client) ?? 0;
        _timer = new Timer(_ => Expire(), null, deadline, Timeout.InfiniteTimeSpan);
    }

    public override NetworkStream GetStream() => new HeardStream(Client, this);

    public override void Close()
    {
        Ended();
        base.Close();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Ended();
        }

        base.Dispose(disposing);
    }

    /// <summary>The first close or dispose: the socket leaves the open ones, and a silent end is reported.</summary>
    private void Ended()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }

        _timer?.Dispose();
        open?.Remove(_localPort, Client);
        if (Volatile.Read(ref _state) == 1 && heartbeat > TimeSpan.Zero && onEndedSilent is not null &&
            _clock.GetElapsedTime(Volatile.Read(ref _lastHeard)) is var silence && silence > heartbeat)
        {
            onEndedSilent(silence);
        }
    }

    private void Heard()
    {
        Volatile.Write(ref _lastHeard, _clock.GetTimestamp());
        if (Volatile.Read(ref _state) == 0 && Interlocked.CompareExchange(ref _state, 1, 0) == 0)
        {
            _timer?.Dispose();
        }
    }

    private void Expire()
    {
        if (Interlocked.CompareExchange(ref _state, 2, 0) != 0)
        {
            return;
        }

        onSilent();
        try
        {
            // The pending read fails, RabbitMQ.Client ends the attempt ("connection.start was never received").
            Client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        Client.Dispose();
    }

    /// <summary>The socket's stream, telling its owner when the first bytes arrive.</summary>
    private sealed class HeardStream(Socket socket, HandshakeDeadlineTcpClient owner) : NetworkStream(socket, ownsSocket: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read > 0)
            {
                owner.Heard();
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(Span<byte> buffer)
        {
            var read = base.Read(buffer);
            if (read > 0)
            {
                owner.Heard();
            }

            return read;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    }
}
