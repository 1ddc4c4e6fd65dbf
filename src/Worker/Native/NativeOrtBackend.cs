using System.Collections.Concurrent;
using System.Diagnostics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// ONNX Runtime inside the worker: one process, no bridge, the smallest image. Shares the tokenizer, scheduler,
/// pooling rules, metrics and error codes with the Python backend; only the inference call differs.
/// </summary>
internal sealed class NativeOrtBackend(
    ModelCatalog catalog,
    IOptions<NativeOptions> nativeOptions,
    IOptions<EmbeddingOptions> embeddingOptions,
    WorkerTelemetry telemetry,
    ILogger<NativeOrtBackend> logger) : IInferenceBackend, IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<NativeModelSession>>> _sessions = new(StringComparer.OrdinalIgnoreCase);
    private List<IInferenceLane> _lanes = [];
    private Task _startup = Task.CompletedTask;

    public string Name => EnumSettings.Name(EmbeddingBackend.Native);

    public int LaneCount => nativeOptions.Value.EffectiveLanes;

    public IReadOnlyList<IInferenceLane> Lanes => _lanes;

    public bool IsAvailable => true;

    // Never raised: an in-process backend that could start is always available.
    public event Action<bool>? AvailabilityChanged
    {
        add { }
        remove { }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _lanes = Enumerable.Range(0, LaneCount).Select(i => (IInferenceLane)new NativeLane(i, this)).ToList();
        telemetry.ObserveReadyLanes(() => _lanes.Count);
        _startup = LoadStartupModelsAsync();
        return Task.CompletedTask;
    }

    /// <summary>
    /// ONNX Runtime's arena keeps the peak of the largest batch: a lane going idle after a large batch, and the lanes
    /// after <see cref="NativeOptions.ReleaseMemoryAfterIdle"/> without a batch, give it back (the scheduler decides).
    /// </summary>
    public IdleRelease IdleRelease => new(nativeOptions.Value.ReleaseMemoryAboveTokens, nativeOptions.Value.ReleaseMemoryAfterIdle);

    /// <summary>Each session that ran since the last release gives back its arena's unused memory.</summary>
    public void ReleaseIdleMemory()
    {
        foreach (var session in _sessions.Values.Where(s => s.IsValueCreated && s.Value.IsCompletedSuccessfully))
        {
            try
            {
                if (session.Value.Result.ReleaseMemory())
                {
                    logger.LogDebug("Native backend released idle memory; worker resident {MiB:F0} MiB", CurrentRss() / 1048576.0);
                }
            }
            catch (OnnxRuntimeException e)
            {
                logger.LogWarning("Native backend could not release idle memory: {Error}", e.Message);
            }
        }
    }

    public Task WaitUntilStartedAsync(CancellationToken cancellationToken) => _startup.WaitAsync(cancellationToken);

    /// <summary>Loads the start-up models in the background, while MassTransit connects.</summary>
    private async Task LoadStartupModelsAsync()
    {
        foreach (var model in catalog.All.Where(m => m.Definition.LoadAtStartup))
        {
            await GetSessionAsync(model.Definition, CancellationToken.None);
        }

        logger.LogInformation("Native ONNX Runtime backend ready: {Describe}", Describe());
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public string Describe()
    {
        var loaded = _sessions.Where(s => s.Value.IsValueCreated && s.Value.Value.IsCompletedSuccessfully)
            .Select(s => $"{s.Key} on {s.Value.Value.Result.Provider}");
        var wide = nativeOptions.Value.EffectiveWideIntraOpThreads;
        return $"{_lanes.Count} lanes x {nativeOptions.Value.EffectiveIntraOpThreads} threads{(wide > 0 ? $" (a lone batch: {wide})" : "")}, ONNX Runtime {OrtEnv.Instance().GetVersionString()}, {string.Join(", ", loaded)}";
    }

    /// <summary>The model's session, created on first use (or at start-up) exactly once however many lanes ask.</summary>
    public Task<NativeModelSession> GetSessionAsync(ModelDefinition model, CancellationToken cancellationToken) =>
        _sessions.GetOrAdd(model.Name, _ => new Lazy<Task<NativeModelSession>>(() => Task.Run(() => Load(model), CancellationToken.None))).Value.WaitAsync(cancellationToken);

    public void Dispose()
    {
        foreach (var session in _sessions.Values.Where(s => s.IsValueCreated && s.Value.IsCompletedSuccessfully))
        {
            session.Value.Result.Dispose();
        }
    }

    private NativeModelSession Load(ModelDefinition model)
    {
        var started = Stopwatch.GetTimestamp();
        var before = CurrentRss();
        var session = new NativeModelSession(model, nativeOptions.Value.EffectiveIntraOpThreads, embeddingOptions.Value.EffectiveExecutionProviders, nativeOptions.Value.AllowSpinning, nativeOptions.Value.EffectiveWideIntraOpThreads, nativeOptions.Value.WideAllowSpinning);
        if (session.WeightsNotShared is { } reason)
        {
            logger.LogWarning("Native backend: the wide session of {Model} loads its own copy of the weights: {Reason}", model.Name, reason);
        }

        foreach (var skipped in session.ProvidersTried.Where(t => !t.Ok))
        {
            logger.LogInformation("Native backend: execution provider {Provider} skipped for {Model}: {Reason}", skipped.Name, model.Name, skipped.Reason);
        }

        logger.LogInformation("Native backend loaded model {Model} on {Provider} ({Dim} dimensions) in {Ms:F0} ms, +{MiB:F0} MiB resident",
            model.Name, session.Provider, session.Dimensions, Stopwatch.GetElapsedTime(started).TotalMilliseconds, (CurrentRss() - before) / 1048576.0);
        return session;
    }

    private static long CurrentRss()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
