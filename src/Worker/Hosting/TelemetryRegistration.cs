using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Hosting;

public static class TelemetryRegistration
{
    public static IHostApplicationBuilder AddWorkerTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<WorkerTelemetry>();
        builder.Services.AddHostedService<ReadinessReporter>();
        return builder;
    }
}
