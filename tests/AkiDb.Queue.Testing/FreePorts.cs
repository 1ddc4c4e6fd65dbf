using System.Net;
using System.Net.Sockets;

namespace AkiDb.Queue.Testing;

/// <summary>Loopback ports nothing listens on, for a private broker.</summary>
public static class FreePorts
{
    // Below the kernel's ephemeral range (32768+ on Linux), so an outgoing connection cannot take a port between the
    // pick and the broker's bind; rabbitmqctl's own 35672-35682 are above it too.
    private const int Min = 20000;
    private const int Max = 32767;

    /// <summary><paramref name="count"/> distinct ports that accepted a bind just now.</summary>
    public static int[] Take(int count)
    {
        var ports = new List<int>();
        var start = Random.Shared.Next(Min, Max);
        for (var i = 0; ports.Count < count && i <= Max - Min; i++)
        {
            var port = Min + ((start - Min + i) % (Max - Min + 1));
            if (IsFree(port))
            {
                ports.Add(port);
            }
        }

        return ports.Count == count ? [.. ports] : throw new InvalidOperationException($"No {count} free loopback ports between {Min} and {Max}.");
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>True once something accepts a TCP connection on the loopback port.</summary>
    public static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
