using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Which session a batch gets. A batch runs wide only when it would otherwise leave cores idle (no other batch is
/// running and nothing else waits) and it is big enough for more threads to pay (<c>Batching:WideFromTokens</c>). A
/// batch that starts while a wide one runs is narrow, so two wide batches never overlap; the overlap of one wide and
/// one narrow batch lasts at most the wide batch's remainder.
/// </summary>
/// <remarks>
/// Why a size floor: ONNX Runtime's pool threads block between parallel sections unless they spin (off by default,
/// <c>WideAllowSpinning</c>), and on a 2-core VM waking them costs more than a small batch's parallel work saves. fp32
/// MiniLM through the bridge's runtime, 2 threads not spinning against 1 thread, 50 ms idle before each run (medians
/// of 40): 1x12 tokens 5.2 against 3.6 ms, 1x192 28.3 against 26.1, 2x128 38.4 against 34.1, 4x128 48.0 against
/// 69.5, 8x128 81.5 against 134.2. Wide wins from about 512 padded tokens; below 256 it only costs CPU.
/// </remarks>
public static class ParallelismPolicy
{
    public static Parallelism Choose(bool adaptive, int batchesRunning, bool othersWaiting, int paddedTokens = int.MaxValue, int wideFromTokens = 0) =>
        adaptive && batchesRunning == 0 && !othersWaiting && paddedTokens >= wideFromTokens ? Parallelism.Wide : Parallelism.Narrow;
}
