using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// A producer in any language, at the edges: publishes with whatever properties and headers it likes, reads any
/// queue, and lists the broker objects of its virtual host through the management API.
/// </summary>
public sealed class EdgeClient : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly HttpClient _management;
    private readonly string _vhost;

    private EdgeClient(IConnection connection, IChannel channel, HttpClient management, string vhost)
    {
        _connection = connection;
        _channel = channel;
        _management = management;
        _vhost = vhost;
    }

    public static async Task<EdgeClient> ConnectAsync(string amqpUrl, string managementUrl, string vhost)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(amqpUrl), ClientProvidedName = "akidb-edge-tests" }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var management = new HttpClient { BaseAddress = new Uri(managementUrl.TrimEnd('/') + "/") };
        management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        return new EdgeClient(connection, channel, management, vhost);
    }

    public IConnection Connection => _connection;

    /// <summary>Publishes a request to the worker's queue through the default exchange, confirmed by the broker.</summary>
    public async Task PublishAsync(string body, string? replyTo = null, string? correlationId = null, IDictionary<string, object?>? headers = null)
    {
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", ReplyTo = replyTo, CorrelationId = correlationId, Headers = headers };
        await _channel.BasicPublishAsync("", "embed-requested", mandatory: false, properties, Encoding.UTF8.GetBytes(body));
    }

    /// <summary>Takes every message now in the queue (acknowledging each), until the queue reports none left.</summary>
    public async Task<IReadOnlyList<Delivered>> DrainAsync(string queue)
    {
        await using var channel = await _connection.CreateChannelAsync();
        var taken = new List<Delivered>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            var headers = message.BasicProperties.Headers ?? new Dictionary<string, object?>();
            taken.Add(new Delivered(JsonDocument.Parse(message.Body).RootElement.Clone(), message.BasicProperties.CorrelationId,
                headers.TryGetValue("x-akidb-exchange", out var exchange) && exchange is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null));
        }

        return taken;
    }

    /// <summary>The names of every exchange and queue in the virtual host, as the management UI lists them.</summary>
    public async Task<IReadOnlySet<string>> BrokerObjectsAsync()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var kind in new[] { "exchanges", "queues" })
        {
            using var json = JsonDocument.Parse(await _management.GetStringAsync($"api/{kind}/{Uri.EscapeDataString(_vhost)}?columns=name"));
            foreach (var entry in json.RootElement.EnumerateArray())
            {
                names.Add($"{kind[..^1]}:{entry.GetProperty("name").GetString()}");
            }
        }

        return names;
    }

    /// <summary>Messages in a queue (ready + unacknowledged) from the management API, or -1 when it does not exist.</summary>
    public async Task<int> DepthAsync(string queue)
    {
        var response = await _management.GetAsync($"api/queues/{Uri.EscapeDataString(_vhost)}/{Uri.EscapeDataString(queue)}");
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return -1;
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Number ? messages.GetInt32() : 0;
    }

    /// <summary>Polls the management API (statistics refresh on the broker's own interval) until the condition holds or the timeout passes.</summary>
    public async Task<int> WaitForDepthAsync(string queue, Func<int, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var depth = await DepthAsync(queue);
        while (!condition(depth) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            depth = await DepthAsync(queue);
        }

        return depth;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
        _management.Dispose();
    }

    public sealed record Delivered(JsonElement Body, string? CorrelationId, string? Exchange)
    {
        public string? RequestId => Body.TryGetProperty("requestId", out var id) ? id.GetString() : null;
    }
}
