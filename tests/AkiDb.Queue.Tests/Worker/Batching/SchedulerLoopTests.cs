using System.Diagnostics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Tests.Batching;

/// <summary>
/// The scheduler loop driven command by command, with fake lanes and recorded effects: no process, no thread, no clock
/// (the idle clock's time travels with each command), so every assertion is about what the loop decided.
/// </summary>
public sealed class SchedulerLoopTests : IDisposable
{
    private static readonly long T0 = 1_000_000;
    private readonly string _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "akidb-loop-unit", Guid.NewGuid().ToString("N"))).FullName;
    private readonly RecordedEffects _effects = new();
    private readonly EmbeddingModel _model;

    public SchedulerLoopTests()
    {
        var vocab = Path.Combine(_folder, "vocab.txt");
        File.WriteAllText(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
        var definition = new ModelDefinition("m", Path.Combine(_folder, "m.onnx"), vocab, 16, PoolingMode.Mean, true, true, null, null, null, false);
        _model = new EmbeddingModel(definition, TextTokenizer.Load(vocab, true, 16));
    }

    [Fact]
    public void Added_texts_run_at_once_on_a_free_lane_and_wait_while_none_is()
    {
        var loop = Loop();
        var lane = new FakeLane(0);
        var first = Add(loop, texts: 1);
        Assert.Empty(_effects.Started); // no lane yet

        loop.Handle(new LaneFree(lane), T0);
        var started = Assert.Single(_effects.Started);
        Assert.Same(lane, started.Lane);
        Assert.Equal(Parallelism.Wide, started.Parallelism); // alone, nothing else waiting
        Assert.Equal(1, loop.Snapshot().Running);

        Add(loop, texts: 1);
        Assert.Single(_effects.Started); // the only lane is busy: the text waits
        Assert.Equal(1, loop.Snapshot().Backlog.TotalTexts);
        Assert.False(first.IsFinished);
    }

    [Fact]
    public void A_batch_done_completes_its_jobs_and_the_lane_coming_free_takes_the_next()
    {
        var loop = Loop();
        var lane = new FakeLane(0);
        loop.Handle(new LaneFree(lane), T0);
        var first = Add(loop, texts: 2);
        var second = Add(loop, texts: 1, model: Other());
        var batch = Assert.Single(_effects.Started).Batch;

        loop.Handle(Done(lane, batch), T0 + 1);
        Assert.True(first.Completion.IsCompletedSuccessfully);
        Assert.Equal(0, loop.Snapshot().Running);
        Assert.Equal(1, loop.Snapshot().BatchesRun);
        Assert.False(second.IsFinished);

        loop.Handle(new LaneFree(lane), T0 + 2);
        Assert.Equal(2, _effects.Started.Count);
        Assert.Equal("other", _effects.Started[1].Batch.Model);
    }

    [Fact]
    public void A_batch_beside_a_running_one_is_narrow()
    {
        var loop = Loop();
        loop.Handle(new LaneFree(new FakeLane(0)), T0);
        loop.Handle(new LaneFree(new FakeLane(1)), T0);
        Add(loop, texts: 1);
        Add(loop, texts: 1, model: Other());

        Assert.Equal([Parallelism.Wide, Parallelism.Narrow], _effects.Started.Select(s => s.Parallelism));
        Assert.NotEqual(_effects.Started[0].Lane, _effects.Started[1].Lane);
    }

    [Fact]
    public void A_lane_failing_mid_batch_splits_it_in_halves_and_a_text_failing_alone_too_often_fails_its_request()
    {
        var loop = Loop(o => o.MaxAttemptsAlone = 1);
        var lane = new FakeLane(0);
        var job = Add(loop, texts: 2);
        loop.Handle(new LaneFree(lane), T0);
        var whole = _effects.Started[^1].Batch;
        Assert.Equal(2, whole.Rows.Count);

        loop.Handle(new BatchFailed(lane, whole, BatchFailure.Rejected, new BatchFailedException(BatchFailureReason.RuntimeError, "boom")), T0 + 1);
        Assert.Equal(0, loop.Snapshot().Running);
        loop.Handle(new LaneFree(lane), T0 + 2);
        var half = _effects.Started[^1].Batch;
        Assert.Single(half.Rows); // retried in halves

        loop.Handle(new BatchFailed(lane, half, BatchFailure.Rejected, new BatchFailedException(BatchFailureReason.RuntimeError, "boom again")), T0 + 3);
        var error = Assert.IsType<PoisonTextException>(job.Completion.Exception!.InnerException);
        Assert.Equal(half.Rows[0].Index, error.TextIndex);
    }

    [Fact]
    public void A_batch_its_lane_could_not_take_goes_back_first_in_line_unchanged()
    {
        var loop = Loop();
        var lane = new FakeLane(0);
        var other = new FakeLane(1);
        Add(loop, texts: 3);
        loop.Handle(new LaneFree(lane), T0);
        var batch = _effects.Started[^1].Batch;

        loop.Handle(new BatchFailed(lane, batch, BatchFailure.LaneUnavailable, new LaneUnavailableException("restarting")), T0 + 1);
        loop.Handle(new LaneFree(other), T0 + 2);
        Assert.Same(other, _effects.Started[^1].Lane);
        Assert.Equal(batch.Rows.Select(r => r.Index), _effects.Started[^1].Batch.Rows.Select(r => r.Index));
    }

    [Fact]
    public void Stopping_with_texts_waiting_cancels_them_starts_nothing_and_ends_once_the_running_batch_reports()
    {
        var loop = Loop();
        var lane = new FakeLane(0);
        var running = Add(loop, texts: 1);
        loop.Handle(new LaneFree(lane), T0);
        var batch = _effects.Started[^1].Batch;
        var waiting = Add(loop, texts: 2, model: Other());

        loop.Handle(new StopScheduling(), T0 + 1);
        Assert.IsType<OperationCanceledException>(waiting.Completion.Exception!.InnerException);
        Assert.False(loop.Finished); // a batch still runs: it is finished and answered (graceful drain)

        var late = Add(loop, texts: 1);
        loop.Handle(new LaneFree(new FakeLane(1)), T0 + 2);
        Assert.Single(_effects.Started);
        Assert.True(late.IsFinished);

        loop.Handle(Done(lane, batch), T0 + 3);
        Assert.True(running.Completion.IsCompletedSuccessfully);
        Assert.True(loop.Finished);
    }

    [Fact]
    public void Fail_waiting_fails_what_waits_and_not_what_runs()
    {
        var loop = Loop();
        var running = Add(loop, texts: 1);
        loop.Handle(new LaneFree(new FakeLane(0)), T0);
        var waiting = Add(loop, texts: 1, model: Other());

        loop.Handle(new FailWaiting(new BackendUnavailableException("down")), T0 + 1);
        Assert.IsType<BackendUnavailableException>(waiting.Completion.Exception!.InnerException);
        Assert.False(running.IsFinished);
    }

    [Fact]
    public void A_lane_going_idle_after_a_large_batch_releases_memory_once_and_comes_back()
    {
        var loop = Loop(idle: new IdleRelease(AboveTokens: 3, AfterIdle: null));
        var lane = new FakeLane(0);
        loop.Handle(new LaneFree(lane), T0);
        Add(loop, texts: 1); // [CLS] hello [SEP]: 3 padded tokens, at the threshold
        loop.Handle(Done(lane, _effects.Started[^1].Batch), T0 + 1);

        loop.Handle(new LaneFree(lane), T0 + 2);
        Assert.Equal([lane], _effects.Released);
        Assert.Equal(0, loop.Snapshot().FreeLanes); // out of rotation while it releases

        loop.Handle(new MemoryReleased(lane), T0 + 3);
        Assert.Equal(1, loop.Snapshot().FreeLanes);
        loop.Handle(new LaneFree(lane), T0 + 4);
        Assert.Single(_effects.Released);
    }

    [Fact]
    public void Quiet_after_a_burst_collects_the_heap_and_releases_the_lanes_once()
    {
        var loop = Loop(idle: new IdleRelease(int.MaxValue, TimeSpan.FromSeconds(5)));
        var lane = new FakeLane(0);
        loop.Handle(new LaneFree(lane), T0);
        loop.Handle(new Tick(T0 + Ticks(10)), T0);
        Assert.Equal(0, _effects.HeapCollections); // nothing ran yet

        Add(loop, texts: 1);
        loop.Handle(Done(lane, _effects.Started[^1].Batch), T0 + Ticks(10));
        loop.Handle(new LaneFree(lane), T0 + Ticks(10));
        loop.Handle(new Tick(T0 + Ticks(11)), 0);
        Assert.Equal(0, _effects.HeapCollections); // quiet for 1 s: not yet

        loop.Handle(new Tick(T0 + Ticks(12)), 0);
        Assert.Equal(1, _effects.HeapCollections);
        Assert.Empty(_effects.Released);

        loop.Handle(new Tick(T0 + Ticks(15)), 0);
        loop.Handle(new Tick(T0 + Ticks(30)), 0);
        Assert.Equal(1, _effects.HeapCollections);
        Assert.Equal([lane], _effects.Released);
    }

    [Fact]
    public void An_interactive_request_behind_a_backlog_starts_before_the_backlogs_later_texts()
    {
        var loop = Loop();
        var lanes = new[] { new FakeLane(0), new FakeLane(1) };
        var backlog = Enumerable.Range(0, 10).Select(j => AddDistinct(loop, texts: 16, first: 100 * j)).ToList();
        loop.Handle(new LaneFree(lanes[0]), T0);
        loop.Handle(new LaneFree(lanes[1]), T0);
        Assert.Equal(2, _effects.Started.Count); // both lanes busy with the backlog's first texts

        var query = Add(loop, texts: 1, priority: RequestPriority.Interactive);
        loop.Handle(Done(lanes[0], _effects.Started[0].Batch), T0 + 1);
        loop.Handle(new LaneFree(lanes[0]), T0 + 1);

        // The next batch to start is the interactive request's, alone; the backlog's later texts wait behind it.
        var next = _effects.Started[2].Batch;
        Assert.Same(query, Assert.Single(next.Rows).Job);
        Assert.Contains(backlog, j => !j.IsFinished);
        Assert.DoesNotContain(_effects.Started.Take(2).SelectMany(s => s.Batch.AllTexts), t => t.Job == query);
        loop.Handle(Done(lanes[0], next), T0 + 2);
        Assert.True(query.Completion.IsCompletedSuccessfully);
        Assert.True(loop.Snapshot().Backlog.TotalTexts > 0, "the backlog still waits after the interactive request was answered");
    }

    [Fact]
    public void With_a_full_prefetch_of_bulk_requests_held_one_finishes_every_batch_or_two_and_an_interactive_one_delivered_then_runs_next()
    {
        // 40 held requests (a full prefetch) of 16 texts of mixed lengths; the consumer acknowledges a message, and so
        // frees a prefetch slot for the next delivery, only when its request has finished.
        var loop = Loop();
        var lanes = new[] { new FakeLane(0), new FakeLane(1) };
        var held = Enumerable.Range(0, 40).Select(j => AddMixed(loop, texts: 16, request: j)).ToList();
        loop.Handle(new LaneFree(lanes[0]), T0);
        loop.Handle(new LaneFree(lanes[1]), T0);

        // Batches end in the order they started, each lane taking the next batch as it comes free.
        var finishedAfter = new List<int>();
        for (var done = 0; finishedAfter.Count < 5; done++)
        {
            var (lane, batch, _) = _effects.Started[done];
            loop.Handle(Done(lane, batch), T0 + done);
            finishedAfter.AddRange(Enumerable.Repeat(done + 1, held.Count(j => j.IsFinished) - finishedAfter.Count));
            loop.Handle(new LaneFree(lane), T0 + done);
            Assert.True(done < 20, "five of the held requests did not finish within 20 batches");
        }

        // The first request finishes once each of its length groups has anchored a batch (the fourth batch here), the next
        // ones about two per batch (a 32-text batch holds two requests' worth): held requests finish in arrival order,
        // not all together once most of the backlog has run.
        Assert.InRange(finishedAfter[0], 1, 4);
        Assert.InRange(finishedAfter[4], finishedAfter[0], 6);
        Assert.True(held.Take(3).All(j => j.IsFinished), "the oldest requests finish first");

        // Its slot freed, the broker delivers the interactive message waiting ahead of the bulk backlog: it starts on the
        // next lane to come free, ahead of the 500-odd bulk texts still held.
        var query = Add(loop, texts: 1, priority: RequestPriority.Interactive);
        var startedBefore = _effects.Started.Count;
        var (nextLane, nextBatch, _) = _effects.Started[finishedAfter[4]];
        loop.Handle(Done(nextLane, nextBatch), T0 + 100);
        loop.Handle(new LaneFree(nextLane), T0 + 100);
        Assert.Same(query, Assert.Single(_effects.Started[startedBefore].Batch.Rows).Job);
        Assert.True(loop.Snapshot().Backlog.TotalTexts > 300, "the bulk backlog still waits behind the interactive request");
    }

    [Fact]
    public void A_batch_goes_to_the_lane_that_came_free_last_so_lone_requests_stay_on_one_warm_lane()
    {
        var loop = Loop();
        var (first, second) = (new FakeLane(0), new FakeLane(1));
        loop.Handle(new LaneFree(first), T0);
        loop.Handle(new LaneFree(second), T0);

        for (var i = 0; i < 3; i++)
        {
            AddDistinct(loop, texts: 1, first: i);
            var started = _effects.Started[^1];
            Assert.Same(second, started.Lane);
            loop.Handle(Done(second, started.Batch), T0);
            loop.Handle(new LaneFree(second), T0);
        }

        Assert.Equal(3, _effects.Started.Count);
        Assert.Equal(2, loop.Snapshot().FreeLanes);
    }

    [Fact]
    public void A_lone_batch_below_the_wide_size_floor_runs_narrow_and_one_at_the_floor_runs_wide()
    {
        var loop = Loop(o => o.WideFromTokens = new BatchingOptions().WideFromTokens);
        var lane = new FakeLane(0);
        loop.Handle(new LaneFree(lane), T0);

        Add(loop, texts: 1); // 3 padded tokens, alone, nothing waiting
        var small = Assert.Single(_effects.Started);
        Assert.Equal(Parallelism.Narrow, small.Parallelism);
        loop.Handle(Done(lane, small.Batch), T0);
        loop.Handle(new LaneFree(lane), T0);

        // 32 texts (one full batch) of 12 ids: 384 padded tokens, the default floor.
        var job = new EmbedJob(32, default);
        loop.Handle(new AddTexts(_model, job, Enumerable.Range(0, 32).Select(i => new TextToAdd(i, [2, .. Enumerable.Range(0, 10).Select(k => 2000L + (i * 10) + k), 3], null)).ToList()), T0);
        var large = _effects.Started[^1];
        Assert.Equal(384, large.Batch.PaddedTokens);
        Assert.Equal(Parallelism.Wide, large.Parallelism);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static long Ticks(int seconds) => seconds * Stopwatch.Frequency;

    private SchedulerLoop Loop(Action<BatchingOptions>? configure = null, IdleRelease? idle = null)
    {
        // Every lone batch may run wide here (the fake texts are a few tokens); the size floor has its own tests.
        var options = new BatchingOptions { WideFromTokens = 0 };
        configure?.Invoke(options);
        return new SchedulerLoop(options, idle ?? IdleRelease.Never, _effects, NullLogger.Instance);
    }

    [Fact]
    public void An_interactive_request_answered_from_the_cache_makes_the_next_bulk_batches_short()
    {
        var loop = Loop();
        AddDistinct(loop, texts: 64, first: 0);
        loop.Handle(new LaneFree(new FakeLane(0)), T0);
        Assert.Equal(32, _effects.Started[^1].Batch.Rows.Count); // no interactive traffic: a full batch

        loop.Handle(new InteractiveAnsweredFromCache(), T0);
        loop.Handle(new LaneFree(new FakeLane(1)), T0);
        Assert.Equal(8, _effects.Started[^1].Batch.Rows.Count);
    }

    private EmbeddingModel Other() => new(_model.Definition with { Name = "other" }, TextTokenizer.Load(_model.Definition.VocabPath, true, 16));

    private EmbedJob Add(SchedulerLoop loop, int texts, EmbeddingModel? model = null, RequestPriority priority = RequestPriority.Normal)
    {
        var job = new EmbedJob(texts, default, new RequestUrgency(priority, null));
        loop.Handle(new AddTexts(model ?? _model, job, Enumerable.Range(0, texts).Select(i => new TextToAdd(i, [2, 4 + i, 3], null)).ToList()), T0);
        return job;
    }

    // Texts distinct across requests (Add's repeat across requests, and the loop computes a repeated text once).
    private EmbedJob AddDistinct(SchedulerLoop loop, int texts, int first)
    {
        var job = new EmbedJob(texts, default);
        loop.Handle(new AddTexts(_model, job, Enumerable.Range(0, texts).Select(i => new TextToAdd(i, [2, 1000 + first + i, 3], null)).ToList()), T0);
        return job;
    }

    // Texts of mixed lengths (3 to 14 ids), distinct across requests.
    private EmbedJob AddMixed(SchedulerLoop loop, int texts, int request)
    {
        var job = new EmbedJob(texts, default);
        var added = Enumerable.Range(0, texts)
            .Select(i => new TextToAdd(i, [2, .. Enumerable.Range(0, 1 + ((request * 7) + (i * 5)) % 12).Select(k => (long)(1000 + (request * 100) + (i * 13) + k)), 3], null))
            .ToList();
        loop.Handle(new AddTexts(_model, job, added), T0);
        return job;
    }

    private static BatchDone Done(IInferenceLane lane, PlannedBatch batch) =>
        new(lane, batch, batch.Rows.Select(_ => new float[] { 1f, 0f }).ToArray(), new BatchRun(1, 0, 1, "CPU"));

    private sealed class RecordedEffects : ISchedulerEffects
    {
        public List<(IInferenceLane Lane, PlannedBatch Batch, Parallelism Parallelism)> Started { get; } = [];

        public List<IInferenceLane> Released { get; } = [];

        public int HeapCollections { get; private set; }

        public void StartBatch(IInferenceLane lane, PlannedBatch batch, Parallelism parallelism) => Started.Add((lane, batch, parallelism));

        public void ReleaseMemory(IInferenceLane lane) => Released.Add(lane);

        public void CollectHeap() => HeapCollections++;
    }

    private sealed class FakeLane(int id) : IInferenceLane
    {
        public int Id => id;

        public bool IsReady => true;

        public Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the loop never runs a batch itself");

        public Task ReleaseMemoryAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
