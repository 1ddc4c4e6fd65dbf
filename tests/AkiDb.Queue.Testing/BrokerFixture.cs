using DotNet.Testcontainers.Configurations;
using Testcontainers.RabbitMq;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// One real RabbitMQ broker for the whole test run, taken from AKIDB_TEST_RABBITMQ_URL (with
/// AKIDB_TEST_RABBITMQ_MANAGEMENT_URL) when set, from Testcontainers when a Docker engine answers, and otherwise a
/// private rabbitmq-server process started here. Tests isolate themselves with a virtual host each.
/// </summary>
public sealed class BrokerFixture : IAsyncLifetime
{
    private PrivateRabbitMq? _private;
    private RabbitMqContainer? _container;

    public string AmqpUrl { get; private set; } = "";

    public string ManagementUrl { get; private set; } = "";

    public string Source { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("AKIDB_TEST_RABBITMQ_URL") is { Length: > 0 } url)
        {
            AmqpUrl = url;
            ManagementUrl = Environment.GetEnvironmentVariable("AKIDB_TEST_RABBITMQ_MANAGEMENT_URL")
                            ?? throw new InvalidOperationException("AKIDB_TEST_RABBITMQ_URL is set, so AKIDB_TEST_RABBITMQ_MANAGEMENT_URL must be too: tests use the management API.");
            Source = "AKIDB_TEST_RABBITMQ_URL";
        }
        else if (TestcontainersSettings.OS.DockerEndpointAuthConfig is not null)
        {
            _container = new RabbitMqBuilder("rabbitmq:3-management").WithPortBinding(15672, true).Build();
            await _container.StartAsync();
            AmqpUrl = _container.GetConnectionString();
            ManagementUrl = $"http://{_container.Hostname}:{_container.GetMappedPublicPort(15672)}/";
            Source = "Testcontainers";
        }
        else if (PrivateRabbitMq.IsInstalled)
        {
            _private = await PrivateRabbitMq.StartNewAsync("shared");
            AmqpUrl = _private.AmqpUrl;
            ManagementUrl = _private.ManagementUrl;
            Source = "private rabbitmq-server";
        }
        else
        {
            throw new InvalidOperationException(
                "No RabbitMQ for the integration tests: set AKIDB_TEST_RABBITMQ_URL and AKIDB_TEST_RABBITMQ_MANAGEMENT_URL, start Docker, or install rabbitmq-server (./test.sh does the last).");
        }
    }

    /// <summary>A fresh virtual host on the broker, and the AMQP URL that points into it.</summary>
    public async Task<(string Vhost, string AmqpUrl)> CreateVirtualHostAsync(string prefix)
    {
        var vhost = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 60)];
        using var management = new ManagementClient(ManagementUrl);
        await management.CreateVirtualHostAsync(vhost);
        var builder = new UriBuilder(AmqpUrl) { Path = "/" + Uri.EscapeDataString(vhost) };
        return (vhost, builder.Uri.ToString());
    }

    public async Task DisposeAsync()
    {
        if (_private is not null)
        {
            await _private.DisposeAsync();
        }

        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "broker";
}
