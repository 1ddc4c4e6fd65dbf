namespace AkiDb.Queue.Worker.Batching;

/// <summary>What waits in one worker for a batch: texts per class and the oldest request's send time.</summary>
public sealed class BacklogSnapshot
{
    private readonly int[] _texts = new int[3];

    public DateTimeOffset? OldestSentAt { get; private set; }

    /// <summary>The longest any text was passed over by higher classes before it ran, since the worker started.</summary>
    public TimeSpan LongestPassOver { get; init; }

    public int Texts(RequestPriority priority) => _texts[(int)priority - (int)RequestPriority.Background];

    public int TotalTexts => _texts.Sum();

    internal void Add(PendingText text)
    {
        _texts[(int)text.Priority - (int)RequestPriority.Background]++;
        if (OldestSentAt is null || text.Job.SentAt < OldestSentAt)
        {
            OldestSentAt = text.Job.SentAt;
        }
    }
}
