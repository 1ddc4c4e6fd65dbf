using System.Diagnostics;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Requests;
using AkiDb.Queue.Worker.Telemetry;
using AkiDb.Queue.Worker.Vectors;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Builds and publishes every result, for every path: completed and failed (<see cref="EmbedRequestedConsumer"/>),
/// expired in the queue (<see cref="BrokerExpiredConsumer"/>), malformed (<see cref="MalformedMessageObserver"/>).
/// Each gets its trace and correlation ids here, goes to its exchange (<see cref="QueueNames"/>) through
/// <see cref="ResultPublisher"/>, and is counted and logged here.
/// </summary>
internal sealed class RequestResults(ResultPublisher publisher, IInferenceBackend backend, WorkerTelemetry telemetry, ILogger<RequestResults> logger)
{
    public async Task CompletedAsync(ConsumeContext context, EmbedRequest request, IReadOnlyList<TokenizedText> tokenized, EmbedJobResult result)
    {
        var resumed = Stopwatch.GetTimestamp();
        var queuedMs = Math.Max(0, (DateTime.UtcNow - request.SentAt).TotalMilliseconds - Stopwatch.GetElapsedTime(result.LastBatchStarted).TotalMilliseconds);
        var completed = new EmbedCompleted
        {
            RequestId = request.RequestId,
            Model = request.Model.Name,
            Dimensions = result.Dimensions,
            Embeddings = result.Vectors,
            TokenCounts = tokenized.Select(t => t.Length).ToArray(),
            Truncated = tokenized.Select(t => t.Truncated).ToArray(),
            Metadata = request.Metadata,
            QueuedMs = Math.Round(queuedMs, 3),
            InferenceMs = Math.Round(result.InferenceMs, 3),
            Backend = backend.Name,
            ExecutionProvider = result.Provider,
            TraceParent = Activity.Current?.Id,
            CorrelationId = ResultPublisher.CorrelationIdOf(context, request.RequestId),
            Cached = result.Cached,
            Precision = request.Model.Definition.Precision.ToString().ToLowerInvariant(),
        };
        completed = VectorEncoder.Apply(completed, request.Encoding);
        var stage = telemetry.RecordStage("result", resumed);
        await publisher.PublishAsync(context, completed, QueueNames.EmbedCompleted, completed.RequestId, completed.CorrelationId);
        telemetry.RecordStage("publish", stage);

        telemetry.RequestsCompleted.Add(1, new KeyValuePair<string, object?>("model", request.Model.Name));
        telemetry.QueuedTime.Record(queuedMs, new KeyValuePair<string, object?>("priority", WorkerTelemetry.PriorityTag(request.Urgency.Priority)));
        telemetry.EndToEndTime.Record((DateTime.UtcNow - request.SentAt).TotalMilliseconds);
    }

    /// <summary>An <see cref="EmbedFailed"/> to its exchange and the caller's reply destination.</summary>
    public async Task FailedAsync(ConsumeContext context, EmbedFailed failure)
    {
        failure = failure with { TraceParent = Activity.Current?.Id, CorrelationId = ResultPublisher.CorrelationIdOf(context, failure.RequestId) };
        await publisher.PublishAsync(context, failure, QueueNames.EmbedFailed, failure.RequestId, failure.CorrelationId);
        telemetry.RequestsFailed.Add(1, new KeyValuePair<string, object?>("code", failure.Code));
        logger.LogInformation("Request {RequestId} failed with {Code}: {Reason}", LogValue.Of(failure.RequestId), failure.Code, LogValue.Of(failure.Message, 300));
    }

    /// <summary>A request whose deadline passed before inference: counted by where that was seen, then answered as failed.</summary>
    public Task ExpiredAsync(ConsumeContext context, EmbedFailed failure, ExpiredWhere where)
    {
        telemetry.RequestsExpired.Add(1, new KeyValuePair<string, object?>("where", where == ExpiredWhere.Broker ? "broker" : "worker"));
        return FailedAsync(context, failure);
    }

    /// <summary>
    /// A body that is not an <see cref="EmbedRequested"/> but names a request id: its exchange only (the message goes
    /// to the error queue, so no reply and no failure count; <c>akidb.error_queue.moves</c> counts it).
    /// </summary>
    public async Task MalformedAsync(ReceiveContext context, string requestId, string reason)
    {
        var correlationId = ResultPublisher.CorrelationIdOf(context, requestId);
        try
        {
            // Like every result: mandatory, parked when no queue is bound (see ResultPublisher).
            await publisher.PublishToExchangeAsync(new EmbedFailed
            {
                RequestId = requestId,
                Code = EmbedErrorCodes.MalformedMessage,
                Message = $"The message could not be read as an EmbedRequested: {reason}. It is kept in the error queue.",
                TraceParent = Activity.Current?.Id,
                CorrelationId = correlationId,
            }, QueueNames.EmbedFailed, requestId, correlationId, parkIfUnrouted: true, context.CancellationToken);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not publish EmbedFailed for malformed request {RequestId}", LogValue.Of(requestId));
        }
    }
}

/// <summary>Where a request's deadline was found to have passed (the <c>where</c> tag of <c>akidb.requests.expired</c>).</summary>
internal enum ExpiredWhere
{
    /// <summary>The worker read it after its deadline, or its texts had not started by then.</summary>
    Worker,

    /// <summary>The broker dead-lettered it for its AMQP expiration while it was queued.</summary>
    Broker,
}
