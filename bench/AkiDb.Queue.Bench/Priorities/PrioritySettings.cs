namespace AkiDb.Queue.Bench.Priorities;

/// <summary>Sizes of the priority scenario; <c>--quick</c> shrinks them to a smoke run.</summary>
internal sealed record PrioritySettings
{
    /// <summary>Bulk texts queued per phase: enough that at least <see cref="MinWaiting"/> still wait when the interactive window ends.</summary>
    public int BulkTexts { get; init; } = 24_000;

    public int MinWaiting { get; init; } = 10_000;

    public int WarmupTexts { get; init; } = 2_000;

    public int InteractiveRequests { get; init; } = 60;

    /// <summary>A low interactive rate: 4 requests per second.</summary>
    public TimeSpan InteractiveInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    public int ExpiredRequests { get; init; } = 20;

    public TimeSpan MaxPassOver { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Batching:BulkBatchTextsWhileInteractive in the second mixed phase: 0, bulk batches not capped (the default
    /// before 2026-12-04), against the default of 8 in the first.
    /// </summary>
    public int SecondPhaseBulkBatchTexts { get; init; }

    /// <summary>Mixed phases, each between two bulk-alone phases on the same worker.</summary>
    public int AlternatingRounds { get; init; } = 2;

    public TimeSpan Patience { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Texts per bulk message: 1 (the priorities section), or 16 as <c>akidb-queue embed</c> sends them (the path
    /// section). A message is acknowledged, and its prefetch slot freed for an interactive message, only when all its
    /// texts are done, so this decides how long an interactive message waits to be delivered.
    /// </summary>
    public int BulkTextsPerMessage { get; init; } = 1;

    /// <summary>
    /// Worker settings of the second mixed phase and its label; null: Batching:BulkBatchTextsWhileInteractive =
    /// <see cref="SecondPhaseBulkBatchTexts"/> (the priorities section's latency-throughput trade, against the default).
    /// </summary>
    public (string Label, IReadOnlyDictionary<string, string?> Worker)? SecondPhase { get; init; }

    public static PrioritySettings For(bool quick) => quick
        ? new PrioritySettings { BulkTexts = 1_500, MinWaiting = 500, WarmupTexts = 100, InteractiveRequests = 10, ExpiredRequests = 4, AlternatingRounds = 1 }
        : new PrioritySettings();
}
