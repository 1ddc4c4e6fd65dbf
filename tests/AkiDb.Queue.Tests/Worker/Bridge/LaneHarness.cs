using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Tests.Bridge;

/// <summary>A <see cref="BridgeLane"/> over fake connections: every start hands out the next one.</summary>
internal sealed class LaneHarness : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ConcurrentQueue<FakeBridgeConnection> _started = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly SemaphoreSlim _starts = new(0);

    public LaneHarness(Action<BridgeOptions>? configure = null, TimeProvider? clock = null, Action<FakeBridgeConnection>? prepare = null)
    {
        var options = new BridgeOptions
        {
            RestartBackoffInitial = TimeSpan.FromMilliseconds(1),
            RestartBackoffMax = TimeSpan.FromMilliseconds(4),
            PingInterval = TimeSpan.FromHours(1),
            DeadlineBase = TimeSpan.FromMilliseconds(50),
            DeadlinePerText = TimeSpan.Zero,
            StartTimeout = TimeSpan.FromSeconds(30),
        };
        configure?.Invoke(options);
        Prepare = prepare ?? (_ => { });
        Lane = new BridgeLane(0, options, NullLogger.Instance, new WorkerTelemetry(_services.GetRequiredService<IMeterFactory>()), Shutdown.Token, clock);
        Lane.StateChanged += lane =>
        {
            States.Enqueue(lane.State);
            Changed();
        };
    }

    public BridgeLane Lane { get; }

    public CancellationTokenSource Shutdown { get; } = new();

    public Action<FakeBridgeConnection> Prepare { get; set; }

    public IReadOnlyList<FakeBridgeConnection> Started => _started.ToList();

    /// <summary>Every state the lane announced, in order.</summary>
    public ConcurrentQueue<LaneState> States { get; } = new();

    public static ModelDefinition Model { get; } = new("m", "m.onnx", "vocab.txt", 16, PoolingMode.Mean, true, true, null, null, null, true);

    public static InferenceBatch Batch(int rows) => new()
    {
        Model = "m", Rows = rows, SequenceLength = 2, InputIds = new long[rows * 2], Lengths = Enumerable.Repeat(2, rows).ToArray(),
    };

    public Task StartAsync() => Lane.StartAsync(Connect, new InitHeader("auto", null, ["CPU"], 1, 1, 1024, "info", [], false));

    /// <summary>Waits until the lane's state satisfies <paramref name="condition"/> (the patience only stops a broken test).</summary>
    public async Task WaitForAsync(Func<BridgeLane, bool> condition)
    {
        using var cancel = new CancellationTokenSource(Patience);
        while (!condition(Lane))
        {
            var changed = NextChange();
            if (condition(Lane))
            {
                return;
            }

            await changed.WaitAsync(cancel.Token);
        }
    }

    /// <summary>Waits for the <paramref name="count"/>th connection to be started.</summary>
    public async Task<FakeBridgeConnection> WaitForStartAsync(int count)
    {
        using var cancel = new CancellationTokenSource(Patience);
        while (_started.Count < count)
        {
            await _starts.WaitAsync(cancel.Token);
        }

        return _started.ElementAt(count - 1);
    }

    public async ValueTask DisposeAsync()
    {
        await Lane.DisposeAsync();
        await _services.DisposeAsync();
    }

    private TaskCompletionSource _change = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task NextChange() => Volatile.Read(ref _change).Task;

    private void Changed() => Interlocked.Exchange(ref _change, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private FakeBridgeConnection Connect()
    {
        var connection = new FakeBridgeConnection(1000 + _started.Count);
        Prepare(connection);
        _started.Enqueue(connection);
        _starts.Release();
        return connection;
    }
}
