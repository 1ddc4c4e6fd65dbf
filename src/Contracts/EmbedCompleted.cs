namespace AkiDb.Queue.Contracts;

/// <summary>Published to the <c>embed-completed</c> exchange when every text of a request has its vector.</summary>
public sealed record EmbedCompleted
{
    /// <summary>The request's <see cref="EmbedRequested.RequestId"/>.</summary>
    public required string RequestId { get; init; }

    /// <summary>The model that produced the vectors.</summary>
    public required string Model { get; init; }

    /// <summary>Length of each vector.</summary>
    public required int Dimensions { get; init; }

    /// <summary>One vector per input text, in input order. Unit length when the model normalises (the bundled models do).</summary>
    public required IReadOnlyList<float[]> Embeddings { get; init; }

    /// <summary>Tokens the model saw per text, [CLS] and [SEP] included, after truncation.</summary>
    public required IReadOnlyList<int> TokenCounts { get; init; }

    /// <summary>Per text: whether it was cut to the model's token limit.</summary>
    public required IReadOnlyList<bool> Truncated { get; init; }

    /// <summary>The request's metadata, untouched.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Milliseconds from the request being sent (or received, when the producer set no timestamp) until its last batch started inference.</summary>
    public double QueuedMs { get; init; }

    /// <summary>Milliseconds the model spent on the batches that held this request's texts.</summary>
    public double InferenceMs { get; init; }

    /// <summary>Where inference ran: <c>python</c> (the bridge) or <c>native</c> (in-process).</summary>
    public string? Backend { get; init; }

    /// <summary>The ONNX Runtime execution provider actually used: <c>CPU</c>, <c>CUDA</c> or <c>CoreML</c>.</summary>
    public string? ExecutionProvider { get; init; }

    /// <summary>
    /// The W3C traceparent of the span that handled the request, so a consumer in any language can continue or look up
    /// the request's trace (a producer starts one by sending the header MT-Activity-Id with its own traceparent).
    /// </summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// The request's encoding when it was not <c>float</c>: <c>base64</c>, <c>int8</c> or <c>binary</c>. Then
    /// <see cref="Embeddings"/> is empty and <see cref="EncodedEmbeddings"/> holds the vectors.
    /// </summary>
    public string? Encoding { get; init; }

    /// <summary>
    /// One base64 string per text, in input order, when <see cref="Encoding"/> is set: <c>base64</c> is the
    /// little-endian float32 vector; <c>int8</c> one signed byte per dimension (value = byte × <see cref="Scales"/>[i]);
    /// <c>binary</c> one bit per dimension, 1 where the value is above 0, most significant bit first (numpy packbits).
    /// </summary>
    public IReadOnlyList<string>? EncodedEmbeddings { get; init; }

    /// <summary><c>int8</c> only: per vector, the factor that turns its bytes back into floats (max |value| ÷ 127).</summary>
    public IReadOnlyList<float>? Scales { get; init; }

    /// <summary>
    /// The request's AMQP <c>correlation_id</c> when it had one, else its <see cref="RequestId"/>. The published
    /// message carries the same value as its AMQP <c>correlation_id</c> property, so an RPC caller or a pipeline can join.
    /// </summary>
    public string? CorrelationId { get; init; }

    /// <summary>
    /// Per text: whether its vector came from the embedding cache (computed earlier by this or another worker for the
    /// same model and the same tokens) instead of the model. Absent from workers without a cache.
    /// </summary>
    public IReadOnlyList<bool>? Cached { get; init; }

    /// <summary>The arithmetic the model ran in: <c>fp32</c>, or <c>int8</c> for a quantised variant (docs/quality.md).</summary>
    public string? Precision { get; init; }
}
