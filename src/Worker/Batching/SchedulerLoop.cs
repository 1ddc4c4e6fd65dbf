using AkiDb.Queue.Worker.Inference;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>What the loop asks the outside world to do; it never waits for any of it (the answers come back as commands).</summary>
internal interface ISchedulerEffects
{
    /// <summary>Run the batch on the lane, then report <see cref="BatchDone"/> or <see cref="BatchFailed"/> and, once the lane is ready, <see cref="LaneFree"/>.</summary>
    void StartBatch(IInferenceLane lane, PlannedBatch batch, Parallelism parallelism);

    /// <summary>Release the idle lane's memory, then report <see cref="MemoryReleased"/>.</summary>
    void ReleaseMemory(IInferenceLane lane);

    /// <summary>Collect the worker's own heap (once per burst, when it is quiet).</summary>
    void CollectHeap();
}

/// <summary>
/// The scheduler's state and its one owner: the waiting texts (<see cref="BatchPlanner"/>, pure), the lanes that are free,
/// the running count, the idle clock (<see cref="IdleMemory"/>). <see cref="Handle"/> is called by one task at a time
/// (<see cref="EmbeddingScheduler"/> reading its channel), so nothing here takes a lock or waits; every decision (which
/// batch, which lane, narrow or wide, when to release memory) is made here, in the order the commands arrived.
/// </summary>
/// <remarks>
/// New kinds of work (another priority class, a low-latency path) are new commands handled here and new rules in the
/// planner or <see cref="ParallelismPolicy"/>; the lanes and the consumers stay as they are.
/// </remarks>
internal sealed class SchedulerLoop(BatchingOptions options, IdleRelease idleRelease, ISchedulerEffects effects, ILogger logger)
{
    private readonly BatchPlanner _planner = new(options);
    private readonly IdleMemory _idle = new(idleRelease);
    private readonly List<IInferenceLane> _free = []; // ready and with nothing to run, in the order they came free (dispatch takes the last)
    private long _sequence;
    private int _running;
    private int _largeBulkRunning; // running bulk batches that were not capped (PlannedBatch.IsLargeBulk)
    private bool _stopping;

    /// <summary>Stopping and nothing running: the loop can end.</summary>
    public bool Finished => _stopping && _running == 0;

    public SchedulerSnapshot Snapshot() => new(_planner.Backlog(), _running, _free.Count, _idle.BatchesRun, _stopping);

