using AkiDb.Queue.Contracts;
using DotNet.Testcontainers.Configurations;
using Testcontainers.RabbitMq;
using Xunit;

namespace AkiDb.Queue.Testing;

/// <summary>
/// One real RabbitMQ broker for a whole test run or benchmark, taken from PREFIX_URL (with PREFIX_MANAGEMENT_URL)
/// when set, from Testcontainers when a Docker engine answers, and otherwise a private rabbitmq-server process started
/// here (<see cref="PrivateRabbitMq"/>) and stopped with this object. Users isolate themselves with a virtual host each.
/// </summary>
public sealed class BrokerFixture : IAsyncLifetime
{
    private readonly string _environmentPrefix;
    private readonly string? _privateDirectory;
    private PrivateRabbitMq? _private;
    private RabbitMqContainer? _container;

    /// <summary>The tests' broker: AKIDB_TEST_RABBITMQ_URL, Docker, or a private one in a temporary directory.</summary>
    public BrokerFixture()
    {
        _environmentPrefix = "AKIDB_TEST_RABBITMQ";
    }

    // xunit wants a collection fixture to have one public constructor; other users say more through this one.
    private BrokerFixture(string environmentPrefix, string? privateDirectory)
    {
        _environmentPrefix = environmentPrefix;
        _privateDirectory = privateDirectory;
    }

    /// <param name="environmentPrefix">PREFIX_URL and PREFIX_MANAGEMENT_URL name an external broker.</param>
    /// <param name="privateDirectory">Where a private broker keeps its data; a temporary directory when null.</param>
    public static BrokerFixture From(string environmentPrefix, string? privateDirectory = null) => new(environmentPrefix, privateDirectory);

    public string AmqpUrl { get; private set; } = "";

    public string ManagementUrl { get; private set; } = "";

    public string Source { get; private set; } = "";

    /// <summary>The private broker's Erlang VM, for its CPU time; null for any other broker.</summary>
    public int? BeamPid => _private?.BeamPid;

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable($"{_environmentPrefix}_URL") is { Length: > 0 } url)
        {
            AmqpUrl = url;
            ManagementUrl = Environment.GetEnvironmentVariable($"{_environmentPrefix}_MANAGEMENT_URL")
                            ?? throw new InvalidOperationException($"{_environmentPrefix}_URL is set, so {_environmentPrefix}_MANAGEMENT_URL must be too: virtual hosts are created through the management API.");
            Source = $"{_environmentPrefix}_URL ({BrokerUrl.Redact(url)})";
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
            _private = await PrivateRabbitMq.StartNewAsync("shared", _privateDirectory);
            AmqpUrl = _private.AmqpUrl;
            ManagementUrl = _private.ManagementUrl;
            Source = "private rabbitmq-server";
        }
        else
        {
            throw new InvalidOperationException(
                $"No RabbitMQ: set {_environmentPrefix}_URL and {_environmentPrefix}_MANAGEMENT_URL, start Docker, or install rabbitmq-server (./test.sh and ./bench.sh do the last).");
        }
    }

    /// <summary>A fresh virtual host on the broker, and the AMQP URL that points into it.</summary>
    public async Task<(string Vhost, string AmqpUrl)> CreateVirtualHostAsync(string prefix)
    {
        var vhost = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 60)];
        await CreateVirtualHostNamedAsync(vhost);
        return (vhost, UrlFor(vhost));
    }

    /// <summary>A virtual host of exactly this name, with full permissions for the user of <see cref="AmqpUrl"/>.</summary>
    public async Task CreateVirtualHostNamedAsync(string vhost)
    {
        using var management = Management();
        await management.CreateVirtualHostAsync(vhost);
    }

    public async Task DeleteVirtualHostAsync(string vhost)
    {
        using var management = Management();
        await management.DeleteVirtualHostAsync(vhost);
    }

    /// <summary>The AMQP URL of a virtual host on this broker.</summary>
    public string UrlFor(string vhost) => new UriBuilder(AmqpUrl) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri.AbsoluteUri;

    /// <summary>A management client with the credentials of <see cref="AmqpUrl"/>.</summary>
    public ManagementClient Management()
    {
        var parts = new Uri(AmqpUrl).UserInfo.Split(':', 2);
        return parts.Length == 2 && parts[0].Length > 0
            ? new ManagementClient(ManagementUrl, Uri.UnescapeDataString(parts[0]), Uri.UnescapeDataString(parts[1]))
            : new ManagementClient(ManagementUrl);
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
