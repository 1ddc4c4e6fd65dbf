using System.Net.Mime;
using AkiDb.Queue.Worker.Messaging.Edges;
using MassTransit;
using MassTransit.Context;

namespace AkiDb.Queue.Tests;

/// <summary>
/// A result sent more than once (reply, exchange, parking) is serialised by the first send and reused by the others,
/// while the endpoint's serializer still runs for each send (it sets that send's own transport headers).
/// </summary>
public sealed class SerializedOnceTests
{
    [Fact]
    public void The_second_copy_reuses_the_first_copys_bytes_and_each_send_still_gets_its_headers()
    {
        var endpoint = new CountingSerializer();
        var once = new SerializedOnce();
        var result = new Payload("r-1", [0.25f, -0.5f]);
        var reply = new MessageSendContext<Payload>(result) { Serializer = endpoint };
        var publish = new MessageSendContext<Payload>(result) { Serializer = endpoint };

        once.ApplyTo(reply);
        once.ApplyTo(publish);
        var first = reply.Body.GetBytes();
        var second = publish.Body.GetBytes();

        Assert.Same(first, second);
        Assert.Equal(1, endpoint.Serialised);
        Assert.Equal(2, endpoint.HeadersSet);
        Assert.Equal("yes", reply.Headers.Get<string>("x-set-by-serializer"));
        Assert.Equal("yes", publish.Headers.Get<string>("x-set-by-serializer"));
        Assert.Equal(endpoint.ContentType, publish.Serializer.ContentType);
    }

    [Fact]
    public void Two_results_never_share_a_body()
    {
        var endpoint = new CountingSerializer();
        var a = new MessageSendContext<Payload>(new Payload("a", [1f])) { Serializer = endpoint };
        var b = new MessageSendContext<Payload>(new Payload("b", [2f])) { Serializer = endpoint };

        new SerializedOnce().ApplyTo(a);
        new SerializedOnce().ApplyTo(b);

        Assert.NotEqual(a.Body.GetString(), b.Body.GetString());
        Assert.Equal(2, endpoint.Serialised);
    }

    public sealed record Payload(string RequestId, float[] Embedding);

    /// <summary>Stands in for the raw JSON serializer: sets a header per send, serialises lazily, counts both.</summary>
    private sealed class CountingSerializer : IMessageSerializer
    {
        public int Serialised { get; private set; }

        public int HeadersSet { get; private set; }

        public ContentType ContentType { get; } = new("application/json");

        public MessageBody GetMessageBody<T>(SendContext<T> context)
            where T : class
        {
            HeadersSet++;
            context.Headers.Set("x-set-by-serializer", "yes");
            return new Lazy(() =>
            {
                Serialised++;
                return System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(context.Message);
            });
        }

        private sealed class Lazy(Func<byte[]> make) : MessageBody
        {
            private byte[]? _bytes;

            public long? Length => _bytes?.Length;

            public Stream GetStream() => new MemoryStream(GetBytes());

            public byte[] GetBytes() => _bytes ??= make();

            public string GetString() => System.Text.Encoding.UTF8.GetString(GetBytes());
        }
    }
}
