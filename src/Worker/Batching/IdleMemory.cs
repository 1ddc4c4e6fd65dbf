using System.Diagnostics;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// The one place "idle" is decided, for both backends, from the scheduler loop's own state (no clock of a lane's):
/// a lane going idle after a large batch releases at once; after <see cref="IdleRelease.AfterIdle"/> without a batch a
/// lane releases again (the native backend; the bridge's own idle ping does that for it); after
/// <see cref="HeapQuiet"/> without a batch the worker's heap is collected once per burst. Owned by the loop: no guard.
/// </summary>
internal sealed class IdleMemory(IdleRelease thresholds)
{
    /// <summary>Quiet time after a burst before the worker collects its own heap.</summary>
    public static readonly TimeSpan HeapQuiet = TimeSpan.FromSeconds(2);

    private readonly HashSet<int> _largeSinceRelease = [];
    private long _lastBatchEnded = Stopwatch.GetTimestamp();
    private long _batchesRun;
    private long _batchesAtHeapCollect;
    private long _batchesAtLaneRelease;

    public long BatchesRun => _batchesRun;

    /// <param name="ranToAnswer">False for a batch that failed: it restarts the quiet time but is not counted as run.</param>
    public void BatchEnded(IInferenceLane lane, PlannedBatch batch, long now, bool ranToAnswer)
    {
        _lastBatchEnded = now;
        if (!ranToAnswer)
        {
            return;
        }

        _batchesRun++;
        if (batch.PaddedTokens >= thresholds.AboveTokens)
        {
            _largeSinceRelease.Add(lane.Id);
        }
    }

    /// <summary>A lane has nothing to run: true when it should release now (it ran a large batch since its last release).</summary>
    public bool ReleaseOnGoingIdle(IInferenceLane lane) => _largeSinceRelease.Remove(lane.Id);

    /// <summary>Nothing runs or waits: what the quiet time since the last batch calls for.</summary>
    public (bool CollectHeap, bool ReleaseLanes) OnQuiet(long now)
    {
        var quiet = Stopwatch.GetElapsedTime(_lastBatchEnded, now);
        var collect = _batchesRun != _batchesAtHeapCollect && quiet >= HeapQuiet;
        var release = thresholds.AfterIdle is { } afterIdle && _batchesRun != _batchesAtLaneRelease && quiet >= afterIdle;
        if (collect)
        {
            _batchesAtHeapCollect = _batchesRun;
        }

        if (release)
        {
            _batchesAtLaneRelease = _batchesRun;
            _largeSinceRelease.Clear();
        }

        return (collect, release);
    }
}
