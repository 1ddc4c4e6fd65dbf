using System.Net;
using System.Net.Sockets;
using AkiDb.Queue.Broker;

namespace AkiDb.Queue.Tests;

/// <summary>
/// The socket under every broker connection: a connection that ends after its node fell silent for longer than a
/// heartbeat reports it (so the reconnection skips that node); one that ends right after the node spoke, or before it
/// ever spoke (the handshake deadline's case), does not. Real loopback sockets; only the clock is set by hand.
/// </summary>
public sealed class HandshakeDeadlineTcpClientTests
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_connection_that_ends_after_the_node_was_silent_longer_than_a_heartbeat_reports_the_silence()
    {
        var clock = new ManualClock();
        var (client, peer, silences) = await ConnectAsync(clock);
        using var node = peer;
        await HearAsync(client, peer);

        clock.Advance(TimeSpan.FromSeconds(11));
        client.Close();
        client.Dispose();

        Assert.Equal([TimeSpan.FromSeconds(11)], silences);
    }

    [Fact]
    public async Task A_connection_that_ends_within_a_heartbeat_of_the_node_speaking_reports_nothing()
    {
        var clock = new ManualClock();
        var (client, peer, silences) = await ConnectAsync(clock);
        using var node = peer;
        clock.Advance(TimeSpan.FromSeconds(30));
        await HearAsync(client, peer);

        clock.Advance(TimeSpan.FromSeconds(4));
        client.Close();

        Assert.Empty(silences);
    }

    [Fact]
    public async Task A_connection_that_never_heard_from_its_node_leaves_it_to_the_handshake_deadline()
    {
        var clock = new ManualClock();
        var (client, peer, silences) = await ConnectAsync(clock);
        using var node = peer;

        clock.Advance(TimeSpan.FromSeconds(30));
        client.Dispose();

        Assert.Empty(silences);
    }

    [Fact]
    public async Task With_heartbeats_off_no_silence_is_reported()
    {
        var clock = new ManualClock();
        var (client, peer, silences) = await ConnectAsync(clock, TimeSpan.Zero);
        using var node = peer;
        await HearAsync(client, peer);

        clock.Advance(TimeSpan.FromMinutes(5));
        client.Close();

        Assert.Empty(silences);
    }

    private static async Task<(HandshakeDeadlineTcpClient Client, Socket Peer, List<TimeSpan> Silences)> ConnectAsync(ManualClock clock, TimeSpan? heartbeat = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var silences = new List<TimeSpan>();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // The handshake deadline is far off: these tests are about the end of an open connection.
        var client = new HandshakeDeadlineTcpClient(socket, TimeSpan.FromMinutes(10), () => { }, new OpenSockets(), heartbeat ?? Heartbeat, silences.Add, clock);
        var accepted = listener.AcceptSocketAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        return (client, await accepted, silences);
    }

    /// <summary>The node sends a byte and the client reads it.</summary>
    private static async Task HearAsync(HandshakeDeadlineTcpClient client, Socket peer)
    {
        await peer.SendAsync(new byte[] { 1 });
        var buffer = new byte[1];
        Assert.Equal(1, await client.GetStream().ReadAsync(buffer));
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
