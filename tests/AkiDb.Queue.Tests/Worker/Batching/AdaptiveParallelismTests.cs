using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests.Batching;

/// <summary>
/// The scheduler's choice of session: a lone batch is given the wide configuration, batches that run side by side the
/// narrow one, and no switch ever puts two batches on one session at once. Lanes are fakes the test releases by hand.
/// </summary>
public sealed class AdaptiveParallelismTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "akidb-parallelism-unit", Guid.NewGuid().ToString("N"))).FullName;
    private EmbeddingScheduler? _scheduler;

    [Fact]
    public void The_policy_is_wide_only_for_a_lone_batch_with_nothing_waiting()
    {
        Assert.Equal(Parallelism.Wide, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 0, othersWaiting: false));
        Assert.Equal(Parallelism.Narrow, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 1, othersWaiting: false));
        Assert.Equal(Parallelism.Narrow, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 0, othersWaiting: true));
        Assert.Equal(Parallelism.Narrow, ParallelismPolicy.Choose(adaptive: false, batchesRunning: 0, othersWaiting: false));
    }

    [Fact]
    public void The_policy_keeps_a_lone_batch_below_the_size_floor_narrow()
    {
        Assert.Equal(Parallelism.Narrow, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 0, othersWaiting: false, paddedTokens: 383, wideFromTokens: 384));
        Assert.Equal(Parallelism.Wide, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 0, othersWaiting: false, paddedTokens: 384, wideFromTokens: 384));
        Assert.Equal(Parallelism.Wide, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 0, othersWaiting: false, paddedTokens: 3, wideFromTokens: 0));
        Assert.Equal(Parallelism.Narrow, ParallelismPolicy.Choose(adaptive: true, batchesRunning: 1, othersWaiting: false, paddedTokens: 4096, wideFromTokens: 384));
    }

    [Fact]
    public async Task A_lone_batch_runs_wide_and_one_that_starts_beside_it_runs_narrow()
    {
        var backend = new GatedBackend(lanes: 2);
        var (scheduler, model) = await StartAsync(backend);

        var first = scheduler.EmbedAsync(model, [Text(1)], default, CancellationToken.None);
        var lone = await backend.NextCallAsync();
        Assert.Equal(Parallelism.Wide, lone.Batch.Parallelism);

        var second = scheduler.EmbedAsync(model, [Text(2)], default, CancellationToken.None);
        var beside = await backend.NextCallAsync();
        Assert.Equal(Parallelism.Narrow, beside.Batch.Parallelism);
        Assert.NotEqual(lone.Lane, beside.Lane);

        beside.Complete();
        lone.Complete();
        await Task.WhenAll(first, second).WaitAsync(Patience);

        // Idle again: the next lone batch is wide again.
        var third = scheduler.EmbedAsync(model, [Text(3)], default, CancellationToken.None);
        var again = await backend.NextCallAsync();
        Assert.Equal(Parallelism.Wide, again.Batch.Parallelism);
        again.Complete();
        await third.WaitAsync(Patience);
        Assert.Equal(1, backend.MostWideAtOnce);
        Assert.Equal(1, backend.MostAtOnceOnOneLane);
    }

    [Fact]
    public async Task A_batch_taken_while_others_wait_runs_narrow()
    {
        var backend = new GatedBackend(lanes: 1);
        // One text per batch, so that three requests are three batches and two of them wait behind the first.
        var (scheduler, model) = await StartAsync(backend, o => o.MaxBatchTexts = 1, start: false);
        var requests = Enumerable.Range(1, 3).Select(i => scheduler.EmbedAsync(model, [Text(i)], default, CancellationToken.None)).ToList();
        await scheduler.StartAsync(CancellationToken.None);

        List<Parallelism> seen = [];
        for (var i = 0; i < 3; i++)
        {
            var call = await backend.NextCallAsync();
            seen.Add(call.Batch.Parallelism);
            call.Complete();
        }

        await Task.WhenAll(requests).WaitAsync(Patience);
        // The first two leave work waiting; the last one is alone with nothing behind it.
        Assert.Equal([Parallelism.Narrow, Parallelism.Narrow, Parallelism.Wide], seen);
    }

    [Fact]
    public async Task With_adaptive_parallelism_off_every_batch_is_narrow()
    {
        var backend = new GatedBackend(lanes: 2);
        var (scheduler, model) = await StartAsync(backend, o => o.AdaptiveParallelism = false);
        var request = scheduler.EmbedAsync(model, [Text(1)], default, CancellationToken.None);
        var call = await backend.NextCallAsync();
        Assert.Equal(Parallelism.Narrow, call.Batch.Parallelism);
        call.Complete();
        await request.WaitAsync(Patience);
    }

    [Fact]
    public async Task Under_a_stream_of_requests_no_two_batches_share_a_session_and_every_request_is_answered()
    {
        var backend = new GatedBackend(lanes: 3, autoComplete: true);
        var (scheduler, model) = await StartAsync(backend, o => o.MaxBatchTexts = 4);
        var random = new Random(12);
        List<Task<EmbedJobResult>> requests = [];
        for (var i = 0; i < 400; i++)
        {
            requests.Add(scheduler.EmbedAsync(model, Enumerable.Range(0, random.Next(1, 4)).Select(j => Text(i * 10 + j)).ToList(), default, CancellationToken.None));
            if (random.Next(4) == 0)
            {
                await Task.Yield();
            }
        }

        var results = await Task.WhenAll(requests).WaitAsync(Patience);
        Assert.All(results, r => Assert.All(r.Vectors, v => Assert.Equal(GatedBackend.Dimensions, v.Length)));
        Assert.True(backend.MostWideAtOnce <= 1, $"{backend.MostWideAtOnce} wide batches ran at once");
        Assert.Equal(1, backend.MostAtOnceOnOneLane);
        Assert.True(backend.Calls(Parallelism.Narrow) > 0, "a stream with several lanes busy ran no narrow batch");
    }

    private async Task<(EmbeddingScheduler Scheduler, EmbeddingModel Model)> StartAsync(GatedBackend backend, Action<BatchingOptions>? configure = null, bool start = true)
    {
        // The fake texts are a few tokens: no size floor here, so that every lone batch may run wide.
        var options = new BatchingOptions { WideFromTokens = 0 };
        configure?.Invoke(options);
        var vocab = Path.Combine(_folder, "vocab.txt");
        var onnx = Path.Combine(_folder, "m.onnx");
        await File.WriteAllTextAsync(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
        await File.WriteAllTextAsync(onnx, "not read by fake lanes");
        var embedding = new EmbeddingOptions
        {
            DefaultModel = "m",
            Models = new Dictionary<string, ModelOptions> { ["m"] = new() { OnnxPath = onnx, VocabPath = vocab } },
        };
        var catalog = new ModelCatalog(Options.Create(embedding), NullLogger<ModelCatalog>.Instance);
        _scheduler = new EmbeddingScheduler(backend, Options.Create(options), new WorkerTelemetry(_services.GetRequiredService<IMeterFactory>()),
            NullLogger<EmbeddingScheduler>.Instance);
        if (start)
        {
            await _scheduler.StartAsync(CancellationToken.None);
        }

        return (_scheduler, catalog.Default);
    }

    private static TokenizedText Text(int seed) => new([2, 4 + seed % 1000, 3], false);

    public async ValueTask DisposeAsync()
    {
        if (_scheduler is not null)
        {
            await _scheduler.StopAsync(CancellationToken.None);
            _scheduler.Dispose();
        }

        await _services.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>A call on a fake lane, held until the test completes it.</summary>
    private sealed record LaneCall(int Lane, InferenceBatch Batch, TaskCompletionSource<InferenceOutput> Result)
    {
        public void Complete() => Result.TrySetResult(GatedBackend.Output(Batch));
    }

    /// <summary>
    /// Lanes that hand every call to the test and record what ran at once: wide batches in flight and batches per lane.
    /// </summary>
    private sealed class GatedBackend(int lanes, bool autoComplete = false) : IInferenceBackend, IDisposable
    {
        public const int Dimensions = 4;
        private readonly ConcurrentQueue<LaneCall> _calls = new();
        private readonly SemaphoreSlim _called = new(0);
        private readonly Lock _gate = new();
        private readonly int[] _perLane = new int[lanes];
        private readonly Dictionary<Parallelism, int> _counts = new() { [Parallelism.Narrow] = 0, [Parallelism.Wide] = 0 };
        private int _running;
        private int _wide;

        public string Name => "fake";

        public int LaneCount => lanes;

        public IReadOnlyList<IInferenceLane> Lanes => field ??= Enumerable.Range(0, lanes).Select(i => (IInferenceLane)new Lane(i, this)).ToList();

        public bool IsAvailable => true;

        public event Action<bool>? AvailabilityChanged { add { } remove { } }

        public int MostWideAtOnce { get; private set; }

        public int MostAtOnceOnOneLane { get; private set; }

        public int Calls(Parallelism parallelism)
        {
            lock (_gate)
            {
                return _counts[parallelism];
            }
        }

        public Task WaitUntilStartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public string Describe() => "fake";

        public void Dispose() => _called.Dispose();

        public async Task<LaneCall> NextCallAsync()
        {
            Assert.True(await _called.WaitAsync(Patience), "no batch reached a lane");
            Assert.True(_calls.TryDequeue(out var call));
            return call;
        }

        public static InferenceOutput Output(InferenceBatch batch) =>
            new(new float[batch.Rows * Dimensions], Dimensions, new InferenceTimings(1, 0, 1, 0), "CPU");

        private async Task<InferenceOutput> RunAsync(int lane, InferenceBatch batch)
        {
            lock (_gate)
            {
                _counts[batch.Parallelism]++;
                _running++;
                MostAtOnceOnOneLane = Math.Max(MostAtOnceOnOneLane, ++_perLane[lane]);
                if (batch.Parallelism == Parallelism.Wide)
                {
                    MostWideAtOnce = Math.Max(MostWideAtOnce, ++_wide);
                }
            }

            try
            {
                if (autoComplete)
                {
                    await Task.Yield();
                    return Output(batch);
                }

                var call = new LaneCall(lane, batch, new TaskCompletionSource<InferenceOutput>(TaskCreationOptions.RunContinuationsAsynchronously));
                _calls.Enqueue(call);
                _called.Release();
                return await call.Result.Task;
            }
            finally
            {
                lock (_gate)
                {
                    _running--;
                    _perLane[lane]--;
                    if (batch.Parallelism == Parallelism.Wide)
                    {
                        _wide--;
                    }
                }
            }
        }

        private sealed class Lane(int id, GatedBackend backend) : IInferenceLane
        {
            public int Id => id;

            public bool IsReady => true;

            public Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Task.CompletedTask;

            public Task ReleaseMemoryAsync(CancellationToken cancellationToken) => Task.CompletedTask;

            public Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken) => backend.RunAsync(id, batch);
        }
    }
}
