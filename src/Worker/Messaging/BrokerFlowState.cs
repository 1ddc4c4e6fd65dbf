using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Whether the broker is blocking this worker's connection (<c>connection.blocked</c>: a memory or disk alarm). While
/// it is, every result publish waits, so the worker cannot finish any request; readiness says so.
/// </summary>
internal sealed class BrokerFlowState(ILogger<BrokerFlowState> logger)
{
    private volatile string? _blockedReason;

    /// <summary>The broker's reason while the connection is blocked; null while it flows.</summary>
    public string? BlockedReason => _blockedReason;

    public void Blocked(string? reason)
    {
        _blockedReason = string.IsNullOrWhiteSpace(reason) ? "no reason given" : LogValue.Of(reason, 200);
        logger.LogWarning("The broker blocked this worker's connection ({Reason}): results cannot be published until it unblocks; not ready meanwhile",
            _blockedReason);
    }

    public void Unblocked()
    {
        if (_blockedReason is not null)
        {
            _blockedReason = null;
            logger.LogInformation("The broker unblocked this worker's connection");
        }
    }

    /// <summary>A new connection starts unblocked: the broker sends connection.blocked again if its alarm still holds.</summary>
    public void Reset() => _blockedReason = null;
}
