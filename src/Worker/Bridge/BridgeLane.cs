using System.Diagnostics;
using System.Runtime.InteropServices;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// One supervised bridge process slot. It starts the process, restarts it with exponential backoff whenever it
/// ends, pings it while idle, and kills it when it misses a deadline. Batches run one at a time.
/// </summary>
internal sealed class BridgeLane : IInferenceLane, IAsyncDisposable
{
    private readonly BridgeOptions _options;
    private readonly ILogger _logger;
    private readonly WorkerTelemetry _telemetry;
    private readonly FrameLimits _limits;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstStart = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Session? _session;
    private Task? _supervisor;
    private Task? _pinger;
    private long _nextRequestId;
    private long _lastActivity = Stopwatch.GetTimestamp();
    private int _consecutiveFailures;
    private int _stopped;

    public BridgeLane(int id, BridgeOptions options, ILogger logger, WorkerTelemetry telemetry)
    {
        Id = id;
        _options = options;
        _logger = logger;
        _telemetry = telemetry;
        _limits = FrameLimits.Default with { MaxPayloadBytes = options.MaxPayloadBytes };
    }

    public int Id { get; }

    public bool IsReady => Volatile.Read(ref _session) is not null;

    /// <summary>Failed starts since the last successful one; the circuit breaker opens on it.</summary>
    public int ConsecutiveStartFailures { get; private set; }

    public int Restarts { get; private set; }

    /// <summary>From the last exit of a ready process to the next ready handshake: what a crash costs.</summary>
    public TimeSpan? LastRecovery { get; private set; }

    /// <summary>The process's pid while one runs; tests use it to inject faults.</summary>
    public int? ProcessId => Volatile.Read(ref _session)?.Process.ProcessId;

    /// <summary>What the last ready handshake reported.</summary>
    public BridgeReply? LastReady { get; private set; }

    public event Action<BridgeLane>? StateChanged;

    /// <summary>Starts supervising; the task completes after the first start attempt, and faults if it failed.</summary>
    public Task StartAsync(BridgeLaunch launch, InitHeader init)
    {
        _supervisor = Task.Run(() => SuperviseAsync(launch, init));
        _pinger = Task.Run(PingWhileIdleAsync);
        return _firstStart.Task;
    }

    public async Task WaitUntilReadyAsync(CancellationToken cancellationToken) =>
        await Volatile.Read(ref _ready).Task.WaitAsync(cancellationToken);

