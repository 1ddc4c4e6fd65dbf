using System.Net.Mime;
using MassTransit;
using MassTransit.Context;
using MassTransit.Serialization;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// MassTransit's raw JSON deserializer, except that a UTF-8 byte-order mark before the JSON is skipped (RFC 8259 §8.1
/// lets a parser ignore it; Windows tools and some .NET writers emit one). System.Text.Json rejects a BOM in a byte
/// span, so without this such a request went to the error queue as malformed.
/// </summary>
internal sealed class BomTolerantJsonDeserializer(IMessageDeserializer inner) : IMessageDeserializer
{
    public ContentType ContentType => inner.ContentType;

    public void Probe(ProbeContext context) => inner.Probe(context);

    public ConsumeContext Deserialize(ReceiveContext receiveContext) =>
        new BodyConsumeContext(receiveContext, Deserialize(receiveContext.Body, receiveContext.TransportHeaders, receiveContext.InputAddress));

    public SerializerContext Deserialize(MessageBody body, Headers headers, Uri? destinationAddress = null)
    {
        var bytes = body.GetBytes();
        return inner.Deserialize(bytes.AsSpan().StartsWith("\uFEFF"u8) ? new BytesMessageBody(bytes[3..]) : body, headers, destinationAddress);
    }

    public MessageBody GetMessageBody(string text) => inner.GetMessageBody(text);
}

/// <summary>Registers <see cref="BomTolerantJsonDeserializer"/> in place of MassTransit's raw JSON deserializer.</summary>
internal sealed class BomTolerantJsonSerializerFactory(RawSerializerOptions options) : ISerializerFactory
{
    private readonly MassTransit.Configuration.SystemTextJsonRawMessageSerializerFactory _inner = new(options);

    public ContentType ContentType => _inner.ContentType;

    public IMessageSerializer CreateSerializer() => _inner.CreateSerializer();

    public IMessageDeserializer CreateDeserializer() => new BomTolerantJsonDeserializer(_inner.CreateDeserializer());
}
