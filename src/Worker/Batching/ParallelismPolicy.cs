using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Which session a batch gets. Measured on 2 cores (fp32 MiniLM, in-process ONNX Runtime): a lone short text takes
/// 5.6 ms on 2 threads against 8.0 ms on 1, while at saturation two single-threaded sessions answer 416 texts/s
/// against 343 for one two-threaded session. So a batch runs wide only when it would otherwise leave cores idle: no
/// other batch is running and nothing else waits. A batch that starts while a wide one runs is narrow, so two wide
/// batches never overlap; the overlap of one wide and one narrow batch lasts at most the wide batch's remainder.
/// </summary>
public static class ParallelismPolicy
{
    public static Parallelism Choose(bool adaptive, int batchesRunning, bool othersWaiting) =>
        adaptive && batchesRunning == 0 && !othersWaiting ? Parallelism.Wide : Parallelism.Narrow;
}
