using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// The pool of bridge processes. Starting it starts lane 0, then the others, and waits until one lane is up or every
/// first start attempt failed, so a worker that cannot run its bridge at all (no numpy, a broken model path) fails
/// at start with the reason, before it takes a single message.
/// </summary>
internal sealed class PythonBridgeBackend(
    PythonLocator locator,
    BridgeLaunchFactory launchFactory,
    ModelCatalog catalog,
    IOptions<BridgeOptions> bridgeOptions,
    IOptions<EmbeddingOptions> embeddingOptions,
    WorkerTelemetry telemetry,
    IHostApplicationLifetime lifetime,
    ILogger<PythonBridgeBackend> logger) : IInferenceBackend, IHostedService, IAsyncDisposable
{
    private readonly List<BridgeLane> _lanes = [];
    private readonly Lock _availability = new();
    private readonly TaskCompletionSource _everyLaneStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _startup = Task.CompletedTask;
    private int _available;

    public string Name => EnumSettings.Name(EmbeddingBackend.Python);

    public int LaneCount => bridgeOptions.Value.EffectiveProcesses;

    /// <summary>Only after a large batch: the lanes' idle pings release memory in the bridge as well (<c>Bridge:PingInterval</c>).</summary>
    public IdleRelease IdleRelease => new(bridgeOptions.Value.ReleaseMemoryAboveTokens, null);

    public IReadOnlyList<IInferenceLane> Lanes => _lanes;

    /// <summary>The lanes with their process ids, for health reports and fault-injection tests.</summary>
    internal IReadOnlyList<BridgeLane> BridgeLanes => _lanes;

    public bool IsAvailable => Volatile.Read(ref _available) == 1;

    public event Action<bool>? AvailabilityChanged;

    /// <summary>
    /// Creates the lanes and starts them in the background: the model loads while MassTransit connects to the broker.
    /// <see cref="WaitUntilStartedAsync"/> is what holds the host's start until lane 0 is up (or every lane failed once).
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = bridgeOptions.Value;
        for (var i = 0; i < LaneCount; i++)
        {
            var lane = new BridgeLane(i, options, logger, telemetry, lifetime.ApplicationStopping);
            lane.StateChanged += _ => UpdateAvailability();
            _lanes.Add(lane);
        }

        // Available until proven otherwise: a message that arrives while the bridge loads waits for it.
        Volatile.Write(ref _available, 1);
        telemetry.ObserveReadyLanes(() => _lanes.Count(l => l.IsReady));
        _startup = StartLanesAsync(options);
        return Task.CompletedTask;
    }

    public Task WaitUntilStartedAsync(CancellationToken cancellationToken) => _startup.WaitAsync(cancellationToken);

    /// <summary>Completes once every lane has made its first start attempt, whatever the outcome (the pool's ready line).</summary>
    internal Task EveryLaneStarted => _everyLaneStarted.Task;

    private async Task StartLanesAsync(BridgeOptions options)
    {
        try
        {
            await StartLanesInOrderAsync(options);
        }
        catch
        {
            _everyLaneStarted.TrySetResult();
            throw;
        }
    }

    private async Task StartLanesInOrderAsync(BridgeOptions options)
    {
        var python = await locator.LocateAsync(options.PythonPath, CancellationToken.None);
        var launch = launchFactory.Create(python);
        var ortLibrary = launchFactory.ResolveOrtLibrary();
        if (ortLibrary is null && !python.HasOnnxRuntime)
        {
            throw new InvalidOperationException(
                "The bridge needs ONNX Runtime: the official onnxruntime package is not importable by " + python.Path +
                " and no libonnxruntime was found next to the worker. Rebuild the worker (NuGet restores Microsoft.ML.OnnxRuntime) or set Bridge__OrtLibraryPath.");
        }

        var init = new InitHeader(
            EnumSettings.Name(options.Runtime),
            ortLibrary,
            embeddingOptions.Value.EffectiveExecutionProviders.Select(p => p.ToString()).ToList(),
            options.EffectiveIntraOpThreads,
            options.InterOpThreads,
            options.MaxPayloadBytes,
            EnumSettings.Name(options.LogLevel),
            catalog.All.Where(m => m.Definition.LoadAtStartup).Select(m => BridgeClient.ToSpec(m.Definition)).ToList(),
            options.AllowSpinning,
            options.EffectiveWideIntraOpThreads,
            options.WideAllowSpinning,
            options.Sandbox.ToHeader());

        var limits = FrameLimits.Default with { MaxPayloadBytes = options.MaxPayloadBytes };
        Task Start(BridgeLane lane) => lane.StartAsync(() => BridgeProcess.Start(launch, limits, logger, lane.Id), init);

        // Lane 0 first, the others once it is up. Started together, every bridge loads its model (Python, numpy, the
        // session: about 0.8 s of one core each) at once and shares the cores with each other and with the .NET
        // host's own start, so the first lane is ready only when all are. Alone, lane 0 has a core to itself and the
        // worker takes messages sooner (start-up in docs/benchmarks-int8.md); the others load while it serves, and the
        // scheduler puts each in rotation once it is ready. Messages wait for lane 0 either way.
        var first = Start(_lanes[0]);
        await first.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (first.IsCanceled)
        {
            _everyLaneStarted.TrySetResult();
            return; // the host stopped while lane 0 was starting
        }

        var starts = new List<Task> { first };
        starts.AddRange(_lanes.Skip(1).Select(Start));
        if (first.IsCompletedSuccessfully)
        {
            UpdateAvailability();
            _ = ReportRestStartedAsync(starts.Skip(1).ToList());
            return;
        }

        // Lane 0 failed its first start: wait for the others' first attempts before deciding whether the worker can run.
        try
        {
            await Task.WhenAll(starts);
        }
        catch (Exception) when (starts.Any(s => s.IsCompletedSuccessfully))
        {
            // Some lane is up: the failed ones keep retrying (reported below).
        }
        catch (Exception)
        {
            // Not one lane could start: this is configuration, not bad luck. Stop with the reason, and probe for a
            // Python again next time in case the remembered one is what broke.
            locator.ForgetCachedChoice();
            await StopAsync(CancellationToken.None);
            throw starts.Select(s => s.Exception?.InnerException).First(e => e is not null)!;
        }

        UpdateAvailability();
        ReportPoolStarted(starts.Count(s => s.IsFaulted), starts.Count);
    }

    /// <summary>Reports once the lanes started after lane 0 made their first attempts; they keep retrying on their own.</summary>
    private async Task ReportRestStartedAsync(List<Task> rest)
    {
        await Task.WhenAll(rest).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ReportPoolStarted(rest.Count(s => s.IsFaulted), rest.Count + 1);
    }

    /// <summary>Every lane has made its first start attempt: the pool's ready line, and <see cref="EveryLaneStarted"/>.</summary>
    private void ReportPoolStarted(int failed, int total)
    {
        if (failed > 0)
        {
            logger.LogWarning("{Failed} of {Total} bridge processes failed their first start; they keep retrying", failed, total);
        }

        logger.LogInformation("Python bridge pool ready: {Describe}", Describe());
        _everyLaneStarted.TrySetResult();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(_lanes.Select(l => l.StopAsync()));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lane in _lanes)
        {
            await lane.DisposeAsync();
        }
    }

    public string Describe()
    {
        var ready = _lanes.FirstOrDefault(l => l.LastReady is not null)?.LastReady;
        var models = ready?.Models is { } m ? string.Join(", ", m.Select(x => $"{x.Name} on {x.Provider}")) : "no model loaded yet";
        var sandbox = ready?.Sandbox is { } report ? $", sandbox: {report.Describe()}" : ready is null ? "" : ", no sandbox";
        return $"{_lanes.Count(l => l.IsReady)}/{_lanes.Count} processes ready, {ready?.Runtime ?? "?"} runtime, ONNX Runtime {ready?.OrtVersion ?? "?"}, {models}{sandbox}";
    }

    /// <summary>
    /// Called from any lane's supervisor. The lock orders the flips, so the last event raised always tells the current
    /// state; the one subscriber (the circuit breaker) reconciles to <see cref="IsAvailable"/> in any case.
    /// </summary>
    private void UpdateAvailability()
    {
        // Available unless every lane has failed to start repeatedly: a single crash and restart is not an outage.
        var threshold = bridgeOptions.Value.FailedStartsToOpenCircuit;
        lock (_availability)
        {
            var available = _lanes.Any(l => l.IsReady || l.ConsecutiveStartFailures < threshold);
            if ((Interlocked.Exchange(ref _available, available ? 1 : 0) == 1) == available)
            {
                return;
            }

            if (available)
            {
                logger.LogInformation("Inference is available");
            }
            else
            {
                logger.LogError("Inference is unavailable: every bridge process failed to start {Threshold} times in a row", threshold);
            }

            AvailabilityChanged?.Invoke(available);
        }
    }
}
