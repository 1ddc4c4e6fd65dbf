using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// What the scheduler loop (<see cref="SchedulerLoop"/>) is told, through one channel, by everyone else: consumers add
/// texts, batch runs report back, lanes come free, a timer ticks, the circuit breaker and the host stop it. The loop is the
/// only reader, so these are handled one at a time, in order, without a lock.
/// </summary>
internal abstract record SchedulerCommand;

/// <summary>A request's texts that missed the cache, to batch (a consumer, after tokenising).</summary>
internal sealed record AddTexts(EmbeddingModel Model, EmbedJob Job, IReadOnlyList<TextToAdd> Texts) : SchedulerCommand;

/// <summary>One text of <see cref="AddTexts"/>: its index in the request, token ids and cache key.</summary>
internal readonly record struct TextToAdd(int Index, long[] Ids, EmbeddingCacheKey? CacheKey);

/// <summary>
/// An interactive request was answered from the cache without reaching the planner. It still waited for a prefetch
/// slot, so interactive traffic is present: bulk batches stay short for a while (the planner's interactive activity).
/// </summary>
internal sealed record InteractiveAnsweredFromCache : SchedulerCommand;

/// <summary>A lane is ready and has nothing to run (at start, after a batch, after a restart or a memory release).</summary>
internal sealed record LaneFree(IInferenceLane Lane) : SchedulerCommand;

/// <summary>A batch ran to an answer: one vector per row, for the loop to hand to the jobs.</summary>
internal sealed record BatchDone(IInferenceLane Lane, PlannedBatch Batch, float[][] Vectors, BatchRun Run) : SchedulerCommand;

/// <summary>A batch did not run to an answer; what happens to its texts depends on <see cref="Failure"/>.</summary>
internal sealed record BatchFailed(IInferenceLane Lane, PlannedBatch Batch, BatchFailure Failure, Exception Error) : SchedulerCommand;

/// <summary>A lane finished releasing idle memory.</summary>
internal sealed record MemoryReleased(IInferenceLane Lane) : SchedulerCommand;

/// <summary>Fail every text still waiting (the circuit breaker, when inference is unavailable).</summary>
internal sealed record FailWaiting(Exception Error) : SchedulerCommand;

/// <summary>The clock moved: idle decisions and the published snapshot are made on it (<c>Stopwatch</c> ticks).</summary>
internal sealed record Tick(long Timestamp) : SchedulerCommand;

/// <summary>The host is stopping: start nothing new, cancel what waits, finish what runs.</summary>
internal sealed record StopScheduling : SchedulerCommand;

/// <summary>Why a batch did not run to an answer.</summary>
internal enum BatchFailure
{
    /// <summary>The lane could not take it (restarting): the batch goes back first in line, unchanged.</summary>
    LaneUnavailable,

    /// <summary>The model failed on it: a multi-text batch is split in halves, a lone text is retried up to a bound.</summary>
    Rejected,

    /// <summary>A bug, not a bad batch: its requests were failed by the runner; nothing returns to the planner.</summary>
    Fault,
}

/// <summary>The loop's state at one moment, for gauges, health and tests.</summary>
internal sealed record SchedulerSnapshot(BacklogSnapshot Backlog, int Running, int FreeLanes, long BatchesRun, bool Stopped);
