using AkiDb.Queue.Worker.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Hosting;

public static class HealthRegistration
{
    /// <summary>Liveness and readiness checks, served on a small loopback HTTP endpoint for probes.</summary>
    public static IHostApplicationBuilder AddHealthEndpoint(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<HealthOptions>(HealthOptions.Section);
        builder.Services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("answering"), tags: ["live"])
            .AddCheck<InferenceHealthCheck>("inference", tags: ["ready"])
            .AddCheck<BrokerFlowHealthCheck>("broker-flow", tags: ["ready"])
            .AddCheck<QueuesHealthCheck>("queues", tags: ["ready"]);
        builder.Services.TryAddSingleton<Messaging.Queues.ExistingQueues>();
        builder.Services.TryAddSingleton<Messaging.BrokerFlowState>();
        builder.Services.AddHostedService<HealthEndpoint>();
        // The health check service logs every unhealthy check at error level, once per probe: a kubelet probing every
        // few seconds through a broker alarm or a bridge restart would write an error line each time. The components
        // log their own transitions once (blocked/unblocked, lane down/up, circuit open/closed); the body says the rest.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);
        return builder;
    }
}
