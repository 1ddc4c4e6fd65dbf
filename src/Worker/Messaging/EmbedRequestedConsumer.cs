using System.Diagnostics;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Requests;
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
    RequestParser parser,
    EmbeddingScheduler scheduler,
    IOptions<LimitsOptions> limits,
    WorkerTelemetry telemetry,
    RequestResults results,
    ILogger<EmbedRequestedConsumer> logger) : IConsumer<EmbedRequested>
{
    public async Task Consume(ConsumeContext<EmbedRequested> context)
    {
        ProducerTraceLink.Apply(context);
        telemetry.RequestsConsumed.Add(1);
        telemetry.MessageStarted();
        try
        {
            await ConsumeAsync(context);
        }
        finally
        {
            telemetry.MessageFinished();
        }
    }

    private async Task ConsumeAsync(ConsumeContext<EmbedRequested> context)
    {
        // Stage clock (akidb.request.stage): every millisecond between delivery and the publish confirm is in one stage.
        var stage = Stopwatch.GetTimestamp();
        var parse = parser.Parse(context.Message, RequestEnvelope.Of(context), DateTimeOffset.UtcNow);
        if (parse.Kind == RejectionKind.UnknownModel)
        {
            RecordTexts(context.Message.Texts!.Count);
        }

        if (parse.Request is not { } request)
        {
            await (parse.Kind == RejectionKind.Expired
                ? results.ExpiredAsync(context, parse.Failure!, ExpiredWhere.Worker)
                : results.FailedAsync(context, parse.Failure!));
            return;
        }

        RecordTexts(request.Texts.Count);
        // Sent (the producer's clock, this machine's in the bench) to the consumer's first line: two broker hops and MassTransit's receive pipeline.
        telemetry.Stage.Record(Math.Max(0, (DateTime.UtcNow - request.SentAt).TotalMilliseconds - Stopwatch.GetElapsedTime(stage).TotalMilliseconds),
            new KeyValuePair<string, object?>("stage", "delivery"));
        stage = telemetry.RecordStage("parse", stage);
        var tokenized = new TokenizedText[request.Texts.Count];
        using (var tokenize = WorkerTelemetry.ActivitySource.StartActivity("embed tokenize"))
        {
            for (var i = 0; i < tokenized.Length; i++)
            {
                tokenized[i] = request.Model.Tokenize(request.Texts[i], request.InputType);
                if (tokenized[i].Truncated && limits.Value.RejectOverlongTexts)
                {
                    await results.FailedAsync(context, RequestParser.Failure(request, EmbedErrorCodes.TooManyTokens,
                        $"texts[{i}] is longer than {request.Model.Definition.MaxTokens} tokens, the limit of model {request.Model.Name}, and this worker rejects rather than truncates.", i));
                    return;
                }
            }

            tokenize?.SetTag("akidb.texts", tokenized.Length);
            tokenize?.SetTag("akidb.tokens", tokenized.Sum(t => t.Length));
        }

        stage = telemetry.RecordStage("tokenize", stage);
        EmbedJobResult result;
        try
        {
            result = await scheduler.EmbedAsync(request.Model, tokenized, Activity.Current?.Context ?? default, context.CancellationToken, request.Urgency, request.SentAt);
        }
        catch (RequestExpiredException e)
        {
            await results.ExpiredAsync(context, RequestParser.Failure(request, EmbedErrorCodes.Expired, e.Message), ExpiredWhere.Worker);
            return;
        }
        catch (PoisonTextException e)
        {
            await results.FailedAsync(context, RequestParser.Failure(request, EmbedErrorCodes.InferenceFailed, e.Message, e.TextIndex));
            logger.LogError("Request {RequestId}: {Error}; the message goes to the error queue", LogValue.Of(request.RequestId), LogValue.Of(e.Message, 300));
            telemetry.ErrorQueueMoves.Add(1, new KeyValuePair<string, object?>("reason", EmbedErrorCodes.InferenceFailed));
            throw;
        }
        catch (BackendUnavailableException e)
        {
            // Cancellation makes MassTransit return the message to the queue instead of faulting it: it waits
            // there, not in this worker's memory, until inference is back.
            throw new OperationCanceledException(e.Message, e, context.CancellationToken);
        }

        await results.CompletedAsync(context, request, tokenized, result);
    }

    private void RecordTexts(int texts)
    {
        telemetry.TextsConsumed.Add(texts);
        telemetry.Capacity.RecordRequest(texts);
    }
}
