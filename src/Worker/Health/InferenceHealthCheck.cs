using AkiDb.Queue.Worker.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AkiDb.Queue.Worker.Health;

/// <summary>Ready when at least one lane can run a batch now.</summary>
internal sealed class InferenceHealthCheck(IInferenceBackend backend) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var ready = backend.Lanes.Count(l => l.IsReady);
        var data = new Dictionary<string, object> { ["backend"] = backend.Name, ["lanesReady"] = ready, ["lanes"] = backend.Lanes.Count };
        return Task.FromResult(ready > 0 && backend.IsAvailable
            ? HealthCheckResult.Healthy(backend.Describe(), data)
            : HealthCheckResult.Unhealthy(backend.IsAvailable ? "no lane is ready (restarting)" : "inference is unavailable: the circuit is open", data: data));
    }
}
