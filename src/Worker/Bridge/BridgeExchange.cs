using System.Threading.Channels;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// One request and its reply over a bridge connection, within a deadline. A missed deadline, a broken frame or an
/// abandoned request kills the process: a late reply would otherwise be read as the answer to the next request.
/// </summary>
internal static class BridgeExchange
{
    /// <summary>Sends <c>init</c> and waits for <c>ready</c>.</summary>
    public static async Task<BridgeReply> InitializeAsync(
        this IBridgeConnection connection, InitHeader init, TimeSpan timeout, CancellationToken cancellationToken, TimeProvider? clock = null)
    {
        var (reply, _) = await ExchangeAsync(connection, BridgeJsonContext.Serialize(init), ReadOnlyMemory<byte>.Empty, expectedId: null, timeout, "start-up", clock, cancellationToken);
        return reply.Type switch
        {
            BridgeReplyType.Ready => reply,
            BridgeReplyType.Error => throw new InvalidOperationException($"The bridge could not start: {reply.Code}: {reply.Message}"),
            _ => throw Broken(connection, new BridgeProtocolException($"Expected 'ready' from the bridge, got '{BridgeProtocol.Name(reply.Type)}'.")),
        };
    }

    /// <summary>
    /// Sends a request frame and returns the reply with the same id, or kills the process and throws
    /// <see cref="BridgeTimeoutException"/> once <paramref name="deadline"/> has passed on <paramref name="clock"/>
    /// (<see cref="RunningClock"/> by default: time this worker spent frozen is not the bridge's fault).
    /// </summary>
    public static Task<(BridgeReply Reply, ReadOnlyMemory<byte> Payload)> RequestAsync(
        this IBridgeConnection connection, byte[] header, ReadOnlyMemory<byte> payload, long id, TimeSpan deadline, CancellationToken cancellationToken, TimeProvider? clock = null) =>
        ExchangeAsync(connection, header, payload, id, deadline, "request", clock, cancellationToken);

    private static async Task<(BridgeReply Reply, ReadOnlyMemory<byte> Payload)> ExchangeAsync(
        IBridgeConnection connection, byte[] header, ReadOnlyMemory<byte> payload, long? expectedId, TimeSpan deadline, string what,
        TimeProvider? clock, CancellationToken cancellationToken)
    {
        clock ??= RunningClock.Instance;
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var started = clock.GetTimestamp();
        var exchange = SendAndReceiveAsync(connection, header, payload, abandon.Token);
        try
        {
            if (await WithinDeadlineAsync(exchange, clock, started, deadline, cancellationToken) is not { } frame)
            {
                connection.Kill($"missed its {deadline.TotalMilliseconds:F0} ms {what} deadline");
                await abandon.CancelAsync();
                await ((Task)exchange).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                throw new BridgeTimeoutException($"The bridge (pid {connection.ProcessId}) missed its {deadline.TotalMilliseconds:F0} ms {what} deadline and was killed.");
            }

            var reply = BridgeJsonContext.ParseReply(frame.Header);
            if (expectedId is { } id && reply.Id != id)
            {
                throw new BridgeProtocolException($"Reply id {reply.Id} does not match request id {id}.");
            }

            return (reply, frame.Payload);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller gave up mid-request: the reply may still come and would be read as the answer to the next
            // request, so this process can no longer be trusted.
            connection.Kill("request abandoned by the worker");
            throw;
        }
        catch (BridgeProtocolException e)
        {
            throw Broken(connection, e);
        }
        catch (Exception e) when (e is ChannelClosedException or IOException or ObjectDisposedException)
        {
            // Usually the process is already dying; one that closed its stdout but lives on is killed here.
            if (await Task.WhenAny(connection.Exited, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)) != connection.Exited)
            {
                connection.Kill("closed its stdout but kept running");
            }

            var exit = await connection.Exited;
            throw new BridgeExitedException($"The bridge (pid {connection.ProcessId}) exited during a {what}: {exit}", e.InnerException ?? e);
        }
    }

    private static async Task<BridgeFrame> SendAndReceiveAsync(IBridgeConnection connection, byte[] header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await connection.SendAsync(header, payload, cancellationToken);
        return await connection.ReceiveAsync(cancellationToken);
    }

    /// <summary>
    /// The exchange's frame, or null once the deadline has passed on <paramref name="clock"/> with no reply. The wall
    /// clock only says when to look again: after a freeze it runs ahead of <paramref name="clock"/>, and the reply that
    /// the bridge wrote meanwhile is looked for before any miss is declared.
    /// </summary>
    private static async Task<BridgeFrame?> WithinDeadlineAsync(Task<BridgeFrame> exchange, TimeProvider clock, long started, TimeSpan deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            var left = deadline - clock.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return exchange.IsCompleted ? await exchange : null;
            }

            try
            {
                return await exchange.WaitAsync(left, cancellationToken);
            }
            catch (TimeoutException)
            {
                // The wall clock's time is up; the running clock decides whether the bridge had all of it.
            }
        }
    }

    private static BridgeProtocolException Broken(IBridgeConnection connection, BridgeProtocolException e)
    {
        connection.Kill($"protocol error: {e.Message}");
        return e;
    }
}
