using System.Net.Mime;
using MassTransit;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// One result's body, serialised by the first send that needs it and reused by every later copy of the same result
/// (the reply to <c>reply_to</c>, the publish to its exchange, the parking queue). A result of 16 vectors is some
/// 70 KB of JSON numbers; serialising it once per copy nearly doubled the worker's CPU per cached text once
/// <c>akidb-queue embed</c> asked for replies (measured: 1.8 s against 3.4 s of worker CPU per 20,000 cached texts).
/// </summary>
/// <remarks>
/// MassTransit sets <see cref="SendContext.Serializer"/> before the caller's send callback runs and serialises lazily
/// afterwards, so <see cref="ApplyTo"/> in that callback wraps the endpoint's own serializer: the wrapped one still
/// runs for each send (the raw JSON serializer sets that send's transport headers there), and only its body is
/// reused. The copies go out one after the other (reply, then exchange, then parking), never at once.
/// </remarks>
internal sealed class SerializedOnce
{
    private byte[]? _body;

    /// <summary>Makes <paramref name="send"/> use this result's body, serialising it if no earlier copy did.</summary>
    public void ApplyTo(SendContext send) => send.Serializer = new Reusing(send.Serializer, this);

    private sealed class Reusing(IMessageSerializer inner, SerializedOnce owner) : IMessageSerializer
    {
        public ContentType ContentType => inner.ContentType;

        public MessageBody GetMessageBody<T>(SendContext<T> context)
            where T : class
        {
            var body = inner.GetMessageBody(context);
            return new BytesMessageBody(owner._body ??= body.GetBytes());
        }
    }
}