    /// <param name="now">The <c>Stopwatch</c> timestamp the command is handled at (the idle clock's time).</param>
    public void Handle(SchedulerCommand command, long now)
    {
        switch (command)
        {
            case AddTexts add:
                Add(add);
                break;
            case InteractiveAnsweredFromCache:
                _planner.InteractiveAnsweredFromCache(DateTimeOffset.UtcNow);
                break;
            case LaneFree free:
                Free(free.Lane, mayRelease: true);
                break;
            case MemoryReleased released:
                Free(released.Lane, mayRelease: false);
                break;
            case BatchDone done:
                _running--;
                _largeBulkRunning -= done.Batch.IsLargeBulk ? 1 : 0;
                _idle.BatchEnded(done.Lane, done.Batch, now, ranToAnswer: true);
                Deliver(done);
                break;
            case BatchFailed failed:
                _running--;
                _largeBulkRunning -= failed.Batch.IsLargeBulk ? 1 : 0;
                _idle.BatchEnded(failed.Lane, failed.Batch, now, ranToAnswer: false);
                Failed(failed);
                Dispatch();
                break;
            case FailWaiting fail:
                FailAllWaiting(fail.Error);
                break;
            case Tick tick:
                OnTick(tick.Timestamp);
                break;
            case StopScheduling:
                _stopping = true;
                _free.Clear();
                FailAllWaiting(new OperationCanceledException("The worker is stopping; the request goes back to its queue."));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(command), command.GetType().Name, "not a scheduler command");
        }
    }

    private void Add(AddTexts add)
    {
        if (_stopping)
        {
            add.Job.Fail(new OperationCanceledException("The worker is stopping; the request goes back to its queue."));
            return;
        }

        foreach (var text in add.Texts)
        {
            _planner.Add(add.Model.Name, new PendingText(add.Job, text.Index, text.Ids, ++_sequence, add.Model, text.CacheKey));
        }

        Dispatch();
    }

    private void Free(IInferenceLane lane, bool mayRelease)
    {
        if (_stopping)
        {
            return;
        }

        _free.Add(lane);
        Dispatch();
        if (mayRelease && _free.Contains(lane) && _idle.ReleaseOnGoingIdle(lane))
        {
            _free.Remove(lane);
            effects.ReleaseMemory(lane);
        }
    }

    /// <summary>Gives free lanes the best batches while both last; narrow or wide is chosen here, per batch.</summary>
    private void Dispatch()
    {
        while (!_stopping && _free.Count > 0 && _planner.TryTake(_largeBulkRunning) is { } batch)
        {
            _largeBulkRunning += batch.IsLargeBulk ? 1 : 0;
            // The lane that came free last: a stream of lone requests stays on one process, whose memory and threads
            // are warm, while the other lanes sleep. Measured through the broker and the bridge, 200 lone short
            // requests one at a time, 6 alternating pairs on 2 cores: p50 7.25 against 7.86 ms, p95 11.3 against
            // 12.7 ms for the lane that came free first (round robin). At saturation every lane is busy, so the
            // order does not matter there.
            var lane = _free[^1];
            _free.RemoveAt(_free.Count - 1);
            var parallelism = ParallelismPolicy.Choose(options.AdaptiveParallelism, _running, othersWaiting: _planner.HasWork, batch.PaddedTokens, options.WideFromTokens);
            _running++;
            effects.StartBatch(lane, batch, parallelism);
        }
    }

    /// <summary>Each row's vector to its job, and to the duplicates of that row (jobs complete on their own threads).</summary>
    private static void Deliver(BatchDone done)
    {
        var rows = done.Batch.Rows;
        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].Job.SetVector(rows[i].Index, done.Vectors[i], done.Run);
        }

        foreach (var (text, row) in done.Batch.Duplicates)
        {
            text.Job.SetVector(text.Index, done.Vectors[row], done.Run);
        }
    }

    private void Failed(BatchFailed failed)
    {
        var batch = failed.Batch;
        if (_stopping && failed.Failure != BatchFailure.Fault)
        {
            // Nothing runs again once stopping: the batch's requests go back to their queue.
            FailJobs(batch.AllTexts, new OperationCanceledException("The worker is stopping; the request goes back to its queue.", failed.Error));
            return;
        }

        switch (failed.Failure)
        {
            case BatchFailure.LaneUnavailable:
                _planner.ReturnUnchanged(batch);
                break;
            case BatchFailure.Rejected:
                var givenUp = _planner.Fail(batch);
                if (batch.Rows.Count > 1)
                {
                    logger.LogWarning("A batch of {Texts} texts failed: {Error}; retrying it in halves to find the text at fault",
                        batch.Rows.Count, Telemetry.LogValue.Of(failed.Error.Message, 300));
                }
                else
                {
                    logger.LogWarning("A text of request(s) failed alone (attempt {Attempt} of {Max}): {Error}",
                        batch.Rows[0].FailuresAlone, options.MaxAttemptsAlone, Telemetry.LogValue.Of(failed.Error.Message, 300));
                }

                foreach (var text in givenUp)
                {
                    text.Job.Fail(new PoisonTextException(text.Index, batch.Rows[0].FailuresAlone, failed.Error.Message));
                }

                break;
            case BatchFailure.Fault:
                break; // the runner failed its requests; the lane stays in rotation for everyone else
        }
    }

    private void OnTick(long now)
    {
        if (_stopping || _running > 0 || _planner.HasWork)
        {
            return;
        }

        var (collectHeap, releaseLanes) = _idle.OnQuiet(now);
        if (collectHeap)
        {
            effects.CollectHeap();
        }

        // One lane's release gives back every session's memory (the native backend shares its sessions).
        if (releaseLanes && _free.Count > 0)
        {
            var lane = _free[0];
            _free.RemoveAt(0);
            effects.ReleaseMemory(lane);
        }
    }

    private void FailAllWaiting(Exception error)
    {
        List<PendingText> texts = [];
        while (_planner.TryTake() is { } batch)
        {
            texts.AddRange(batch.AllTexts);
        }

        FailJobs(texts, error);
    }

    private static void FailJobs(IEnumerable<PendingText> texts, Exception error)
    {
        foreach (var job in texts.Select(t => t.Job).Distinct())
        {
            job.Fail(error);
        }
    }
}
