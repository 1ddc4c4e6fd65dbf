using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// Plays the part of a producer in another language: publishes plain JSON bodies with RabbitMQ.Client and collects
/// every result from its own queue bound to the embed-completed and embed-failed exchanges.
/// </summary>
public sealed class ResultCollector : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _publish;
    private readonly IChannel _consume;
    private readonly ConcurrentQueue<Result> _results = new();
    private readonly SemaphoreSlim _arrived = new(0);

    private ResultCollector(IConnection connection, IChannel publish, IChannel consume)
    {
        _connection = connection;
        _publish = publish;
        _consume = consume;
    }

    public IReadOnlyCollection<Result> Results => _results;

    public IEnumerable<Result> Completed => _results.Where(r => r.IsCompleted);

    public IEnumerable<Result> Failed => _results.Where(r => !r.IsCompleted);

    public static async Task<ResultCollector> StartAsync(string amqpUrl)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUrl), ClientProvidedName = "akidb-tests" };
        var connection = await factory.CreateConnectionAsync();
        var publish = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var consume = await connection.CreateChannelAsync();
        var collector = new ResultCollector(connection, publish, consume);

        // Declared exactly as MassTransit declares them, so whichever side comes first, both agree.
        foreach (var exchange in new[] { "embed-completed", "embed-failed" })
        {
            await consume.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        }

        var queue = (await consume.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await consume.QueueBindAsync(queue, "embed-completed", "");
        await consume.QueueBindAsync(queue, "embed-failed", "");
        var consumer = new AsyncEventingBasicConsumer(consume);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            using var json = JsonDocument.Parse(delivery.Body);
            collector._results.Enqueue(new Result(delivery.Exchange, json.RootElement.Clone(), delivery.BasicProperties.ContentType));
            collector._arrived.Release();
            return Task.CompletedTask;
        };
        await consume.BasicConsumeAsync(queue, autoAck: true, consumer);
        return collector;
    }

    /// <summary>Publishes a body to the embed-requested queue through the default exchange, as any AMQP client can.</summary>
    public async Task PublishAsync(string body, bool withContentType = true, string routingKey = "embed-requested") =>
        await PublishAsync(Encoding.UTF8.GetBytes(body), withContentType, routingKey);

    public async Task PublishAsync(byte[] body, bool withContentType = true, string routingKey = "embed-requested")
    {
        var properties = new BasicProperties { Persistent = true };
        if (withContentType)
        {
            properties.ContentType = "application/json";
        }

        await _publish.BasicPublishAsync("", routingKey, mandatory: false, properties, body);
    }

    public static string Request(string requestId, params string[] texts) =>
        JsonSerializer.Serialize(new { requestId, texts });

    /// <summary>Waits until at least <paramref name="count"/> results have arrived; returns false on timeout.</summary>
    public async Task<bool> WaitForAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (_results.Count < count)
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

    /// <summary>Waits for a result for this request id.</summary>
    public async Task<Result> WaitForAsync(string requestId, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (_results.FirstOrDefault(r => r.RequestId == requestId) is { } found)
            {
                return found;
            }

            try
            {
                await _arrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No result for {requestId} within {timeout}; got {_results.Count} results: {string.Join(", ", _results.Select(r => r.RequestId))}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _consume.CloseAsync();
        await _publish.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
        _arrived.Dispose();
    }

    public sealed record Result(string Exchange, JsonElement Body, string? ContentType)
    {
        public bool IsCompleted => Exchange == "embed-completed";

        public string? RequestId => Body.TryGetProperty("requestId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

        public string? Code => Body.TryGetProperty("code", out var code) ? code.GetString() : null;

        public string? Message => Body.TryGetProperty("message", out var message) ? message.GetString() : null;

        public int? TextIndex => Body.TryGetProperty("textIndex", out var index) && index.ValueKind == JsonValueKind.Number ? index.GetInt32() : null;

        public float[][] Embeddings => Body.GetProperty("embeddings").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();

        public int Dimensions => Body.GetProperty("dimensions").GetInt32();
    }
}
