using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Requests;

/// <summary>
/// An <see cref="EmbedRequested"/> parsed once at the edge (<see cref="RequestParser"/>): everything after it takes these
/// typed values, and nothing reads the message's strings again.
/// </summary>
internal sealed record EmbedRequest(
    string RequestId,
    IReadOnlyList<string> Texts,
    EmbeddingModel Model,
    InputType InputType,
    VectorEncoding Encoding,
    RequestUrgency Urgency,
    IReadOnlyDictionary<string, string>? Metadata,
    DateTime SentAt);
