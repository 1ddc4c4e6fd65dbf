using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Stops the receive endpoint while inference is unavailable and starts it again when a lane is back. MassTransit's
/// kill switch trips on consume fault rates; here the signal is direct (the bridge cannot start), so the endpoint is
/// stopped with the same IReceiveEndpoint.Stop/Start calls the kill switch uses. Messages wait in the queue, visible in
/// the management UI and free for other workers, instead of in this worker's memory.
/// </summary>
internal sealed class InferenceCircuitBreaker : IReceiveEndpointObserver, IDisposable
{
    private readonly IInferenceBackend _backend;
    private readonly EmbeddingScheduler _scheduler;
    private readonly ILogger<InferenceCircuitBreaker> _logger;
    private readonly SemaphoreSlim _transition = new(1, 1);
    private IReceiveEndpoint? _endpoint;
    private bool _stopped;

    public InferenceCircuitBreaker(IInferenceBackend backend, EmbeddingScheduler scheduler, ILogger<InferenceCircuitBreaker> logger)
    {
        _backend = backend;
        _scheduler = scheduler;
        _logger = logger;
        // The one owner of what happens when availability flips: waiting texts fail, the endpoint stops and starts.
        backend.AvailabilityChanged += available => _ = ReconcileAsync();
    }

    public void Dispose() => _transition.Dispose();

    public Task Ready(ReceiveEndpointReady ready)
    {
        _endpoint ??= ready.ReceiveEndpoint;
        return Task.CompletedTask;
    }

    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    /// <summary>
    /// Brings the endpoint in line with the backend's availability as it is now, not as the event said: flips raised
    /// close together may be handled out of order, and the last one handled still leaves the right state.
    /// </summary>
    private async Task ReconcileAsync()
    {
        await _transition.WaitAsync();
        var available = _backend.IsAvailable;
        try
        {
            if (!available)
            {
                _scheduler.FailWaiting(new BackendUnavailableException("Inference is unavailable: no bridge process could be started."));
            }

            if (_endpoint is not { } endpoint)
            {
                return;
            }

            if (!available && !_stopped)
            {
                _stopped = true;
                _logger.LogError("Circuit open: stopped consuming from {Queue} until inference is available again", endpoint.InputAddress);
                await endpoint.Stop();
            }
            else if (available && _stopped)
            {
                _stopped = false;
                var handle = endpoint.Start();
                await handle.Ready;
                _logger.LogInformation("Circuit closed: consuming from {Queue} again", endpoint.InputAddress);
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Could not {Action} the receive endpoint", available ? "start" : "stop");
        }
        finally
        {
            _transition.Release();
        }
    }
}
