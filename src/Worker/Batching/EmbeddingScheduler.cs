using System.Diagnostics;
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
/// Continuous batching. Each lane has a loop that, the moment the lane is free, takes the best batch from what is
/// waiting (<see cref="BatchPlanner"/>) and runs it. There is no timer: at low load a text runs as soon as a lane is
/// free, under load batches fill up by themselves. Tokenising happens on the consumers' threads before a text
/// arrives here, so it overlaps the batch in flight.
/// </summary>
internal sealed class EmbeddingScheduler : BackgroundService
{
    private readonly IInferenceBackend _backend;
    private readonly ModelCatalog _catalog;
    private readonly BatchingOptions _options;
    private readonly WorkerTelemetry _telemetry;
    private readonly ILogger<EmbeddingScheduler> _logger;
    private readonly EmbeddingCache? _cache;
    private readonly object _lock = new();
    private readonly BatchPlanner _planner;
    private readonly SemaphoreSlim _work = new(0);
    private long _sequence;
    private long _batchIds;
    private int _running; // batches on lanes now, under _lock: the parallelism policy's input
    private long _lastBatchEnded = Stopwatch.GetTimestamp();

    public EmbeddingScheduler(IInferenceBackend backend, ModelCatalog catalog, IOptions<BatchingOptions> options, WorkerTelemetry telemetry, ILogger<EmbeddingScheduler> logger, EmbeddingCache? cache = null)
    {
        _cache = cache;
        _backend = backend;
        _catalog = catalog;
        _options = options.Value;
        _telemetry = telemetry;
        _logger = logger;
        _planner = new BatchPlanner(_options);
    }

    /// <summary>Batches that have run to an answer since the start.</summary>
    public long BatchesRun => Interlocked.Read(ref _batchIds);

    /// <summary>True when no batch is running or waiting and none has ended for <paramref name="quiet"/>.</summary>
    public bool IsQuietFor(TimeSpan quiet)
    {
        lock (_lock)
        {
            return _running == 0 && !_planner.HasWork && Stopwatch.GetElapsedTime(_lastBatchEnded) >= quiet;
        }
    }

    /// <summary>What waits here for a batch, for the back-pressure gauges.</summary>
    public BacklogSnapshot Backlog
    {
        get
        {
            lock (_lock)
            {
                return _planner.Backlog();
            }
        }
    }

    /// <summary>
    /// Embeds the texts of one request; completes when every text has its vector, or fails with
    /// <see cref="RequestExpiredException"/> when the request's deadline passes before its texts start.
    /// </summary>
    public async Task<EmbedJobResult> EmbedAsync(EmbeddingModel model, IReadOnlyList<TokenizedText> texts, ActivityContext trace, CancellationToken cancellationToken,
        RequestUrgency urgency = default, DateTimeOffset? sentAt = null)
    {
        var job = new EmbedJob(texts.Count, trace, urgency, sentAt);
        // Cache hits skip the batch; a request whose texts all hit is answered without a lane, even while none is up.
        var lookup = _cache is { Enabled: true } ? await _cache.LookupAsync(model.Definition, texts) : null;
        var cached = lookup?.Vectors;
        if (cached is not null)
        {
            var foundAt = Stopwatch.GetTimestamp();
            for (var i = 0; i < texts.Count; i++)
            {
                if (cached[i] is { } vector)
                {
                    job.SetCached(i, vector, foundAt);
                }
            }

            if (job.IsFinished)
            {
                return await job.Completion;
            }
        }

        if (!_backend.IsAvailable)
        {
            throw new BackendUnavailableException("Inference is unavailable: no bridge process could be started.");
        }

        lock (_lock)
        {
            for (var i = 0; i < texts.Count; i++)
            {
                if (cached?[i] is null)
                {
                    _planner.Add(model.Name, new PendingText(job, i, texts[i].Ids, ++_sequence, model, lookup?.Keys[i]));
                }
            }
        }

        Wake();
        await using var registration = cancellationToken.Register(() => job.Cancel(cancellationToken));
        return await job.Completion;
    }

