using System.Net;
using System.Net.Sockets;
using RabbitMQ.Client;

namespace AkiDb.Queue.Broker;

/// <summary>
/// A socket to a broker node that is closed when the node sends nothing within a deadline of the TCP connect: the
/// connection attempt then fails, and the next one starts with the next node (<see cref="BrokerConnections.GiveUp"/>).
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
/// </remarks>
internal sealed class HandshakeDeadlineTcpClient(Socket socket, TimeSpan deadline, Action onSilent, OpenSockets? open = null) : TcpClientAdapter(socket)
{
    private Timer? _timer;
    private int _state; // 0 connecting or waiting, 1 heard from the node, 2 given up

    public override async Task ConnectAsync(IPAddress ep, int port, CancellationToken cancellationToken = default)
    {
        await base.ConnectAsync(ep, port, cancellationToken).ConfigureAwait(false);
        open?.Add(Client);
        _timer = new Timer(_ => Expire(), null, deadline, Timeout.InfiniteTimeSpan);
    }

    public override NetworkStream GetStream() => new HeardStream(Client, this);

    public override void Close()
    {
        _timer?.Dispose();
        open?.Remove(Client);
        base.Close();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timer?.Dispose();
            open?.Remove(Client);
        }

        base.Dispose(disposing);
    }

    private void Heard()
    {
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
