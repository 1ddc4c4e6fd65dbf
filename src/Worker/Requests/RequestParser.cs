using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Worker.Requests;

/// <summary>
/// The one place an <see cref="EmbedRequested"/> is read: contract and limits (<see cref="RequestValidator"/>), urgency
/// (<see cref="RequestUrgencyReader"/>), deadline, model. The answer is a typed <see cref="EmbedRequest"/> or the
/// <see cref="EmbedFailed"/> to publish, in that order of checks (the first problem is the one reported).
/// </summary>
internal sealed class RequestParser(RequestValidator validator, ModelCatalog catalog)
{
    public RequestParse Parse(EmbedRequested message, RequestEnvelope envelope, DateTimeOffset now)
    {
        var check = validator.Check(message, envelope.BodyBytes);
        if (check.Failure is { } invalid)
        {
            return RequestParse.Rejected(invalid, RejectionKind.Invalid);
        }

        if (RequestUrgencyReader.TryRead(message, envelope.AmqpPriority, envelope.AmqpExpiration, now, out var urgency) is { } badPriority)
        {
            return RequestParse.Rejected(Failure(message, EmbedErrorCodes.InvalidRequest, badPriority), RejectionKind.Invalid);
        }

        if (urgency.IsExpired(now))
        {
            return RequestParse.Rejected(Failure(message, EmbedErrorCodes.Expired, new RequestExpiredException(urgency.Deadline!.Value, now).Message), RejectionKind.Expired);
        }

        if (!catalog.TryGet(message.Model, out var model))
        {
            return RequestParse.Rejected(Failure(message, EmbedErrorCodes.UnknownModel,
                $"Model '{LogValue.Cap(message.Model)}' is not served here. Known models: {string.Join(", ", catalog.All.Select(m => m.Name))}."), RejectionKind.UnknownModel);
        }

        // The validator has checked that the id is there and that no text is null.
        return RequestParse.Accepted(new EmbedRequest(message.RequestId!, message.Texts!.Select(t => t!).ToArray(), model,
            check.InputType, check.Encoding, urgency, message.Metadata, envelope.SentAt));
    }

    /// <summary>A failure of an already valid request (its id and metadata are echoed as sent).</summary>
    public static EmbedFailed Failure(EmbedRequested message, string code, string reason, int? index = null) => new()
    {
        RequestId = message.RequestId, Code = code, Message = reason, TextIndex = index, Metadata = message.Metadata,
    };

    /// <summary>A failure of a parsed request.</summary>
    public static EmbedFailed Failure(EmbedRequest request, string code, string reason, int? index = null) => new()
    {
        RequestId = request.RequestId, Code = code, Message = reason, TextIndex = index, Metadata = request.Metadata,
    };
}

/// <summary>Why a request was answered without inference.</summary>
internal enum RejectionKind
{
    /// <summary>Against the contract or a limit.</summary>
    Invalid,

    /// <summary>Its deadline passed before it was read.</summary>
    Expired,

    /// <summary>Valid, for a model this worker does not serve.</summary>
    UnknownModel,
}

/// <summary>The outcome of <see cref="RequestParser.Parse"/>: a request, or a failure to publish and why.</summary>
internal readonly record struct RequestParse(EmbedRequest? Request, EmbedFailed? Failure, RejectionKind Kind)
{
    public static RequestParse Accepted(EmbedRequest request) => new(request, null, default);

    public static RequestParse Rejected(EmbedFailed failure, RejectionKind kind) => new(null, failure, kind);
}
