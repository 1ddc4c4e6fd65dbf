namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>What became of the reply a request asked for; it decides whether the result may be parked.</summary>
internal enum ReplyOutcome
{
    /// <summary>No reply was asked for, or the destination was refused: the result is parked if nobody is bound.</summary>
    NotSent,

    /// <summary>The broker confirmed the reply into its queue: the caller has the result, so it is never parked.</summary>
    Delivered,

    /// <summary>
    /// The reply came back unroutable from a queue only its caller could read (<see cref="ReplyDestination.Decision.CallerOnly"/>):
    /// the caller has gone for good (an interrupted <c>akidb-queue embed</c>, a stopped RPC client), so parking the
    /// result would only fill the parking queue with results nobody can claim, until it refuses and stalls the worker.
    /// </summary>
    CallerGone,

    /// <summary>The reply failed otherwise (a named queue missing, refused, not confirmed in time): the result is parked if nobody is bound.</summary>
    Failed,
}
