namespace AkiDb.Queue.Worker.Batching;

/// <summary>How soon a request wants its answer: its class, and the moment after which the answer is useless.</summary>
/// <param name="Deadline">Null when the request gave none.</param>
public readonly record struct RequestUrgency(RequestPriority Priority, DateTimeOffset? Deadline)
{
    /// <summary>A request with neither a priority nor a deadline (the same as <c>default</c>).</summary>
    public static RequestUrgency Default => new(RequestPriority.Normal, null);

    public bool IsExpired(DateTimeOffset now) => Deadline is { } deadline && deadline <= now;
}
