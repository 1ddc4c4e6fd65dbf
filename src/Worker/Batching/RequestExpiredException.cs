namespace AkiDb.Queue.Worker.Batching;

/// <summary>The request's deadline passed before its texts started inference; it is answered with <c>expired</c>.</summary>
internal sealed class RequestExpiredException(DateTimeOffset deadline, DateTimeOffset now)
    : Exception($"The request's deadline {deadline:O} passed {(now - deadline).TotalMilliseconds:F0} ms before its texts could start inference; no inference was spent on it.")
{
    public DateTimeOffset Deadline { get; } = deadline;
}
