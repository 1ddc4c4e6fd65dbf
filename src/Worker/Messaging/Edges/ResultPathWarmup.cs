using System.Text.Json;
using AkiDb.Queue.Contracts;
using MassTransit;
using MassTransit.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Builds, while the bridges load, what the first request would otherwise build on its way through: the JSON contracts
/// of the request and its results in MassTransit's serializer options, and the publish endpoints of the result
/// exchanges. Nothing is sent.
/// </summary>
/// <remarks>
/// Why: the first request after start-up took 130 ms against 10 ms for the third, 60-70 ms of it in its result's
/// publish (the worker's own stage metrics, one worker, int8): serializer metadata, MassTransit's publish pipeline for
/// the message type and its just-in-time compiled generic code. At start-up the worker waits about a second for its
/// bridges to load a model, so the same work done then costs a user nothing.
/// </remarks>
internal sealed class ResultPathWarmup(IServiceProvider services, ILogger<ResultPathWarmup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(() => WarmAsync(cancellationToken), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task WarmAsync(CancellationToken cancellationToken)
    {
        try
        {
            var options = SystemTextJsonMessageSerializer.Options;
            JsonSerializer.Deserialize<EmbedRequested>("""{"requestId":"warm-up","texts":["a text"],"model":"m","priority":"high","metadata":{"k":"v"}}""", options);
            JsonSerializer.SerializeToUtf8Bytes(new EmbedCompleted
            {
                RequestId = "warm-up", Model = "m", Dimensions = 2, Embeddings = [[0.5f, -0.25f]], TokenCounts = [1], Truncated = [false],
                Cached = [false], Metadata = new Dictionary<string, string> { ["k"] = "v" },
            }, options);
            JsonSerializer.SerializeToUtf8Bytes(new EmbedFailed { RequestId = "warm-up", Code = EmbedErrorCodes.InferenceFailed, Message = "warm-up" }, options);
            // Resolved here, not in the constructor: the host constructs every hosted service before starting the first,
            // and the bus must be built after the queue check (DeferredBusHostedService), which a constructor argument
            // would pre-empt (the worker then declared an input queue it had found with other arguments).
            var bus = services.GetRequiredService<IBus>();
            await bus.GetPublishSendEndpoint<EmbedCompleted>().WaitAsync(cancellationToken);
            await bus.GetPublishSendEndpoint<EmbedFailed>().WaitAsync(cancellationToken);
        }
        catch (Exception e)
        {
            // Only the first request's speed depends on it.
            logger.LogDebug("Warming the result path up failed: {Error}", e.Message);
        }
    }
}
