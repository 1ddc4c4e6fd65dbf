using AkiDb.Queue.Worker.Inference;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Hosting;

/// <summary>
/// The last hosted service to start: it holds the host's start until the inference backend is up, so the bridge loads
/// its model while MassTransit connects instead of one after the other, and "started" still means ready. A backend
/// that cannot start at all fails the host here, with its reason.
/// </summary>
internal sealed class InferenceReadyGate(IInferenceBackend backend) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => backend.WaitUntilStartedAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
