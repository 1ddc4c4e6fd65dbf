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

    /// <summary>The arithmetic the model ran in: <c>fp32</c>, or <c>int8</c> for a quantised variant (docs/quality.md).</summary>
    public string? Precision { get; init; }
}
