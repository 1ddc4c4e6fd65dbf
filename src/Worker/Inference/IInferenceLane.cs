using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Inference;

/// <summary>
/// One place a batch can run at a time: a bridge process, or an in-process session slot. The scheduler runs one
/// loop per lane and forms a batch only when its lane is free, so there is no fixed batching delay.
/// </summary>
public interface IInferenceLane
{
    int Id { get; }

    bool IsReady { get; }

    /// <summary>Completes when the lane can take a batch; waits through restarts.</summary>
    Task WaitUntilReadyAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Runs a batch. Throws <see cref="LaneUnavailableException"/> when the lane could not take it (the batch is not to
    /// blame) and <see cref="BatchFailedException"/> when running it failed (the batch may be to blame).
    /// </summary>
    Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Gives back the memory the lane's runtime kept after a large batch (ONNX Runtime's arena, the heap). The scheduler
    /// decides when (<see cref="Batching.IdleMemory"/>) and calls it only while the lane is idle and taken out of rotation.
    /// </summary>
    Task ReleaseMemoryAsync(CancellationToken cancellationToken);
}
