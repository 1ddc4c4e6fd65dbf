using System.Diagnostics;
using System.Threading.Channels;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Continuous batching, as one loop that owns the scheduler's state (<see cref="SchedulerLoop"/>) and takes commands
/// through one channel (the design of TEI's queue and MassTransit's batch collector). Consumers post texts, batch runs
/// and lanes report back, a one-second tick drives the idle decisions. The moment a lane is free it gets the best batch
/// from what waits; there is no timer: at low load a text runs as soon as a lane is free, under load batches fill up by
/// themselves. Tokenising and the cache lookup happen on the consumers' threads before a text is posted here, so they
/// overlap the batch in flight; batches run on the thread pool (<see cref="BatchRunner"/>), never on the loop.
/// </summary>
internal sealed class EmbeddingScheduler : BackgroundService, ISchedulerEffects
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromSeconds(1);
    private readonly Channel<SchedulerCommand> _commands = Channel.CreateUnbounded<SchedulerCommand>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IInferenceBackend _backend;
    private readonly EmbeddingCache? _cache;
    private readonly BatchRunner _runner;
    private readonly WorkerTelemetry _telemetry;
    private readonly SchedulerLoop _loop;
    private readonly ILogger<EmbeddingScheduler> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private SchedulerSnapshot _latest = new(new BacklogSnapshot(), 0, 0, 0, false);

    public EmbeddingScheduler(IInferenceBackend backend, IOptions<BatchingOptions> options, WorkerTelemetry telemetry, ILogger<EmbeddingScheduler> logger, EmbeddingCache? cache = null)
    {
        _backend = backend;
        _cache = cache;
        _logger = logger;
        _telemetry = telemetry;
        _runner = new BatchRunner(telemetry, logger, cache);
        _loop = new SchedulerLoop(options.Value, backend.IdleRelease, this, logger);
    }

    /// <summary>What waits here for a batch, for the back-pressure gauges: as of the last tick (at most a second old).</summary>
    public BacklogSnapshot Backlog => Volatile.Read(ref _latest).Backlog;

    /// <summary>
    /// Embeds the texts of one request; completes when every text has its vector, or fails with
    /// <see cref="RequestExpiredException"/> when the request's deadline passes before its texts start.
    /// </summary>
    public async Task<EmbedJobResult> EmbedAsync(EmbeddingModel model, IReadOnlyList<TokenizedText> texts, ActivityContext trace, CancellationToken cancellationToken,
        RequestUrgency urgency = default, DateTimeOffset? sentAt = null)
    {
        var job = new EmbedJob(texts.Count, trace, urgency, sentAt);
        // Cache hits skip the batch; a request whose texts all hit is answered without a lane, even while none is up.
        var lookupStarted = Stopwatch.GetTimestamp();
        var lookup = _cache is { Enabled: true } ? await _cache.LookupAsync(model.Definition, texts) : null;
        List<TextToAdd> missed = new(texts.Count);
        var foundAt = lookup is null ? lookupStarted : _telemetry.RecordStage("cache", lookupStarted);
        for (var i = 0; i < texts.Count; i++)
        {
            if (lookup?.Vectors[i] is { } vector)
            {
                job.SetCached(i, vector, foundAt);
            }
            else
            {
                missed.Add(new TextToAdd(i, texts[i].Ids, lookup?.Keys[i]));
            }
        }

        if (job.IsFinished)
        {
            if (urgency.Priority == RequestPriority.Interactive)
            {
                Post(new InteractiveAnsweredFromCache());
            }

            return await job.Completion;
        }

        var posted = Stopwatch.GetTimestamp();
        if (!_backend.IsAvailable)
        {
            throw new BackendUnavailableException("Inference is unavailable: no bridge process could be started.");
        }

        Post(new AddTexts(model, job, missed));
        await using var registration = cancellationToken.Register(() => job.Cancel(cancellationToken));
        var result = await job.Completion;
        // wait: posted to the loop until the request's last batch started; batch: from then until this consumer runs
        // again (the model, the pipe, the loop delivering the vectors, the hop back to this task).
        _telemetry.Stage.Record(Stopwatch.GetElapsedTime(posted, Math.Max(posted, result.LastBatchStarted)).TotalMilliseconds, new KeyValuePair<string, object?>("stage", "wait"));
        _telemetry.Stage.Record(Stopwatch.GetElapsedTime(Math.Max(posted, result.LastBatchStarted)).TotalMilliseconds, new KeyValuePair<string, object?>("stage", "batch"));
        return result;
    }

    /// <summary>Fails every job still waiting (not those in a running batch); the circuit breaker calls it when it opens.</summary>
    public void FailWaiting(Exception error) => Post(new FailWaiting(error));

    /// <summary>The loop: every command in arrival order, on this one task, until stopping and nothing runs.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var lane in _backend.Lanes)
        {
            ReturnWhenReady(lane);
        }

        var ticks = TickAsync(_stopping.Token);
        await using (stoppingToken.Register(() => Post(new StopScheduling())))
        {
            // Not cancelled by the host: after StopScheduling the loop still takes the reports of running batches.
            await foreach (var command in _commands.Reader.ReadAllAsync(CancellationToken.None))
            {
                _loop.Handle(command, Stopwatch.GetTimestamp());
                if (command is Tick or StopScheduling)
                {
                    Volatile.Write(ref _latest, _loop.Snapshot());
                }

                if (_loop.Finished)
                {
                    break;
                }
            }
        }

        await _stopping.CancelAsync();
        await ticks;
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }

    void ISchedulerEffects.StartBatch(IInferenceLane lane, PlannedBatch batch, Parallelism parallelism) => _ = Task.Run(async () =>
    {
        Post(await _runner.RunAsync(lane, batch, parallelism));
        ReturnWhenReady(lane);
    });

    void ISchedulerEffects.ReleaseMemory(IInferenceLane lane) => _ = Task.Run(async () =>
    {
        try
        {
            await lane.ReleaseMemoryAsync(_stopping.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning("Lane {Lane} could not release idle memory: {Error}", lane.Id, e.Message);
        }
        catch (OperationCanceledException)
        {
        }

        Post(new MemoryReleased(lane));
    });

    void ISchedulerEffects.CollectHeap() => _ = Task.Run(() =>
    {
        var before = Environment.WorkingSet;
        var started = Stopwatch.GetTimestamp();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _logger.LogDebug("Idle after a burst: collected the heap in {Ms:F0} ms, resident {Before:F0} -> {After:F0} MiB",
            Stopwatch.GetElapsedTime(started).TotalMilliseconds, before / 1048576.0, Environment.WorkingSet / 1048576.0);
    });

    // Writes never fail while the loop runs (the channel is unbounded); after it ended a late report has no reader to need it.
    private void Post(SchedulerCommand command) => _commands.Writer.TryWrite(command);

    /// <summary>Puts the lane back in rotation once it is ready (at once, unless its process is restarting).</summary>
    private void ReturnWhenReady(IInferenceLane lane) => _ = Task.Run(async () =>
    {
        try
        {
            await lane.WaitUntilReadyAsync(_stopping.Token);
            Post(new LaneFree(lane));
        }
        catch (OperationCanceledException)
        {
        }
    });

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TickInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Post(new Tick(Stopwatch.GetTimestamp()));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
