namespace AkiDb.Queue.Worker.Inference;

/// <summary>Where inference runs: the Python bridge pool or in-process ONNX Runtime. Everything else is shared.</summary>
public interface IInferenceBackend
{
    /// <summary><c>python</c> or <c>native</c>; travels with each result.</summary>
    string Name { get; }

    IReadOnlyList<IInferenceLane> Lanes { get; }

    /// <summary>True while at least one lane can take work.</summary>
    bool IsAvailable { get; }

    /// <summary>Raised when <see cref="IsAvailable"/> flips; the circuit breaker pauses or resumes consumption on it.</summary>
    event Action<bool>? AvailabilityChanged;

    /// <summary>A one-line description for logs and health: runtime, version, provider per model.</summary>
    string Describe();
}
