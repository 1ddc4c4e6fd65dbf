using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>Logs where Prometheus can scrape the worker, once it has started serving, so nobody has to guess the path.</summary>
internal sealed class MetricsEndpointReporter(string prefix, IHostApplicationLifetime lifetime, ILogger<MetricsEndpointReporter> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => logger.LogInformation("Serving Prometheus metrics at {Url}", prefix + "metrics"));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
