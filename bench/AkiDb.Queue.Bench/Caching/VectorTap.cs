using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Bench.Caching;

/// <summary>
/// A second results queue on <c>embed-completed</c> that keeps each result's vector bytes and <c>cached</c> flags,
/// so cached vectors can be compared with fresh ones byte for byte (the load client only times results).
/// </summary>
internal sealed class VectorTap : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private VectorTap(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    /// <summary>By request id: the float32 bits of its single vector, and whether it was cached.</summary>
    public ConcurrentDictionary<string, (int[] Bits, bool Cached)> Results { get; } = new(StringComparer.Ordinal);

    public static async Task<VectorTap> StartAsync(string url)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "akidb-queue-bench-vectors" }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        var tap = new VectorTap(connection, channel);
        await channel.ExchangeDeclareAsync("embed-completed", ExchangeType.Fanout, durable: true, autoDelete: false);
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.QueueBindAsync(queue, "embed-completed", "");
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            using var json = JsonDocument.Parse(delivery.Body);
            var root = json.RootElement;
            var bits = root.GetProperty("embeddings")[0].EnumerateArray().Select(v => BitConverter.SingleToInt32Bits(v.GetSingle())).ToArray();
            var cached = root.TryGetProperty("cached", out var c) && c.ValueKind == JsonValueKind.Array && c[0].GetBoolean();
            tap.Results[root.GetProperty("requestId").GetString()!] = (bits, cached);
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        return tap;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
    }
}
