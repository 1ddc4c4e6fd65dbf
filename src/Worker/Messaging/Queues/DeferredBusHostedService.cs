using MassTransit;
using MassTransit.Monitoring;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>
/// MassTransit's hosted service, built when it starts instead of when the host starts. The host constructs every hosted
/// service before starting the first, and MassTransit's builds the bus (its endpoints, their queue arguments) in its
/// constructor; deferred, the bus is built after <see cref="QueueArgumentCheck"/> has run, so its configuration can
/// follow what the check found. Its health check is deferred the same way (MassTransit's own builds the bus when the
/// health check service is created).
/// </summary>
internal sealed class DeferredBusHostedService(IServiceProvider services) : IHostedService, IAsyncDisposable
{
    private MassTransitHostedService? _bus;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _bus = ActivatorUtilities.CreateInstance<MassTransitHostedService>(services);
        return _bus.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => _bus?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public ValueTask DisposeAsync() => _bus?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>Replaces MassTransit's hosted service and bus health check registrations with deferred ones.</summary>
    public static void Replace(IServiceCollection services)
    {
        var hosted = services.FirstOrDefault(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(MassTransitHostedService))
                     ?? throw new InvalidOperationException("MassTransit's hosted service is not registered: call after AddMassTransit.");
        services[services.IndexOf(hosted)] = ServiceDescriptor.Singleton<IHostedService, DeferredBusHostedService>();
        var health = services.FirstOrDefault(d => d.ImplementationType == typeof(ConfigureBusHealthCheckServiceOptions))
                     ?? throw new InvalidOperationException("MassTransit's health check is not registered: call after AddMassTransit.");
        services.Remove(health);
        services.AddHealthChecks().Add(new HealthCheckRegistration("masstransit-bus", sp => new DeferredBusHealthCheck(sp), HealthStatus.Unhealthy, ["ready", "masstransit"]));
    }

    private sealed class DeferredBusHealthCheck(IServiceProvider services) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            services.GetRequiredService<ExistingQueues>().Checked
                ? new BusHealthCheck(services.GetRequiredService<IBusInstance>()).CheckHealthAsync(context, cancellationToken)
                : Task.FromResult(HealthCheckResult.Unhealthy("starting: the broker's queues are being checked"));
    }
}
