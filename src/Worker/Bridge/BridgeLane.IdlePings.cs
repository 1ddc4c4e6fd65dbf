using System.Diagnostics;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// The lane's idle health check: a ping when no request has used the process for <c>Bridge:PingInterval</c> (this clock
/// is the process's liveness, not the scheduler's idle: that one is <see cref="Batching.IdleMemory"/>), and the ping the
/// scheduler asks for when the lane goes idle after a large batch, since a ping is when the bridge releases memory.
/// </summary>
internal sealed partial class BridgeLane
{
    /// <summary>Pings the bridge now instead of at the next idle tick: a ping is when the bridge releases memory.</summary>
    public async Task ReleaseMemoryAsync(CancellationToken cancellationToken)
    {
        if (_gate.Wait(0, cancellationToken))
        {
            await PingAsync();
        }
    }

    private async Task PingWhileIdleAsync()
    {
        using var timer = new PeriodicTimer(_options.PingInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity)) >= _options.PingInterval && _gate.Wait(0))
                {
                    await PingAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    /// <summary>One idle health check; the caller holds the gate.</summary>
    private async Task PingAsync()
    {
        try
        {
            if (State.Session is { } session)
            {
                var (rss, released) = await _client.PingAsync(session, _stopping.Token);
                if (released is > 0)
                {
                    _telemetry.BridgeMemoryReleased.Add(released.Value);
                    _logger.LogInformation("Bridge lane {Lane} gave back {ReleasedMiB:F1} MiB while idle; {RssMiB:F1} MiB resident now",
                        Id, released.Value / 1048576.0, (rss ?? 0) / 1048576.0);
                }
            }
        }
        catch (Exception e) when (e is BridgeTimeoutException or BridgeExitedException or BridgeProtocolException)
        {
            _logger.LogWarning("Bridge lane {Lane} failed its idle health check: {Error}", Id, e.Message);
        }
        finally
        {
            Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
            _gate.Release();
        }
    }
}
