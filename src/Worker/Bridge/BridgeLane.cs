using System.Diagnostics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// One supervised bridge process slot. The supervisor starts the process, restarts it with exponential backoff
/// whenever it ends (until shutdown begins), pings it while idle, and holds the lane's state (<see cref="LaneState"/>,
/// swapped atomically). Batches run one at a time through <see cref="BridgeClient"/>.
/// </summary>
internal sealed partial class BridgeLane : IInferenceLane, IAsyncDisposable
{
    private readonly BridgeOptions _options;
    private readonly ILogger _logger;
    private readonly WorkerTelemetry _telemetry;
    private readonly TimeProvider _clock;
    private readonly BridgeClient _client;
    private readonly CancellationToken _shutdown;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstStart = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LaneState _state = new LaneStarting(default, LaneState.NewReadiness());
    private BridgeReply? _lastReady;
    private Task? _supervisor;
    private Task? _pinger;
    private long _lastActivity = Stopwatch.GetTimestamp();
    private int _stopped;

    /// <param name="shutdown">Cancelled when the host begins to shut down: a process that ends after that is not replaced.</param>
    /// <param name="clock">Measures bridge deadlines; <see cref="RunningClock"/> unless a test says otherwise.</param>
    public BridgeLane(int id, BridgeOptions options, ILogger logger, WorkerTelemetry telemetry, CancellationToken shutdown, TimeProvider? clock = null)
    {
        Id = id;
        _options = options;
        _logger = logger;
        _telemetry = telemetry;
        _shutdown = shutdown;
        _clock = clock ?? RunningClock.Instance;
        _client = new BridgeClient(id, options, _clock, logger);
    }

    public int Id { get; }

    internal LaneState State => Volatile.Read(ref _state);

    public bool IsReady => State is LaneReady;

    public int ConsecutiveStartFailures => State.Counters.ConsecutiveStartFailures;

    public int Restarts => State.Counters.Restarts;

    public TimeSpan? LastRecovery => State.Counters.LastRecovery;

    /// <summary>The process's pid while one is ready; tests use it to inject faults.</summary>
    public int? ProcessId => State.Session?.Connection.ProcessId;

    /// <summary>What the last ready handshake reported; kept after that process ends.</summary>
    public BridgeReply? LastReady => Volatile.Read(ref _lastReady);

    /// <summary>Raised on the supervisor's thread after every change of readiness or start failure.</summary>
    public event Action<BridgeLane>? StateChanged;

    /// <summary>Starts supervising; the task completes after the first start attempt, and faults if it failed.</summary>
    /// <param name="connect">Launches one bridge process; called again for every restart.</param>
    public Task StartAsync(Func<IBridgeConnection> connect, InitHeader init)
    {
        _supervisor = Task.Run(() => SuperviseAsync(connect, init));
        _pinger = Task.Run(PingWhileIdleAsync);
        return _firstStart.Task;
    }

    public async Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        await State.Readiness.Task.WaitAsync(cancellationToken);

    public async Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var session = State.Session ?? throw new LaneUnavailableException($"Bridge lane {Id} is restarting.");
            var output = await _client.RunAsync(session, model, batch, cancellationToken);

