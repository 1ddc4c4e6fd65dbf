namespace AkiDb.Queue.Worker.Inference;

/// <summary>Where inference runs: the Python bridge pool or in-process ONNX Runtime. Everything else is shared.</summary>
public interface IInferenceBackend
{
    /// <summary><c>python</c> or <c>native</c>; travels with each result.</summary>
    string Name { get; }

    /// <summary>How many lanes the backend runs, known from its options before it starts; the prefetch follows it.</summary>
    int LaneCount { get; }

    /// <summary>The lanes, once started.</summary>
    IReadOnlyList<IInferenceLane> Lanes { get; }

    /// <summary>True while at least one lane can take work.</summary>
    bool IsAvailable { get; }

    /// <summary>Raised when <see cref="IsAvailable"/> flips; the circuit breaker pauses or resumes consumption on it.</summary>
    event Action<bool>? AvailabilityChanged;

    /// <summary>
    /// Completes when the backend's start-up is over (models loaded, processes up); faults with the reason when it
    /// cannot start at all. Start-up runs while MassTransit connects; the host waits for this before it reports ready.
    /// </summary>
    Task WaitUntilStartedAsync(CancellationToken cancellationToken);

    /// <summary>A one-line description for logs and health: runtime, version, provider per model.</summary>
    string Describe();

    /// <summary>
    /// When memory is given back on idle, decided by the scheduler for every backend (<see cref="Batching.IdleMemory"/>):
    /// a lane going idle after a batch of at least this many padded tokens releases at once, and, where set, the
    /// lanes release after this long without a batch.
    /// </summary>
    IdleRelease IdleRelease => IdleRelease.Never;
}

/// <summary>A backend's memory-release thresholds (<c>Bridge:</c>/<c>Native:ReleaseMemoryAboveTokens</c>, <c>Native:ReleaseMemoryAfterIdle</c>).</summary>
public sealed record IdleRelease(int AboveTokens, TimeSpan? AfterIdle)
{
    public static IdleRelease Never { get; } = new(int.MaxValue, null);
}
