using System.Diagnostics;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Answers every <see cref="EmbedRequested"/> with exactly one <see cref="EmbedCompleted"/> or <see cref="EmbedFailed"/>.
/// The message is acknowledged only when this method returns, which is after the result's publish was confirmed
/// by the broker: a crash at any point before leaves the message in the queue.
/// </summary>
internal sealed class EmbedRequestedConsumer(
    RequestValidator validator,
    ModelCatalog catalog,
    EmbeddingScheduler scheduler,
    IInferenceBackend backend,
    IOptions<LimitsOptions> limits,
    WorkerTelemetry telemetry,
    ResultPublisher results,
    ILogger<EmbedRequestedConsumer> logger) : IConsumer<EmbedRequested>
{
    public async Task Consume(ConsumeContext<EmbedRequested> context)
    {
        var sentAt = context.SentTime ?? DateTime.UtcNow;
        var message = context.Message;
        ProducerTraceLink.Apply(context);
        telemetry.RequestsConsumed.Add(1);
        telemetry.MessageStarted();
        try
        {
            await ConsumeAsync(context, message, sentAt);
        }
        finally
        {
            telemetry.MessageFinished();
        }
    }

    private async Task ConsumeAsync(ConsumeContext<EmbedRequested> context, EmbedRequested message, DateTime sentAt)
    {
        if (validator.Validate(message, context.ReceiveContext.Body.Length) is { } invalid)
        {
            await PublishFailedAsync(context, invalid);
            return;
        }

        var (amqpPriority, amqpExpiration) = RequestUrgencyReader.AmqpProperties(context);
        if (RequestUrgencyReader.TryRead(message, amqpPriority, amqpExpiration, DateTimeOffset.UtcNow, out var urgency) is { } badPriority)
        {
            await PublishFailedAsync(context, Failure(message, EmbedErrorCodes.InvalidRequest, badPriority));
            return;
        }

        if (urgency.IsExpired(DateTimeOffset.UtcNow))
        {
            await PublishExpiredAsync(context, message, new RequestExpiredException(urgency.Deadline!.Value, DateTimeOffset.UtcNow));
            return;
        }

        var texts = message.Texts!;
        telemetry.TextsConsumed.Add(texts.Count);
        telemetry.Capacity.RecordRequest(texts.Count);
        if (!catalog.TryGet(message.Model, out var model))
        {
            await PublishFailedAsync(context, Failure(message, EmbedErrorCodes.UnknownModel,
                $"Model '{LogValue.Cap(message.Model)}' is not served here. Known models: {string.Join(", ", catalog.All.Select(m => m.Name))}."));
            return;
        }

        _ = RequestValidator.TryParseInputType(message.InputType, out var inputType);
        var tokenized = new TokenizedText[texts.Count];
        using (var tokenize = WorkerTelemetry.ActivitySource.StartActivity("embed tokenize"))
        {
            for (var i = 0; i < texts.Count; i++)
            {
                tokenized[i] = model.Tokenize(texts[i]!, inputType);
                if (tokenized[i].Truncated && limits.Value.RejectOverlongTexts)
                {
                    await PublishFailedAsync(context, Failure(message, EmbedErrorCodes.TooManyTokens,
                        $"texts[{i}] is longer than {model.Definition.MaxTokens} tokens, the limit of model {model.Name}, and this worker rejects rather than truncates.", i));
                    return;
                }
            }

            tokenize?.SetTag("akidb.texts", texts.Count);
            tokenize?.SetTag("akidb.tokens", tokenized.Sum(t => t.Length));
        }

        EmbedJobResult result;
        try
        {
            result = await scheduler.EmbedAsync(model, tokenized, Activity.Current?.Context ?? default, context.CancellationToken, urgency, sentAt);
        }
        catch (RequestExpiredException e)
        {
            await PublishExpiredAsync(context, message, e);
            return;
        }
        catch (PoisonTextException e)
        {
            await PublishFailedAsync(context, Failure(message, EmbedErrorCodes.InferenceFailed, e.Message, e.TextIndex));
            logger.LogError("Request {RequestId}: {Error}; the message goes to the error queue", LogValue.Of(message.RequestId), LogValue.Of(e.Message, 300));
            telemetry.ErrorQueueMoves.Add(1, new KeyValuePair<string, object?>("reason", EmbedErrorCodes.InferenceFailed));
            throw;
        }
        catch (BackendUnavailableException e)
        {
            // Cancellation makes MassTransit return the message to the queue instead of faulting it: it waits
            // there, not in this worker's memory, until inference is back.
            throw new OperationCanceledException(e.Message, e, context.CancellationToken);
        }

        var queuedMs = Math.Max(0, (DateTime.UtcNow - sentAt).TotalMilliseconds - Stopwatch.GetElapsedTime(result.LastBatchStarted).TotalMilliseconds);
        var completed = new EmbedCompleted
        {
            RequestId = message.RequestId!,
            Model = model.Name,
            Dimensions = result.Dimensions,
            Embeddings = result.Vectors,
            TokenCounts = tokenized.Select(t => t.Length).ToArray(),
            Truncated = tokenized.Select(t => t.Truncated).ToArray(),
            Metadata = message.Metadata,
            QueuedMs = Math.Round(queuedMs, 3),
            InferenceMs = Math.Round(result.InferenceMs, 3),
            Backend = backend.Name,
            ExecutionProvider = result.Provider,
            TraceParent = Activity.Current?.Id,
            CorrelationId = ResultPublisher.CorrelationIdOf(context, message.RequestId),
            Cached = result.Cached,
            Precision = model.Definition.Precision.ToString().ToLowerInvariant(),
        };
        completed = Vectors.VectorEncoder.Apply(completed, message.Encoding);
        await results.PublishAsync(context, completed, "embed-completed", completed.RequestId, completed.CorrelationId);

        telemetry.RequestsCompleted.Add(1, new KeyValuePair<string, object?>("model", model.Name));
        telemetry.QueuedTime.Record(queuedMs, new KeyValuePair<string, object?>("priority", WorkerTelemetry.PriorityTag(urgency.Priority)));
        telemetry.EndToEndTime.Record((DateTime.UtcNow - sentAt).TotalMilliseconds);
    }

    private static EmbedFailed Failure(EmbedRequested message, string code, string reason, int? index = null) => new()
    {
        RequestId = message.RequestId, Code = code, Message = reason, TextIndex = index, Metadata = message.Metadata,
    };

    private async Task PublishExpiredAsync(ConsumeContext context, EmbedRequested message, RequestExpiredException expired)
    {
        telemetry.RequestsExpired.Add(1, new KeyValuePair<string, object?>("where", "worker"));
        await PublishFailedAsync(context, Failure(message, EmbedErrorCodes.Expired, expired.Message));
    }

    private async Task PublishFailedAsync(ConsumeContext context, EmbedFailed failure)
    {
        failure = failure with { TraceParent = Activity.Current?.Id, CorrelationId = ResultPublisher.CorrelationIdOf(context, failure.RequestId) };
        await results.PublishAsync(context, failure, "embed-failed", failure.RequestId, failure.CorrelationId);
        telemetry.RequestsFailed.Add(1, new KeyValuePair<string, object?>("code", failure.Code));
        logger.LogInformation("Request {RequestId} failed with {Code}: {Reason}", LogValue.Of(failure.RequestId), failure.Code, LogValue.Of(failure.Message, 300));
    }
}
