namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// What a lane needs from one running bridge: send a frame, receive the next one, kill it, stop it, see it end.
/// <see cref="BridgeProcess"/> is the real one; unit tests drive the lane's supervision through a fake.
/// Deadlines are not the connection's business: <see cref="BridgeExchange"/> keeps them.
/// </summary>
internal interface IBridgeConnection : IAsyncDisposable
{
    int ProcessId { get; }

    /// <summary>Completes the moment the process is gone, whatever the reason.</summary>
    Task<BridgeExit> Exited { get; }

    /// <summary>Writes one request frame.</summary>
    Task SendAsync(byte[] header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

    /// <summary>
    /// The next reply frame. Throws <see cref="System.Threading.Channels.ChannelClosedException"/> (the cause inside)
    /// once the process closed its stdout, broke the framing or exited.
    /// </summary>
    ValueTask<BridgeFrame> ReceiveAsync(CancellationToken cancellationToken);

    /// <summary>Kills the process at once. The first reason given is reported with the exit.</summary>
    void Kill(string reason);

    /// <summary>Asks the process to exit and kills it if it has not within <paramref name="grace"/>.</summary>
    Task StopAsync(TimeSpan grace);
}