    /// <summary>Fails every job still waiting (not those in a running batch); the circuit breaker calls it when it opens.</summary>
    public void FailWaiting(Exception error)
    {
        List<EmbedJob> jobs = [];
        lock (_lock)
        {
            while (_planner.TryTake() is { } batch)
            {
                jobs.AddRange(batch.AllTexts.Select(t => t.Job));
            }
        }

        foreach (var job in jobs.Distinct())
        {
            job.Fail(error);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(_backend.Lanes.Select(lane => RunLaneAsync(lane, stoppingToken)));

    private void Wake()
    {
        // One wake-up per lane is enough; more would only spin the loops.
        if (_work.CurrentCount < _backend.Lanes.Count)
        {
            _work.Release();
        }
    }

    private async Task RunLaneAsync(IInferenceLane lane, CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await lane.WaitUntilReadyAsync(stoppingToken);
                PlannedBatch? batch;
                Parallelism parallelism;
                lock (_lock)
                {
                    batch = _planner.TryTake();
                    parallelism = ParallelismPolicy.Choose(_options.AdaptiveParallelism, _running, othersWaiting: _planner.HasWork);
                    if (batch is not null)
                    {
                        _running++;
                    }
                }

                if (batch is null)
                {
                    await lane.GoingIdleAsync(stoppingToken);
                    await _work.WaitAsync(stoppingToken);
                    continue;
                }

                try
                {
                    // Not cancelled by shutdown: a batch that has started is finished and answered (graceful drain).
                    await RunBatchAsync(lane, batch, parallelism);
                }
                finally
                {
                    lock (_lock)
                    {
                        _running--;
                        _lastBatchEnded = Stopwatch.GetTimestamp();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunBatchAsync(IInferenceLane lane, PlannedBatch batch, Parallelism parallelism)
    {
        var model = batch.Rows[0].Model!;

        var jobs = batch.AllTexts.Select(t => t.Job).Distinct().ToList();
        var links = jobs.Skip(1).Where(j => j.Trace != default).Take(64).Select(j => new ActivityLink(j.Trace));
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("embed batch", ActivityKind.Internal, jobs[0].Trace, links: links);
        activity?.SetTag("akidb.model", model.Name);
        activity?.SetTag("akidb.lane", lane.Id);
        activity?.SetTag("akidb.batch.size", batch.Rows.Count);
        activity?.SetTag("akidb.batch.duplicates", batch.Duplicates.Count);
        activity?.SetTag("akidb.batch.sequence_length", batch.SequenceLength);
        activity?.SetTag("akidb.batch.requests", jobs.Count);
        activity?.SetTag("akidb.batch.parallelism", parallelism == Parallelism.Wide ? "wide" : "narrow");

        var started = Stopwatch.GetTimestamp();
        try
        {
            await model.EnsureFilesAsync();
            var output = await lane.RunAsync(model.Definition, batch.ToInferenceBatch(activity?.Context ?? default, parallelism), CancellationToken.None);
            var run = new BatchRun(Interlocked.Increment(ref _batchIds), started, output.Timings.InferenceMs + output.Timings.PoolingMs, output.ExecutionProvider);
            var vectors = new float[batch.Rows.Count][];
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                vectors[i] = output.Row(i).ToArray();
                batch.Rows[i].Job.SetVector(batch.Rows[i].Index, vectors[i], run);
            }

            foreach (var (text, row) in batch.Duplicates)
            {
                text.Job.SetVector(text.Index, vectors[row], run);
            }

            _ = _cache?.Store(model.Definition, batch.Rows.ConvertAll(r => r.CacheKey), vectors);

            Record(batch, model.Name, output.Timings, output.Threads);
            activity?.SetTag("akidb.inference_ms", output.Timings.InferenceMs);
            activity?.SetTag("akidb.transport_ms", output.Timings.TransportMs);
        }
        catch (LaneUnavailableException)
        {
            lock (_lock)
            {
                _planner.ReturnUnchanged(batch);
            }

            Wake();
        }
        catch (BatchFailedException e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            _telemetry.BatchFailures.Add(1, new KeyValuePair<string, object?>("reason", e.Reason));
            IReadOnlyList<PendingText> givenUp;
            lock (_lock)
            {
                givenUp = _planner.Fail(batch);
            }

            if (batch.Rows.Count > 1)
            {
                _logger.LogWarning("A batch of {Texts} texts failed ({Reason}): {Error}; retrying it in halves to find the text at fault",
                    batch.Rows.Count, e.Reason, Telemetry.LogValue.Of(e.Message, 300));
            }
            else
            {
                _logger.LogWarning("A text of request(s) failed alone ({Reason}, attempt {Attempt} of {Max}): {Error}",
                    e.Reason, batch.Rows[0].FailuresAlone, _options.MaxAttemptsAlone, Telemetry.LogValue.Of(e.Message, 300));
            }

            foreach (var text in givenUp)
            {
                text.Job.Fail(new PoisonTextException(text.Index, batch.Rows[0].FailuresAlone, e.Message));
            }

            Wake();
        }
        catch (Exception e)
        {
            // A bug, not a bad batch: fail these requests (MassTransit retries them, then moves them to the error queue
            // with this exception) and keep the lane's loop alive for everyone else.
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            _logger.LogError(e, "Unexpected failure running a batch of {Texts} texts", batch.Rows.Count);
            foreach (var job in jobs)
            {
                job.Fail(e);
            }
        }
    }

    private void Record(PlannedBatch batch, string model, InferenceTimings timings, int threads)
    {
        var tag = new KeyValuePair<string, object?>("model", model);
        _telemetry.BatchThreads.Record(threads, tag);
        _telemetry.BatchSize.Record(batch.Rows.Count, tag);
        _telemetry.BatchTokens.Record(batch.PaddedTokens, tag);
        _telemetry.PaddingEfficiency.Record((double)batch.RealTokens / batch.PaddedTokens, tag);
        _telemetry.InferenceTime.Record(timings.InferenceMs, tag);
        _telemetry.TransportTime.Record(timings.TransportMs, tag);
        _telemetry.Capacity.RecordBatch(batch.Rows.Count + batch.Duplicates.Count, timings.InferenceMs + timings.TransportMs);
        if (batch.Duplicates.Count > 0)
        {
            _telemetry.DuplicateTexts.Add(batch.Duplicates.Count, tag);
        }
    }
}
