using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.Bench.UserPath;

/// <summary>
/// Sends a set of requests as fast as confirms allow and times until the last result: the worker at saturation.
/// Counts result bytes as they cross the broker, whatever the encoding (the end-to-end LoadClient expects float rows).
/// </summary>
internal sealed class DrainClient : IAsyncDisposable
{
    private const string Queue = "embed-requested";
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private Drain? _drain;

    private DrainClient(IConnection connection, IChannel publisher)
    {
        _connection = connection;
        _publisher = publisher;
    }

    public static async Task<DrainClient> ConnectAsync(string url)
    {
        var factory = new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "akidb-queue-bench-drain" };
        var connection = await factory.CreateConnectionAsync();
        var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(true, true, new ThrottlingRateLimiter(256)));
        var client = new DrainClient(connection, publisher);
        var subscriber = await connection.CreateChannelAsync();
        var queue = (await subscriber.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        foreach (var exchange in new[] { "embed-completed", "embed-failed" })
        {
            await subscriber.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await subscriber.QueueBindAsync(queue, exchange, "");
        }

        var consumer = new AsyncEventingBasicConsumer(subscriber);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            client._drain?.OnResult(delivery.Exchange, delivery.Body.Span);
            return Task.CompletedTask;
        };
        await subscriber.BasicConsumeAsync(queue, autoAck: true, consumer);
        return client;
    }

    /// <summary>Sends <paramref name="texts"/> in requests of <paramref name="textsPerMessage"/>; returns when every one is answered.</summary>
    public async Task<DrainResult> RunAsync(string prefix, IReadOnlyList<string> texts, string? encoding, int textsPerMessage, TimeSpan timeout)
    {
        var bodies = texts.Chunk(textsPerMessage).Select((group, i) => JsonSerializer.SerializeToUtf8Bytes(new
        {
            requestId = prefix + i.ToString(CultureInfo.InvariantCulture),
            texts = group,
            encoding,
        })).ToList();
        var drain = new Drain(prefix, bodies.Count);
        Volatile.Write(ref _drain, drain);
        var clock = Stopwatch.StartNew();
        var sends = new List<Task>(256);
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
        foreach (var body in bodies)
        {
            sends.Add(_publisher.BasicPublishAsync("", Queue, mandatory: false, properties, body).AsTask());
            if (sends.Count == 256)
            {
                await Task.WhenAll(sends);
                sends.Clear();
            }
        }

        await Task.WhenAll(sends);
        if (await Task.WhenAny(drain.Done.Task, Task.Delay(timeout)) != drain.Done.Task)
        {
            throw new TimeoutException($"{prefix}: {drain.Received} of {bodies.Count} results within {timeout.TotalSeconds:F0} s.");
        }

        return new DrainResult(clock.Elapsed.TotalSeconds, bodies.Count, texts.Count, drain.Bytes, drain.Failed, VectorBytes(drain.Sample));
    }

    /// <summary>JSON bytes of one vector in a result: its array of numbers, or its base64 string with quotes, plus the separating comma.</summary>
    private static double VectorBytes(byte[]? sample)
    {
        if (sample is null)
        {
            return double.NaN;
        }

        using var json = JsonDocument.Parse(sample);
        var vectors = json.RootElement.TryGetProperty("encodedEmbeddings", out var encoded) && encoded.ValueKind == JsonValueKind.Array
            ? encoded
            : json.RootElement.GetProperty("embeddings");
        return vectors.EnumerateArray().Average(v => v.GetRawText().Length + 1.0);
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.CloseAsync();
        _connection.Dispose();
    }

    private sealed class Drain(string prefix, int count)
    {
        private int _received;
        private long _bytes;
        private int _failed;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Received => Volatile.Read(ref _received);

        public long Bytes => Interlocked.Read(ref _bytes);

        public int Failed => Volatile.Read(ref _failed);

        public byte[]? Sample { get; private set; }

        public void OnResult(string exchange, ReadOnlySpan<byte> body)
        {
            // The request id is the first property the worker writes; a cheap prefix test keeps other runs' results out.
            if (body.IndexOf(System.Text.Encoding.UTF8.GetBytes(prefix)) < 0)
            {
                return;
            }

            Interlocked.Add(ref _bytes, body.Length);
            if (exchange != "embed-completed")
            {
                Interlocked.Increment(ref _failed);
            }
            else if (Sample is null)
            {
                Sample = body.ToArray();
            }

            if (Interlocked.Increment(ref _received) == count)
            {
                Done.TrySetResult();
            }
        }
    }
}

/// <summary>One drain: seconds from the first publish to the last result, and the result bytes that crossed the broker.</summary>
internal sealed record DrainResult(double Seconds, int Requests, int Texts, long ResultBytes, int Failed, double VectorBytes)
{
    public double TextsPerSecond => Texts / Seconds;

    public double BytesPerText => (double)ResultBytes / Texts;
}
