using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>
/// Producer and results consumer for the priority scenario: bulk and interactive requests at once, told apart by their
/// request id prefix, each result time-stamped on arrival with this process's Stopwatch.
/// </summary>
internal sealed class PriorityClient : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private readonly IChannel _subscriber;
    private readonly SemaphoreSlim _inFlight = new(256);
    private readonly ConcurrentDictionary<string, long> _published = new();
    private readonly ConcurrentDictionary<string, (long At, bool Completed, string? Code)> _received = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private int _disposed;

    private PriorityClient(IConnection connection, IChannel publisher, IChannel subscriber)
    {
        _connection = connection;
        _publisher = publisher;
        _subscriber = subscriber;
    }

    public int ReceivedCount => _received.Count;

    public static async Task<PriorityClient> ConnectAsync(string url)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "akidb-queue-bench-priorities" }.CreateConnectionAsync();
        var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var subscriber = await connection.CreateChannelAsync();
        var client = new PriorityClient(connection, publisher, subscriber);
        foreach (var exchange in new[] { "embed-completed", "embed-failed" })
        {
            await subscriber.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        }

        var queue = (await subscriber.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await subscriber.QueueBindAsync(queue, "embed-completed", "");
        await subscriber.QueueBindAsync(queue, "embed-failed", "");
        var consumer = new AsyncEventingBasicConsumer(subscriber);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var at = Stopwatch.GetTimestamp();
            var reader = new Utf8JsonReader(delivery.Body.Span);
            string? id = null, code = null;
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (name == "requestId" && reader.TokenType == JsonTokenType.String)
                {
                    id = reader.GetString();
                }
                else if (name == "code" && reader.TokenType == JsonTokenType.String)
                {
                    code = reader.GetString();
                }
                else
                {
                    reader.Skip();
                }
            }

            if (id is not null && client._received.TryAdd(id, (at, delivery.Exchange == "embed-completed", code)))
            {
                client._arrived.Release();
            }

            return Task.CompletedTask;
        };
        await subscriber.BasicConsumeAsync(queue, autoAck: true, consumer);
        return client;
    }

    /// <summary>A single-text request; interactive ones carry AMQP priority 9 and <c>"priority": "high"</c>.</summary>
    public Task PublishAsync(string id, string text, bool interactive) => PublishAsync(id, [text], interactive);

    /// <summary>A request of several texts, as <c>akidb-queue embed</c> sends them.</summary>
    public async Task PublishAsync(string id, string[] texts, bool interactive)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(interactive
            ? new { requestId = id, texts, priority = "high" }
            : (object)new { requestId = id, texts });
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
        if (interactive)
        {
            properties.Priority = 9;
        }

        await _inFlight.WaitAsync();
        try
        {
            _published[id] = Stopwatch.GetTimestamp();
            await _publisher.BasicPublishAsync("", "embed-requested", mandatory: false, properties, body);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>A request that is already expired when it is sent: by <c>expiresAt</c>, or by a 1 ms AMQP expiration.</summary>
    public async Task PublishExpiredAsync(string id, string text, bool viaAmqpExpiration)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(viaAmqpExpiration
            ? new { requestId = id, texts = new[] { text } }
            : (object)new { requestId = id, texts = new[] { text }, expiresAt = DateTimeOffset.UtcNow.AddSeconds(-1) });
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
        if (viaAmqpExpiration)
        {
            properties.Expiration = "1";
        }

        _published[id] = Stopwatch.GetTimestamp();
        await _publisher.BasicPublishAsync("", "embed-requested", mandatory: false, properties, body);
    }

    /// <summary>Drops what is still queued in embed-requested; returns how many messages that was.</summary>
    public async Task<uint> PurgeAsync() => await _publisher.QueuePurgeAsync("embed-requested");

    /// <summary>Waits until at least <paramref name="count"/> of <paramref name="ids"/> have a result; false on timeout.</summary>
    public async Task<bool> WaitForCountAsync(IReadOnlyCollection<string> ids, int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (ids.Count(_received.ContainsKey) < count)
            {
                await _arrived.WaitAsync(cts.Token);
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public int CodeCount(IEnumerable<string> ids, string code) => ids.Count(id => _received.TryGetValue(id, out var got) && got.Code == code);

    /// <summary>Waits until every one of <paramref name="ids"/> has a result; false on timeout.</summary>
    public async Task<bool> WaitForAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (ids.Any(id => !_received.ContainsKey(id)))
            {
                await _arrived.WaitAsync(cts.Token);
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public double? LatencyMs(string id) =>
        _published.TryGetValue(id, out var sent) && _received.TryGetValue(id, out var got) ? (got.At - sent) * 1000.0 / Stopwatch.Frequency : null;

    public long? ReceivedAt(string id) => _received.TryGetValue(id, out var got) ? got.At : null;

    public int Failed(IEnumerable<string> ids) => ids.Count(id => _received.TryGetValue(id, out var got) && !got.Completed);

    /// <summary>Closes the connection (its exclusive results queue goes with it); a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _subscriber.CloseAsync();
        await _publisher.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
        _inFlight.Dispose();
        _arrived.Dispose();
    }
}
