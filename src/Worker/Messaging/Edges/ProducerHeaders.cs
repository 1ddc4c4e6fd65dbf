using System.Text;
using MassTransit;
using MassTransit.RabbitMqTransport;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// The MassTransit routing headers a producer sent, taken off the message before MassTransit reads them. Left in
/// place, <c>MT-MessageType</c> decides which consumer runs (a wrong one sent the request to <c>_skipped</c>), and
/// <c>MT-Response-Address</c>/<c>MT-Fault-Address</c> make MassTransit declare and send to whatever they name. The
/// worker decides those itself: the body on its queue is an EmbedRequested, and replies go through
/// <see cref="ReplyDestination"/>.
/// </summary>
internal sealed record ProducerHeaders(string? MessageType, string? ResponseAddress, string? FaultAddress, string? ReplyTo, string? CorrelationId)
{
    private const int MaxValueLength = 1024;

    private static readonly string[] Routing = ["MT-MessageType", "MT-Response-Address", "MT-Fault-Address"];

    /// <summary>Captures the routing headers and AMQP reply properties, removes the headers, and keeps the capture as a payload.</summary>
    public static void Capture(ReceiveContext context)
    {
        if (context is not RabbitMqBasicConsumeContext amqp)
        {
            return;
        }

        var headers = amqp.Properties.Headers;
        string? Take(string name)
        {
            // Every spelling goes: AMQP table keys are case-sensitive, not every reader of them is.
            var keys = headers?.Keys.Where(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)).ToList() ?? [];
            if (keys.Count == 0)
            {
                return null;
            }

            var value = headers![keys[0]];
            keys.ForEach(k => headers.Remove(k));

            var text = value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, MaxValueLength * 4)),
                null => null,
                _ => value.ToString(),
            };
            return text is { Length: > MaxValueLength } ? text[..MaxValueLength] : text;
        }

        var captured = new ProducerHeaders(Take(Routing[0]), Take(Routing[1]), Take(Routing[2]),
            Bounded(amqp.Properties.ReplyTo), Bounded(amqp.Properties.CorrelationId));
        context.GetOrAddPayload(() => captured);
    }

    private static string? Bounded(string? value) => string.IsNullOrEmpty(value) ? null : value.Length > MaxValueLength ? value[..MaxValueLength] : value;
}

/// <summary>Runs <see cref="ProducerHeaders.Capture"/> before MassTransit deserialises the message.</summary>
internal sealed class ProducerHeadersObserver : IReceiveObserver
{
    public Task PreReceive(ReceiveContext context)
    {
        ProducerHeaders.Capture(context);
        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
}
