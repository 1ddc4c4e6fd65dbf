using System.Text;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Priorities;

/// <summary>A producer that sets the AMQP properties the priority tests need: priority and expiration.</summary>
internal sealed class PropertyPublisher : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private PropertyPublisher(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public static async Task<PropertyPublisher> StartAsync(string amqpUrl)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(amqpUrl), ClientProvidedName = "akidb-tests-priorities" }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        return new PropertyPublisher(connection, channel);
    }

    public async Task PublishAsync(string body, byte? priority = null, string? expiration = null)
    {
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json" };
        if (priority is { } p)
        {
            properties.Priority = p;
        }

        if (expiration is not null)
        {
            properties.Expiration = expiration;
        }

        await _channel.BasicPublishAsync("", "embed-requested", mandatory: false, properties, Encoding.UTF8.GetBytes(body));
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
    }
}
