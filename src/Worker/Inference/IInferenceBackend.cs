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
}
