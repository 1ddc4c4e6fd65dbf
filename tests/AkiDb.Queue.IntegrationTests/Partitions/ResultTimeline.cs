using System.Diagnostics;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AkiDb.Queue.IntegrationTests.Partitions;

/// <summary>
/// Every result the workers publish, with the moment it arrived, read from a quorum queue bound to both result
/// exchanges (so it outlives any one node, a rolling restart included) through a connection that fails over between the
/// nodes, in the order given, and recovers by itself. What the CLI run does not show: duplicates (it drops them by requestId) and pauses.
/// </summary>
public sealed class ResultTimeline : IAsyncDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(string Id, TimeSpan At)> _arrivals = [];
    private readonly IConnection _connection;

    private ResultTimeline(IConnection connection) => _connection = connection;

    public TimeSpan Now => _clock.Elapsed;

    public int Count
    {
        get
        {
            lock (_arrivals)
            {
                return _arrivals.Count;
            }
        }
    }

    public static async Task<ResultTimeline> StartAsync(string amqpUrl, IEnumerable<string> nodes)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(amqpUrl),
            ClientProvidedName = "akidb-test-result-timeline",
            RequestedHeartbeat = TimeSpan.FromSeconds(5),
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
        };
        var connection = await factory.CreateConnectionAsync(new InOrderEndpoints(nodes), factory.ClientProvidedName);
        var timeline = new ResultTimeline(connection);
        var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, 500, false);
        const string queue = "test-result-timeline";
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        foreach (var exchange in new[] { QueueNames.EmbedCompleted, QueueNames.EmbedFailed })
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await channel.QueueBindAsync(queue, exchange, "");
        }

        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            using var json = JsonDocument.Parse(delivery.Body);
            var id = json.RootElement.TryGetProperty("requestId", out var r) ? r.GetString() ?? "" : "";
            lock (timeline._arrivals)
            {
                timeline._arrivals.Add((id, timeline._clock.Elapsed));
            }

            await channel.BasicAckAsync(delivery.DeliveryTag, false);
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        return timeline;
    }

    /// <summary>Polls until at least <paramref name="count"/> results have arrived; false after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForAsync(int count, TimeSpan timeout)
    {
        var deadline = _clock.Elapsed + timeout;
        while (Count < count)
        {
            if (_clock.Elapsed > deadline)
            {
                return false;
            }

            // Polling a counter another thread advances.
            await Task.Delay(100);
        }

        return true;
    }

    public IReadOnlyList<(string Id, TimeSpan At)> Snapshot()
    {
        lock (_arrivals)
        {
            return [.. _arrivals];
        }
    }

    /// <summary>The longest stretch without a new result between <paramref name="from"/> and the last result.</summary>
    public TimeSpan LongestPause(TimeSpan from)
    {
        var longest = TimeSpan.Zero;
        var previous = from;
        foreach (var (_, at) in Snapshot().Where(a => a.At >= from))
        {
            longest = at - previous > longest ? at - previous : longest;
            previous = at;
        }

        return longest;
    }

    /// <summary>
    /// How long after <paramref name="from"/> results were flowing again: the end of the first pause of at least
    /// <paramref name="gap"/> that began after <paramref name="from"/> (results still in flight when a fault hits drain
    /// first), measured from <paramref name="from"/>; zero when results never stopped that long.
    /// </summary>
    public TimeSpan ResumedAfter(TimeSpan from, TimeSpan gap, TimeSpan? until = null)
    {
        var previous = from;
        foreach (var (_, at) in Snapshot().Where(a => a.At >= from && (until is null || a.At <= until + gap)))
        {
            if (at - previous >= gap)
            {
                return at - from;
            }

            previous = at;
        }

        return TimeSpan.Zero;
    }

    /// <summary>From <paramref name="from"/> to the first result at or after it.</summary>
    public TimeSpan? FirstResultAfter(TimeSpan from) =>
        Snapshot().Where(a => a.At >= from).Select(a => (TimeSpan?)(a.At - from)).FirstOrDefault();

    public async ValueTask DisposeAsync()
    {
        await _connection.CloseAsync(TimeSpan.FromSeconds(5));
        _connection.Dispose();
    }
}
