using System.Diagnostics;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>Logs one line when every hosted service has started: the bridge is up, the model loaded, the broker connected.</summary>
internal sealed class ReadinessReporter(
    IHostApplicationLifetime lifetime,
    IInferenceBackend backend,
    IOptions<RabbitMqOptions> rabbit,
    Messaging.Queues.ExistingQueues queues,
    ILogger<ReadinessReporter> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
            if (queues.NotConsuming is { } why)
            {
                logger.LogError("AkiDb.Queue worker started in {Ms:F0} ms but is not ready: {Why}", sinceStart.TotalMilliseconds, why);
                return;
            }

            logger.LogInformation("AkiDb.Queue worker ready in {Ms:F0} ms: consuming {Queue} on {Broker}; {Backend} backend: {Describe}",
                sinceStart.TotalMilliseconds, rabbit.Value.QueueName, RabbitMqOptions.Redact(rabbit.Value.Url), backend.Name, backend.Describe());
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
