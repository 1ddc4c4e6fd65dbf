namespace AkiDb.Queue.Contracts;

/// <summary>
/// Asks for one vector per text. Published to the <c>embed-requested</c> queue, as plain JSON
/// (<c>{"requestId":"r1","texts":["..."]}</c>) from any language or through MassTransit.
/// </summary>
/// <remarks>
/// Every property is optional at the type level on purpose: a producer in another language can send
/// anything, and a missing field must come back as an <see cref="EmbedFailed"/> with a reason, not as
/// a deserialisation fault. The worker validates and answers.
/// </remarks>
public sealed record EmbedRequested
{
    /// <summary>Chosen by the caller and echoed back on the result; use it to correlate and to de-duplicate.</summary>
    public string? RequestId { get; init; }

    /// <summary>One or more texts. The result has one vector per text, in the same order.</summary>
    public IReadOnlyList<string?>? Texts { get; init; }

    /// <summary>A model name from the worker's catalogue; the worker's default model when absent.</summary>
    public string? Model { get; init; }

    /// <summary>
    /// <c>document</c> (default) or <c>query</c>. Models trained with a query prefix (snowflake-arctic-embed)
    /// get it added for queries; other models ignore this.
    /// </summary>
    public string? InputType { get; init; }

    /// <summary>Echoed back untouched on the result.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>
    /// <c>high</c> (interactive: a search box waiting for its query vector), <c>normal</c> (default) or <c>low</c>
    /// (background). Interactive texts overtake others inside the worker. The AMQP <c>priority</c> property (7-9 high,
    /// 0-2 low) does the same and also orders the queue at the broker; this field wins when both are given.
    /// </summary>
    public string? Priority { get; init; }

    /// <summary>
    /// When the answer stops being useful (RFC 3339, e.g. <c>2026-12-01T10:00:05Z</c>). A request whose deadline has
    /// passed before its texts start inference is answered with <see cref="EmbedErrorCodes.Expired"/> and costs no
    /// inference. The AMQP <c>expiration</c> property works too.
    /// </summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// How the result carries its vectors: <c>float</c> (default: JSON numbers in <see cref="EmbedCompleted.Embeddings"/>),
    /// <c>base64</c> (little-endian float32), <c>int8</c> (scalar-quantised per vector, with its scale) or <c>binary</c>
    /// (sign bits packed); the compact ones arrive in <see cref="EmbedCompleted.EncodedEmbeddings"/>.
    /// </summary>
    public string? Encoding { get; init; }
}
