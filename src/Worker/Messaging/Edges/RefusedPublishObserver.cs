using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Counts and explains the publishes the broker refused with a negative confirm (a full queue with
/// <c>reject-publish</c>: the parking queue, or a consumer's bounded results queue). MassTransit retries them with
/// back-off while the request stays unacknowledged; this says why the worker slowed down.
/// </summary>
internal sealed class RefusedPublishObserver(EdgeTelemetry telemetry, IOptions<ResultsOptions> results, ILogger<RefusedPublishObserver> logger) : ISendObserver, IPublishObserver
{
    public Task PreSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception) where T : class => Refused(context.DestinationAddress, exception);

    public Task PrePublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Refused(context.DestinationAddress, exception);

    private Task Refused(Uri? destination, Exception exception)
    {
        if (ResultPublisher.Find<RabbitMQ.Client.Exceptions.PublishException>(exception) is { IsReturn: false })
        {
            telemetry.ResultsRefused.Add(1);
            logger.LogWarning("The broker refused a result sent to {Destination} (a full queue with reject-publish; is {ParkingQueue} full?). It is retried with back-off; the request stays unacknowledged until then",
                destination?.AbsolutePath.TrimStart('/'), results.Value.ParkingQueue);
        }

        return Task.CompletedTask;
    }
}
