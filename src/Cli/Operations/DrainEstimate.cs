namespace AkiDb.Queue.Cli.Operations;

/// <summary>
/// How fast the worker drains its queue, from what <c>status</c> itself saw in a sampling window: results counted
/// on the result exchanges, and the queue depth at both ends. The broker's own rates read 0.0 between its
/// statistics ticks, so they are not used.
/// </summary>
internal sealed record DrainEstimate(double Seconds, int Requests, int Texts, long ReadyAtStart, long ReadyAtEnd)
{
    public double RequestsPerSecond => Seconds > 0 ? Requests / Seconds : 0;

    public double TextsPerSecond => Seconds > 0 ? Texts / Seconds : 0;

    /// <summary>Time to answer what is queued now at the rate seen; null when nothing was answered while requests wait.</summary>
    public TimeSpan? Eta => ReadyAtEnd == 0 ? TimeSpan.Zero
        : RequestsPerSecond > 0 ? TimeSpan.FromSeconds(ReadyAtEnd / RequestsPerSecond)
        : null;

    /// <summary>Texts still queued, assuming queued requests hold as many texts as those answered.</summary>
    public long? TextsQueued => Requests > 0 ? (long)Math.Round(ReadyAtEnd * (double)Texts / Requests) : null;

    public string Describe()
    {
        var rates = $"answered {Texts} texts ({Requests} requests) in {Seconds:F1} s: {TextsPerSecond:F1} texts/s, {RequestsPerSecond:F1} requests/s";
        var eta = Eta switch
        {
            { } zero when zero == TimeSpan.Zero => "the queue is empty",
            { } time => $"ETA {Format(time)} for {ReadyAtEnd} queued requests" + (TextsQueued is { } texts ? $" (about {texts} texts)" : ""),
            null => $"no ETA: {ReadyAtEnd} requests wait and none was answered",
        };
        return $"{rates}; {eta}.";
    }

    private static string Format(TimeSpan time) =>
        time.TotalHours >= 1 ? $"{(int)time.TotalHours} h {time.Minutes} min"
        : time.TotalMinutes >= 1 ? $"{(int)time.TotalMinutes} min {time.Seconds} s"
        : $"{time.TotalSeconds:F0} s";
}