    public async Task<InferenceOutput> RunAsync(ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var session = Volatile.Read(ref _session) ?? throw new LaneUnavailableException($"Bridge lane {Id} is restarting.");
            var process = session.Process;
            // The span the bridge's own log lines and timings belong to: its traceparent travels in the request header.
            using var call = WorkerTelemetry.ActivitySource.StartActivity("bridge call", ActivityKind.Client, batch.TraceContext);
            call?.SetTag("akidb.bridge.pid", process.ProcessId);
            call?.SetTag("akidb.lane", Id);
            var started = Stopwatch.GetTimestamp();
            var startedAt = DateTimeOffset.UtcNow;
            try
            {
                var info = await EnsureLoadedAsync(session, model, cancellationToken);
                var id = Interlocked.Increment(ref _nextRequestId);
                var header = BridgeJsonContext.Serialize(new EmbedHeader(
                    id, model.Name, batch.Rows, batch.SequenceLength, batch.Lengths, Traceparent(call?.Context ?? batch.TraceContext)));
                var payload = MemoryMarshal.AsBytes(batch.InputIds.AsSpan()).ToArray();
                var (reply, vectors) = await process.RequestAsync(header, payload, id, _options.DeadlineFor(batch.Rows), cancellationToken);
                var elapsed = Stopwatch.GetElapsedTime(started);
                var output = ToOutput(process, reply, vectors, batch, info, elapsed.TotalMilliseconds);
                RecordBridgeSpans(call, reply.Timings, startedAt, elapsed);
                _consecutiveFailures = 0;
                return output;
            }
            catch (BridgeTimeoutException e)
            {
                throw new BatchFailedException("timeout", e.Message, e);
            }
            catch (BridgeExitedException e)
            {
                throw new BatchFailedException(e.InnerException is BridgeProtocolException ? "protocol" : "crash", e.Message, e);
            }
            catch (BridgeProtocolException e)
            {
                throw new BatchFailedException("protocol", e.Message, e);
            }
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
        if (Volatile.Read(ref _session) is { } session)
        {
            await session.Process.StopAsync(TimeSpan.FromSeconds(5));
        }

        await Task.WhenAll(new[] { _supervisor, _pinger }.OfType<Task>()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        // Stopping is idempotent; the token source and gate are left to the GC because a late ping or a supervisor
        // still unwinding may touch them after the host disposed this lane.
        await StopAsync();
    }

    /// <summary>
    /// The bridge reports how long decoding, inference and pooling took; they become child spans of the call, laid out
    /// in order and centred in it (what is left over at either end is the pipe and framing in each direction).
    /// </summary>
    private static void RecordBridgeSpans(Activity? call, BridgeTimings? timings, DateTimeOffset startedAt, TimeSpan elapsed)
    {
        if (call is null || timings is null)
        {
            return;
        }

        call.SetTag("akidb.bridge.total_ms", timings.TotalMs);
        var transport = Math.Max(0, elapsed.TotalMilliseconds - timings.TotalMs);
        var at = startedAt + TimeSpan.FromMilliseconds(transport / 2);
        foreach (var (name, ms) in new[] { ("bridge decode", timings.DecodeMs), ("bridge inference", timings.InferenceMs), ("bridge pooling", timings.PoolingMs) })
        {
            using var span = WorkerTelemetry.ActivitySource.StartActivity(name, ActivityKind.Internal, call.Context, startTime: at);
            at += TimeSpan.FromMilliseconds(ms);
            span?.SetEndTime(at.UtcDateTime);
        }
    }

    private static string? Traceparent(ActivityContext context) =>
        context == default ? null : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{(context.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? "01" : "00")}";

    private static InferenceOutput ToOutput(BridgeProcess process, BridgeReply reply, ReadOnlyMemory<byte> payload, InferenceBatch batch, BridgeModelInfo info, double elapsedMs)
    {
        if (reply.Type == "error")
        {
            throw new BatchFailedException("runtime_error", $"The bridge reported {reply.Code}: {reply.Message}");
        }

        var dim = reply.Dim ?? 0;
        if (reply.Type != "result" || reply.Batch != batch.Rows || dim != info.Dim || payload.Length != batch.Rows * dim * sizeof(float))
        {
            process.Kill("malformed result");
            throw new BatchFailedException("protocol",
                $"Malformed result from the bridge: type {reply.Type}, batch {reply.Batch} (sent {batch.Rows}), dim {reply.Dim} (model {info.Dim}), {payload.Length} payload bytes.");
        }

        var vectors = MemoryMarshal.Cast<byte, float>(payload.Span).ToArray();
        var timings = reply.Timings ?? new BridgeTimings(0, 0, 0, 0);
        return new InferenceOutput(vectors, dim,
            new InferenceTimings(timings.InferenceMs, timings.PoolingMs, elapsedMs, Math.Max(0, elapsedMs - timings.InferenceMs)),
            info.Provider);
    }

    private async Task<BridgeModelInfo> EnsureLoadedAsync(Session session, ModelDefinition model, CancellationToken cancellationToken)
    {
        if (session.Models.TryGetValue(model.Name, out var info))
        {
            return info;
        }

        var process = session.Process;
        var id = Interlocked.Increment(ref _nextRequestId);
        var header = BridgeJsonContext.Serialize(new LoadHeader(id, ToSpec(model)));
        var (reply, _) = await process.RequestAsync(header, ReadOnlyMemory<byte>.Empty, id, _options.StartTimeout, cancellationToken);
        if (reply.Type != "loaded" || reply.Model is null)
        {
            throw new BatchFailedException("runtime_error", $"The bridge could not load model '{model.Name}': {reply.Code}: {reply.Message}");
        }

        _logger.LogInformation("Bridge lane {Lane} loaded model {Model} on {Provider} ({Dim} dimensions) in {Ms:F0} ms, +{MiB:F0} MiB resident",
            Id, model.Name, reply.Model.Provider, reply.Model.Dim, reply.Model.LoadMs, (reply.Model.RssDeltaBytes ?? 0) / 1048576.0);
        session.Models[model.Name] = reply.Model;
        return reply.Model;
    }

    internal static BridgeModelSpec ToSpec(ModelDefinition model) =>
        new(model.Name, model.OnnxPath, model.Output, model.Pooling, model.Normalize);

    private async Task SuperviseAsync(BridgeLaunch launch, InitHeader init)
    {
        var token = _stopping.Token;
        long? endedAt = null;
        while (!token.IsCancellationRequested)
        {
            var process = BridgeProcess.Start(launch, _limits, _logger, Id);
            try
            {
                var ready = await process.InitializeAsync(init, _options.StartTimeout, token);
                if (ready.Protocol != 1 || ready.Models is null)
                {
                    throw new InvalidOperationException($"The bridge speaks protocol {ready.Protocol}; this worker speaks 1.");
                }

                LastReady = ready;
                ConsecutiveStartFailures = 0;
                // Recorded before the session is published, so whoever sees the lane ready sees its recovery time too.
                if (endedAt is { } since)
                {
                    LastRecovery = Stopwatch.GetElapsedTime(since);
                    endedAt = null;
                    _telemetry.BridgeRecovery.Record(LastRecovery.Value.TotalMilliseconds);
                    _logger.LogInformation("Bridge lane {Lane} recovered in {Ms:F0} ms (from the end of the last process to ready)", Id, LastRecovery.Value.TotalMilliseconds);
                }

                Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
                Volatile.Write(ref _session, new Session(process, ready.Models.ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase)));
                _telemetry.LaneReadyChanged(true);
                _logger.LogInformation(
                    "Bridge lane {Lane} ready: pid {Pid}, Python {Python}, {Runtime} runtime, ONNX Runtime {Ort}, {Models}, started in {Ms:F0} ms",
                    Id, process.ProcessId, ready.Python, ready.Runtime, ready.OrtVersion,
                    string.Join(", ", ready.Models.Select(m => $"{m.Name} on {m.Provider} ({m.Dim}d, +{(m.RssDeltaBytes ?? 0) / 1048576.0:F0} MiB)")), ready.StartupMs);
                foreach (var attempt in ready.Models.SelectMany(m => m.ProvidersTried ?? []).Where(a => !a.Ok))
                {
                    _logger.LogInformation("Bridge lane {Lane}: execution provider {Provider} skipped: {Reason}", Id, attempt.Name, attempt.Reason);
                }

                Volatile.Read(ref _ready).TrySetResult();
                _firstStart.TrySetResult();
                StateChanged?.Invoke(this);
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                ConsecutiveStartFailures++;
                var failures = ++_consecutiveFailures;
                await process.DisposeAsync();
                var exit = await process.Exited;
                var error = new InvalidOperationException($"Bridge lane {Id} failed to start: {e.Message} ({exit})", e);
                _firstStart.TrySetException(error);
                StateChanged?.Invoke(this);
                var delay = Backoff(failures);
                _logger.LogError("Bridge lane {Lane} failed to start ({Failures} in a row): {Error}; retrying in {Delay} ms",
                    Id, ConsecutiveStartFailures, error.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            catch (Exception)
            {
                await process.DisposeAsync();
                break;
            }

            var ended = await process.Exited;
            endedAt = Stopwatch.GetTimestamp();
            Volatile.Write(ref _session, null);
            Interlocked.Exchange(ref _ready, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _telemetry.LaneReadyChanged(false);
            StateChanged?.Invoke(this);
            if (token.IsCancellationRequested)
            {
                break;
            }

            Restarts++;
            var backoff = Backoff(++_consecutiveFailures);
            _telemetry.BridgeRestarts.Add(1, new KeyValuePair<string, object?>("reason", ended.KillReason is null ? "exit" : "killed"));
            _logger.LogWarning("Bridge lane {Lane} (pid {Pid}) ended: {Exit}; restart {Restarts} in {Delay} ms",
                Id, process.ProcessId, ended, Restarts, backoff.TotalMilliseconds);
            await process.DisposeAsync();
            await Task.Delay(backoff, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        Volatile.Read(ref _ready).TrySetCanceled(token);
    }

    private TimeSpan Backoff(int failures)
    {
        var factor = Math.Pow(2, Math.Min(failures - 1, 20));
        var delay = TimeSpan.FromMilliseconds(_options.RestartBackoffInitial.TotalMilliseconds * factor);
        return delay < _options.RestartBackoffMax ? delay : _options.RestartBackoffMax;
    }

    private async Task PingWhileIdleAsync()
    {
        using var timer = new PeriodicTimer(_options.PingInterval);
        while (await TickAsync(timer))
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity)) < _options.PingInterval || !_gate.Wait(0))
            {
                continue;
            }

            try
            {
                if (Volatile.Read(ref _session)?.Process is not { } process)
                {
                    continue;
                }

                var id = Interlocked.Increment(ref _nextRequestId);
                var (reply, _) = await process.RequestAsync(BridgeJsonContext.Serialize(new PingHeader(id)), ReadOnlyMemory<byte>.Empty, id, _options.PingTimeout, _stopping.Token);
                if (reply.Type != "pong")
                {
                    process.Kill($"answered a ping with '{reply.Type}'");
                }
            }
            catch (Exception e) when (e is BridgeTimeoutException or BridgeExitedException or BridgeProtocolException)
            {
                _logger.LogWarning("Bridge lane {Lane} failed its idle health check: {Error}", Id, e.Message);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
                _gate.Release();
            }
        }
    }

    private async Task<bool> TickAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A ready process and the models loaded in it; replaced as a whole on restart.</summary>
    private sealed record Session(BridgeProcess Process, Dictionary<string, BridgeModelInfo> Models);
}
