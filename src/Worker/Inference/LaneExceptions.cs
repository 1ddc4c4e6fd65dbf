namespace AkiDb.Queue.Worker.Inference;

/// <summary>The lane could not take the batch (not started, restarting, stopping). The batch is retried unchanged.</summary>
public sealed class LaneUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Running the batch failed: the process crashed, hung past its deadline, broke the protocol, or the runtime
/// reported an error. Any text in the batch may be to blame, so the scheduler isolates before it blames.
/// </summary>
public sealed class BatchFailedException(BatchFailureReason reason, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What failed; its <see cref="BatchFailureReasons.Tag"/> is the metric label.</summary>
    public BatchFailureReason Reason { get; } = reason;
}

/// <summary>No lane is available and none could be started: requests go back to the queue instead of waiting in memory.</summary>
public sealed class BackendUnavailableException(string message) : Exception(message);
