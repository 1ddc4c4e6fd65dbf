using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// A caller using the standard RabbitMQ RPC pattern, as examples/python/rpc.py does: each request carries
/// <c>reply_to</c> (direct reply-to, so no queue at all) and a <c>correlation_id</c>, and the caller binds nothing to
/// the result exchanges. One request at a time; latency is publish to reply, on this process's Stopwatch.
/// </summary>
internal sealed class RpcClient : IAsyncDisposable
{
    private const string DirectReplyTo = "amq.rabbitmq.reply-to";
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<long>> _waiting = new();

    private RpcClient(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public static async Task<RpcClient> ConnectAsync(string url)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "akidb-queue-bench-rpc" }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        var client = new RpcClient(connection, channel);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var at = Stopwatch.GetTimestamp();
            if (delivery.BasicProperties.CorrelationId is { } id && client._waiting.TryRemove(id, out var reply))
            {
                reply.TrySetResult(at);
            }

            return Task.CompletedTask;
        };
        // Direct reply-to: consume (auto-ack) before publishing, on the channel that publishes.
        await channel.BasicConsumeAsync(DirectReplyTo, autoAck: true, consumer);
        return client;
    }

    /// <summary>One single-text request; the milliseconds from publish to its reply.</summary>
    public async Task<double> CallAsync(string id, string text, TimeSpan patience)
    {
        var reply = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[id] = reply;
        var body = JsonSerializer.SerializeToUtf8Bytes(new { requestId = id, texts = new[] { text } });
        var properties = new BasicProperties { ContentType = "application/json", ReplyTo = DirectReplyTo, CorrelationId = id };
        var started = Stopwatch.GetTimestamp();
        await _channel.BasicPublishAsync("", "embed-requested", mandatory: false, properties, body);
        var arrived = await reply.Task.WaitAsync(patience);
        return Stopwatch.GetElapsedTime(started, arrived).TotalMilliseconds;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
    }
}
