using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Bench.EndToEnd;

/// <summary>
/// A producer and a results consumer in one connection, as any client of the worker would be: plain JSON
/// <c>EmbedRequested</c> messages, persistent, with publisher confirms, to the <c>embed-requested</c> queue; results
/// from a private queue bound to <c>embed-completed</c> and <c>embed-failed</c>. Latency is result received minus
/// publish, both read from this process's Stopwatch.
/// </summary>
internal sealed class LoadClient : IAsyncDisposable
{
    public const string Queue = QueueNames.EmbedRequested;

    /// <summary>Publishes awaiting their confirm at once; RabbitMQ.Client's rate limiter refuses (not queues) calls beyond its own limit.</summary>
    private const int MaxInFlight = 256;
    private readonly SemaphoreSlim _inFlight = new(MaxInFlight);
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private readonly IChannel _subscriber;
    private Phase? _phase;

    private LoadClient(IConnection connection, IChannel publisher, IChannel subscriber)
    {
        _connection = connection;
        _publisher = publisher;
        _subscriber = subscriber;
    }

    public static async Task<LoadClient> ConnectAsync(string url)
    {
        var factory = new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "akidb-queue-bench" };
        var connection = await factory.CreateConnectionAsync();
        // Confirms with at most 256 outstanding, as the CLI publishes: the broker has each message before it counts as sent.
        var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true,
            publisherConfirmationTrackingEnabled: true,
            outstandingPublisherConfirmationsRateLimiter: new ThrottlingRateLimiter(MaxInFlight)));
        var subscriber = await connection.CreateChannelAsync();
        var client = new LoadClient(connection, publisher, subscriber);
        foreach (var exchange in new[] { QueueNames.EmbedCompleted, QueueNames.EmbedFailed })
        {
            await subscriber.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        }

        var queue = (await subscriber.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await subscriber.QueueBindAsync(queue, QueueNames.EmbedCompleted, "");
        await subscriber.QueueBindAsync(queue, QueueNames.EmbedFailed, "");
        var consumer = new AsyncEventingBasicConsumer(subscriber);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            client.OnResult(Stopwatch.GetTimestamp(), delivery.Exchange, delivery.Body.Span);
            return Task.CompletedTask;
        };
        await subscriber.BasicConsumeAsync(queue, autoAck: true, consumer);
        return client;
    }

    /// <summary>The JSON body of one single-text request, built before the clock starts.</summary>
    public static byte[] Body(string prefix, int index, string text)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("requestId", prefix + index.ToString(CultureInfo.InvariantCulture));
            writer.WriteStartArray("texts");
            writer.WriteStringValue(text);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public Phase Begin(string prefix, int count)
    {
        var phase = new Phase(prefix, count);
        Volatile.Write(ref _phase, phase);
        return phase;
    }

    /// <summary>Publishes message <paramref name="index"/> of the phase; completes when the broker confirmed it.</summary>
    public async Task PublishAsync(Phase phase, int index, byte[] body)
    {
        // No AMQP timestamp: it has one-second resolution, and without it the worker's queuedMs counts from arrival.
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
        await _inFlight.WaitAsync();
        try
        {
            // The clock starts when the message is handed to the client library (after waiting for a free confirm slot).
            phase.Published[index] = Stopwatch.GetTimestamp();
            await _publisher.BasicPublishAsync("", Queue, mandatory: false, properties, body);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _subscriber.CloseAsync();
        await _publisher.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
        _inFlight.Dispose();
    }

    private void OnResult(long receivedAt, string exchange, ReadOnlySpan<byte> body)
    {
        var phase = Volatile.Read(ref _phase);
        if (phase is null)
        {
            return;
        }

        string? requestId = null;
        double queued = double.NaN, inference = double.NaN;
        var rows = 0;
        var reader = new Utf8JsonReader(body);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "requestId" when reader.TokenType == JsonTokenType.String:
                    requestId = reader.GetString();
                    break;
                case "queuedMs" when reader.TokenType == JsonTokenType.Number:
                    queued = reader.GetDouble();
                    break;
                case "inferenceMs" when reader.TokenType == JsonTokenType.Number:
                    inference = reader.GetDouble();
                    break;
                case "embeddings" when reader.TokenType == JsonTokenType.StartArray:
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartArray)
                    {
                        rows++;
                        reader.Skip();
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (requestId is null || !requestId.StartsWith(phase.Prefix, StringComparison.Ordinal)
            || !int.TryParse(requestId.AsSpan(phase.Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || index < 0 || index >= phase.Count || phase.Received[index] != 0)
        {
            return;
        }

        phase.Received[index] = receivedAt;
        phase.QueuedMs[index] = queued;
        phase.InferenceMs[index] = inference;
        if (exchange != QueueNames.EmbedCompleted || rows != 1)
        {
            Interlocked.Increment(ref phase.Failed);
        }

        if (Interlocked.Increment(ref phase.ReceivedCount) == phase.Count)
        {
            phase.Done.TrySetResult();
        }
    }

    /// <summary>One batch of messages and what came back for each.</summary>
    public sealed class Phase(string prefix, int count)
    {
        public string Prefix { get; } = prefix;
        public int Count { get; } = count;
        public long[] Published { get; } = new long[count];
        public long[] Received { get; } = new long[count];
        public double[] QueuedMs { get; } = new double[count];
        public double[] InferenceMs { get; } = new double[count];
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
#pragma warning disable CA1051 // Interlocked counters
        public int ReceivedCount;
        public int Failed;
#pragma warning restore CA1051

        public async Task<bool> WaitAsync(TimeSpan timeout) => await Task.WhenAny(Done.Task, Task.Delay(timeout)) == Done.Task;

        public IEnumerable<double> LatenciesMs() => Enumerable.Range(0, Count)
            .Where(i => Received[i] != 0)
            .Select(i => (Received[i] - Published[i]) * 1000.0 / Stopwatch.Frequency);
    }
}
