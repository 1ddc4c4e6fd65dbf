using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Testing;

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
    private readonly ConcurrentQueue<ErrorMessage> _errors = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly SemaphoreSlim _errorArrived = new(0);

    private ResultCollector(IConnection connection, IChannel publish, IChannel consume)
    {
        _connection = connection;
        _publish = publish;
        _consume = consume;
    }

    public IReadOnlyCollection<Result> Results => _results;

    public IEnumerable<Result> Completed => _results.Where(r => r.IsCompleted);

    public IEnumerable<Result> Failed => _results.Where(r => !r.IsCompleted);

    /// <summary>Messages in embed-requested_error, with MassTransit's fault headers. They are held unacknowledged, so they stay in that queue.</summary>
    public IReadOnlyCollection<ErrorMessage> Errors => _errors;

    /// <param name="durableQueue">A durable, named results queue: results published while this client is disconnected (a broker restart) are kept.</param>
    /// <param name="amqpUrl">The broker; for an <c>amqps://</c> one, trust its CA with <paramref name="caFile"/> or SSL_CERT_FILE.</param>
    /// <param name="caFile">PEM CA file for a TLS broker signed by a private CA.</param>
    /// <param name="watchErrorQueue">Declare and watch embed-requested_error with the worker's default arguments; off for a test that declares it otherwise.</param>
    public static async Task<ResultCollector> StartAsync(string amqpUrl, string? durableQueue = null, string? caFile = null, bool watchErrorQueue = true)
    {
        var factory = AkiDb.Queue.Broker.BrokerConnections.Create(new() { Url = amqpUrl, CaFile = caFile }, key => key).CreateFactory("akidb-tests", automaticRecovery: true);
        var connection = await factory.CreateConnectionAsync();
        var publish = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var consume = await connection.CreateChannelAsync();
        var collector = new ResultCollector(connection, publish, consume);

        // Declared exactly as MassTransit declares them, so whichever side comes first, both agree.
        foreach (var exchange in new[] { QueueNames.EmbedCompleted, QueueNames.EmbedFailed })
        {
            await consume.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        }

        var queue = durableQueue is null
            ? (await consume.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName
            : (await consume.QueueDeclareAsync(durableQueue, durable: true, exclusive: false, autoDelete: false)).QueueName;
        await consume.QueueBindAsync(queue, QueueNames.EmbedCompleted, "");
        await consume.QueueBindAsync(queue, QueueNames.EmbedFailed, "");
        var consumer = new AsyncEventingBasicConsumer(consume);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            using var json = JsonDocument.Parse(delivery.Body);
            var hostInfo = delivery.BasicProperties.Headers?.TryGetValue("MT-Host-Info", out var info) == true && info is byte[] infoBytes ? Encoding.UTF8.GetString(infoBytes) : null;
            collector._results.Enqueue(new Result(delivery.Exchange, json.RootElement.Clone(), delivery.BasicProperties.ContentType, hostInfo));
            collector._arrived.Release();
            return Task.CompletedTask;
        };
        await consume.BasicConsumeAsync(queue, autoAck: true, consumer);

        if (!watchErrorQueue)
        {
            return collector;
        }

        // The error queue, declared as MassTransit declares it, so it can be watched before the first fault.
        await consume.ExchangeDeclareAsync(QueueNames.EmbedRequestedError, ExchangeType.Fanout, durable: true, autoDelete: false);
        // With the worker's default bound (RabbitMq:ErrorQueueMaxLength): a queue's arguments must match on every declare.
        const int errorBound = 10_000; // RabbitMqOptions.ErrorQueueMaxLength's default
        await consume.QueueDeclareAsync(QueueNames.EmbedRequestedError, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = errorBound, ["x-overflow"] = "drop-head" });
        await consume.QueueBindAsync(QueueNames.EmbedRequestedError, QueueNames.EmbedRequestedError, "");
        var errors = new AsyncEventingBasicConsumer(consume);
        errors.ReceivedAsync += (_, delivery) =>
        {
            var headers = delivery.BasicProperties.Headers ?? new Dictionary<string, object?>();
            string? Header(string name) => headers.TryGetValue(name, out var v) && v is byte[] bytes ? Encoding.UTF8.GetString(bytes) : v?.ToString();
            collector._errors.Enqueue(new ErrorMessage(delivery.Body.ToArray(), Header("MT-Fault-ExceptionType"), Header("MT-Fault-Message")));
            collector._errorArrived.Release();
            return Task.CompletedTask;
        };
        await consume.BasicConsumeAsync(QueueNames.EmbedRequestedError, autoAck: false, errors);
        return collector;
    }

    /// <summary>Waits until at least <paramref name="count"/> messages are in the error queue; returns false on timeout.</summary>
    public Task<bool> WaitForErrorsAsync(int count, TimeSpan timeout) => WaitUntilAsync(() => _errors.Count >= count, _errorArrived, timeout);

    /// <summary>Publishes a body to the embed-requested queue through the default exchange, as any AMQP client can.</summary>
    public async Task PublishAsync(string body, bool withContentType = true, string routingKey = QueueNames.EmbedRequested) =>
        await PublishAsync(Encoding.UTF8.GetBytes(body), withContentType, routingKey);

    public async Task PublishAsync(byte[] body, bool withContentType = true, string routingKey = QueueNames.EmbedRequested, IDictionary<string, object?>? headers = null)
    {
        var properties = new BasicProperties { Persistent = true, Headers = headers };
        if (withContentType)
        {
            properties.ContentType = "application/json";
        }

        await _publish.BasicPublishAsync("", routingKey, mandatory: false, properties, body);
    }

    public static string Request(string requestId, params string[] texts) =>
        JsonSerializer.Serialize(new { requestId, texts });

    /// <summary>Waits until at least <paramref name="count"/> results have arrived; returns false on timeout.</summary>
    public Task<bool> WaitForAsync(int count, TimeSpan timeout) => WaitUntilAsync(() => _results.Count >= count, _arrived, timeout);

    /// <summary>Re-checks the condition each time a delivery signals; false when the timeout passes first.</summary>
    private static async Task<bool> WaitUntilAsync(Func<bool> condition, SemaphoreSlim signal, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!condition())
            {
                await signal.WaitAsync(cts.Token);
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
        _errorArrived.Dispose();
    }

    public sealed record ErrorMessage(byte[] Body, string? ExceptionType, string? ExceptionMessage)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    /// <param name="HostInfo">MassTransit's MT-Host-Info header: which worker process published the result.</param>
    public sealed record Result(string Exchange, JsonElement Body, string? ContentType, string? HostInfo = null)
    {
        public int? WorkerProcessId => HostInfo is null ? null
            : JsonDocument.Parse(HostInfo).RootElement.EnumerateObject()
                .Where(p => p.Name.Equals("processId", StringComparison.OrdinalIgnoreCase))
                .Select(p => (int?)p.Value.GetInt32()).FirstOrDefault();

        public bool IsCompleted => Exchange == QueueNames.EmbedCompleted;

        public string? RequestId => Body.TryGetProperty("requestId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

        public string? Code => Body.TryGetProperty("code", out var code) ? code.GetString() : null;

        public string? Message => Body.TryGetProperty("message", out var message) ? message.GetString() : null;

        public int? TextIndex => Body.TryGetProperty("textIndex", out var index) && index.ValueKind == JsonValueKind.Number ? index.GetInt32() : null;

        public float[][] Embeddings => Body.GetProperty("embeddings").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();

        public int Dimensions => Body.GetProperty("dimensions").GetInt32();
    }
}
