using AkiDb.Queue.Worker.Messaging.Queues;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkiDb.Queue.Worker.Health;

/// <summary>Not ready while a queue the worker should consume exists with other arguments, naming it and the way out.</summary>
internal sealed class QueuesHealthCheck(ExistingQueues queues) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(queues.NotConsuming is { } why ? HealthCheckResult.Unhealthy(why) : HealthCheckResult.Healthy("consuming its queues"));
}
