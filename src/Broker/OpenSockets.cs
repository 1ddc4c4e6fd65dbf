using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace AkiDb.Queue.Broker;

/// <summary>
/// The sockets of the broker connections open now, by local port, so that a connection can be cut the way a network
/// failure cuts it (<see cref="BrokerConnections.Sever"/>).
/// </summary>
/// <remarks>
/// Why not RabbitMQ.Client's own close or abort: that shutdown is initiated by the application, and MassTransit 8.5
/// ignores connection and channel shutdowns the application initiated (they are how MassTransit closes its own), so the
/// connection context stays current for the publish side, and results wait for a dead connection until their confirm
/// deadline gives up the next node too (seen in the report run: a second give-up, 37-40 s to resume instead of about 20).
/// A socket closed under RabbitMQ.Client ends its read loop with a shutdown the library initiated, which MassTransit
/// handles as a lost connection, for every endpoint, at once: the case a killed node already shows.
/// </remarks>
internal sealed class OpenSockets
{
    private readonly ConcurrentDictionary<int, Socket> _byLocalPort = new();

    /// <summary>Registers a connected socket; its local port (the key to remove it by), or 0 when it has none.</summary>
    public int Add(Socket socket)
    {
        if (socket.LocalEndPoint is IPEndPoint local)
        {
            _byLocalPort[local.Port] = socket;
            return local.Port;
        }

        return 0;
    }

    /// <summary>Forgets <paramref name="socket"/>, registered on <paramref name="localPort"/> (not another socket that took the port since).</summary>
    public void Remove(int localPort, Socket socket) =>
        _byLocalPort.TryRemove(new KeyValuePair<int, Socket>(localPort, socket));

    /// <summary>Shuts the socket on <paramref name="localPort"/> down and closes it; false when no such socket is open.</summary>
    public bool Sever(int localPort)
    {
        if (!_byLocalPort.TryRemove(localPort, out var socket))
        {
            return false;
        }

        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        socket.Dispose();
        return true;
    }
}
