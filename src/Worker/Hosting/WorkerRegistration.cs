using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Hosting;

public static class WorkerRegistration
{
    /// <summary>
    /// The whole worker: telemetry, models and inference, messaging, health probes, in the order they must start
    /// (hosted services start in order and stop in reverse). Program.cs and the tests' in-process host call only this.
    /// </summary>
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder)
    {
        builder.AddWorkerTelemetry();
        builder.AddEmbedding();
        builder.AddMessaging();
        builder.AddHealthEndpoint();
        builder.Services.AddHostedService<NativeHeapTrimmer>();
        return builder;
    }
}
