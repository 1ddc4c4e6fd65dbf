namespace AkiDb.Queue.Contracts;

/// <summary>Published to the <c>embed-failed</c> exchange when a request cannot be answered with vectors.</summary>
public sealed record EmbedFailed
{
    /// <summary>The request's id, or null when the message was too broken to carry one.</summary>
    public string? RequestId { get; init; }

    /// <summary>A stable, machine-readable code from <see cref="EmbedErrorCodes"/>.</summary>
    public required string Code { get; init; }

    /// <summary>What was wrong, for a person.</summary>
    public required string Message { get; init; }

    /// <summary>The index of the text at fault, when one text is to blame.</summary>
    public int? TextIndex { get; init; }

    /// <summary>The request's metadata, untouched.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>
    /// The W3C traceparent of the span that handled the request, so a consumer in any language can continue or look up
    /// the request's trace (a producer starts one by sending the header MT-Activity-Id with its own traceparent).
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// The request's AMQP <c>correlation_id</c> when it had one, else its <see cref="RequestId"/>. The published
    /// message carries the same value as its AMQP <c>correlation_id</c> property, so an RPC caller or a pipeline can join.
    /// </summary>
    public string? CorrelationId { get; init; }
}
