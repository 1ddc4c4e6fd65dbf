using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkiDb.Queue.Worker.Health;

/// <summary>Not ready while the broker blocks the connection (a memory or disk alarm): no result could be published.</summary>
internal sealed class BrokerFlowHealthCheck(BrokerFlowState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(state.BlockedReason is { } reason
            ? HealthCheckResult.Unhealthy($"the broker blocks this worker's connection: {reason}")
            : HealthCheckResult.Healthy("the broker accepts publishes"));
}
