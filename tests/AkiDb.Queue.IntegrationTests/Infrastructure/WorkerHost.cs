using AkiDb.Queue.Testing;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// The real worker, in this process: the same registration methods Program.cs calls, with the real bridge process,
/// model and broker. Settings override configuration keys exactly as environment variables would.
/// </summary>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly IHost _host;

    private WorkerHost(IHost host, InMemoryLoggerProvider logs)
    {
        _host = host;
        Logs = logs;
    }

    public InMemoryLoggerProvider Logs { get; }

    public IServiceProvider Services => _host.Services;

    public IInferenceBackend Backend => Services.GetRequiredService<IInferenceBackend>();

    internal IReadOnlyList<BridgeLane> BridgeLanes => ((PythonBridgeBackend)Backend).BridgeLanes;

    /// <summary>The cache the tests share, so the model is extracted once per machine, not once per test.</summary>
    public static string ModelCache => RepoPaths.ModelCache;

    public static async Task<WorkerHost> StartAsync(string amqpUrl, IDictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Test", DisableDefaults = true });
        var configuration = new Dictionary<string, string?>
        {
            ["RabbitMq:Url"] = amqpUrl,
            ["Embedding:CacheDirectory"] = ModelCache,
            // Many workers run in one test process: no probe endpoint unless a test asks for one on its own port.
            ["Health:Urls"] = "",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        var logs = new InMemoryLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        // The bridge's per-request lines are debug level; tests that turn them on (Bridge:LogLevel=debug) see them.
        builder.Logging.AddFilter("AkiDb.Queue.Worker.Bridge", LogLevel.Debug);

        builder.AddWorker();

        var host = builder.Build();
        await host.StartAsync();
        if (host.Services.GetRequiredService<IInferenceBackend>() is PythonBridgeBackend pool)
        {
            // Ready comes with lane 0's bridge; the others start after it. Tests expect the whole pool.
            await pool.EveryLaneStarted.WaitAsync(TimeSpan.FromMinutes(2));
        }

        return new WorkerHost(host, logs);
    }

    public bool LogContains(string text) => Logs.Entries.Any(e => e.Message.Contains(text, StringComparison.Ordinal));

    public async Task StopAsync() => await _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            _host.Dispose();
        }
    }
}
