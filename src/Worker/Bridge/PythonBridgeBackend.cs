using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// The pool of bridge processes. Starting it starts every lane and waits for the first start attempts, so a
/// worker that cannot run its bridge at all (no numpy, a broken model path) fails at start with the reason,
/// before it takes a single message.
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
    /// <see cref="WaitUntilStartedAsync"/> is what holds the host's start until the first start attempts are over.
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

    private async Task StartLanesAsync(BridgeOptions options)
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
        var starts = _lanes.Select(l => l.StartAsync(() => BridgeProcess.Start(launch, limits, logger, l.Id), init)).ToList();
        try
        {
            await Task.WhenAll(starts);
        }
        catch (Exception) when (starts.Any(s => s.IsCompletedSuccessfully))
        {
            logger.LogWarning("{Failed} of {Total} bridge processes failed their first start; they keep retrying", starts.Count(s => s.IsFaulted), starts.Count);
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
        logger.LogInformation("Python bridge pool ready: {Describe}", Describe());
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