            Swap(s => s.Counters.ConsecutiveFailures == 0 ? s : s with { Counters = s.Counters with { ConsecutiveFailures = 0 } });
            return output;
        }
        finally
        {
            Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
            _gate.Release();
        }
    }

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (State.Session is { } session)
        {
            await session.Connection.StopAsync(TimeSpan.FromSeconds(5));
        }

        await Task.WhenAll(new[] { _supervisor, _pinger }.OfType<Task>()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        // Stopping is idempotent; the token source and gate are left to the GC because a late ping or a supervisor
        // still unwinding may touch them after the host disposed this lane.
        await StopAsync();
    }

    private bool MayStartAnother => !_stopping.IsCancellationRequested && !_shutdown.IsCancellationRequested;

    private LaneState Swap(Func<LaneState, LaneState> next) => LaneState.Swap(ref _state, next);

    private async Task SuperviseAsync(Func<IBridgeConnection> connect, InitHeader init)
    {
        var token = _stopping.Token;
        long? endedAt = null;
        while (MayStartAnother)
        {
            Swap(s => new LaneStarting(s.Counters, s.Readiness));
            var connection = connect();
            BridgeReply ready;
            try
            {
                ready = await connection.InitializeAsync(init, _options.StartTimeout, token, _clock);
                if (ready.Protocol != BridgeProtocol.Version || ready.Models is null)
                {
                    throw new InvalidOperationException($"The bridge speaks protocol {ready.Protocol}; this worker speaks {BridgeProtocol.Version}.");
                }
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                await connection.DisposeAsync();
                var exit = await connection.Exited;
                var error = new InvalidOperationException($"Bridge lane {Id} failed to start: {e.Message} ({exit})", e);
                var failed = Swap(s => new LaneBackingOff(
                    s.Counters with { ConsecutiveFailures = s.Counters.ConsecutiveFailures + 1, ConsecutiveStartFailures = s.Counters.ConsecutiveStartFailures + 1 },
                    s.Readiness, _options.RestartDelay(s.Counters.ConsecutiveFailures + 1)));
                _firstStart.TrySetException(error);
                StateChanged?.Invoke(this);
                var delay = ((LaneBackingOff)failed).Delay;
                _logger.LogError("Bridge lane {Lane} failed to start ({Failures} in a row): {Error}; retrying in {Delay} ms",
                    Id, failed.Counters.ConsecutiveStartFailures, error.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            catch (Exception)
            {
                await connection.DisposeAsync();
                break;
            }

            BecomeReady(connection, ready, endedAt);
            endedAt = null;

            var ended = await connection.Exited;
            endedAt = Stopwatch.GetTimestamp();
            var replace = MayStartAnother;
            var next = Swap(s => replace
                ? new LaneBackingOff(s.Counters with { Restarts = s.Counters.Restarts + 1, ConsecutiveFailures = s.Counters.ConsecutiveFailures + 1 },
                    LaneState.NewReadiness(), _options.RestartDelay(s.Counters.ConsecutiveFailures + 1))
                : new LaneStopped(s.Counters, LaneState.NewReadiness()));
            StateChanged?.Invoke(this);
            await connection.DisposeAsync();
            if (next is not LaneBackingOff backoff)
            {
                if (!token.IsCancellationRequested)
                {
                    _logger.LogInformation("Bridge lane {Lane} (pid {Pid}) ended after shutdown began: {Exit}; not restarted", Id, connection.ProcessId, ended);
                }

                break;
            }

            _telemetry.BridgeRestarts.Add(1, new KeyValuePair<string, object?>("reason", ended.KillReason is null ? "exit" : "killed"));
            _logger.LogWarning("Bridge lane {Lane} (pid {Pid}) ended: {Exit}; restart {Restarts} in {Delay} ms",
                Id, connection.ProcessId, ended, next.Counters.Restarts, backoff.Delay.TotalMilliseconds);
            await Task.Delay(backoff.Delay, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // Stopped before the first start attempt ended (or before it began): whoever awaits it must not wait forever.
        _firstStart.TrySetCanceled();
        var stopped = Swap(s => s as LaneStopped ?? new LaneStopped(s.Counters, s.Readiness));
        if (token.IsCancellationRequested)
        {
            // Stopped by the host after the scheduler's loops ended: nobody waits for readiness any more.
            stopped.Readiness.TrySetCanceled(token);
        }
    }

    private void BecomeReady(IBridgeConnection connection, BridgeReply ready, long? endedAt)
    {
        Volatile.Write(ref _lastReady, ready);
        var recovery = endedAt is { } since ? Stopwatch.GetElapsedTime(since) : (TimeSpan?)null;
        Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
        var session = new BridgeSession(connection, ready.Models!.ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase));
        // One swap publishes the session and the recovery time together: whoever sees the lane ready sees both.
        var state = Swap(s => new LaneReady(s.Counters with { ConsecutiveStartFailures = 0, LastRecovery = recovery ?? s.Counters.LastRecovery }, s.Readiness, session));
        if (recovery is { } took)
        {
            _telemetry.BridgeRecovery.Record(took.TotalMilliseconds);
            _logger.LogInformation("Bridge lane {Lane} recovered in {Ms:F0} ms (from the end of the last process to ready)", Id, took.TotalMilliseconds);
        }

        BridgeLaneLog.Ready(_logger, Id, connection.ProcessId, ready);
        state.Readiness.TrySetResult();
        _firstStart.TrySetResult();
        StateChanged?.Invoke(this);
    }
}
