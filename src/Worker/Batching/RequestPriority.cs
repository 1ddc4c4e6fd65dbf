namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// The class a request is served in. Higher values overtake lower ones in the planner; <see cref="Normal"/> is zero so
/// that a default value means what a request without a priority gets.
/// </summary>
public enum RequestPriority
{
    /// <summary>JSON <c>"priority": "low"</c> or AMQP priority 0-2: re-indexing, backfills.</summary>
    Background = -1,

    /// <summary>Neither high nor low: today's behaviour, first in, first out.</summary>
    Normal = 0,

    /// <summary>JSON <c>"priority": "high"</c> or AMQP priority 7 and above: a caller is waiting for the answer.</summary>
    Interactive = 1,
}
