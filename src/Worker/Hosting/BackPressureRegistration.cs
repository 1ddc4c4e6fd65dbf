using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Hosting;

public static class BackPressureRegistration
{
    /// <summary>The input queue's depth poll and the back-pressure gauges built on it.</summary>
    public static IHostApplicationBuilder AddBackPressureSignals(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<InputQueueDepth>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<InputQueueDepth>());
        builder.Services.AddHostedService<BackPressureGauges>();
        return builder;
    }
}
