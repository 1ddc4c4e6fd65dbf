using Xunit;

namespace AkiDb.Queue.Testing;

/// <summary>
/// A private RabbitMQ that serves AMQP over TLS only (<see cref="PrivateRabbitMqTls"/>), with a server certificate
/// signed by a CA made for it (<see cref="TestCertificates"/>), and a second CA that signed nothing of it: what a
/// client trusting the wrong CA sees. Client certificates are verified when presented, and log in by EXTERNAL.
/// </summary>
public sealed class TlsBrokerFixture : IAsyncLifetime
{
    private PrivateRabbitMq? _broker;

    public TestCertificates Authority { get; private set; } = null!;

    public TestCertificates Stranger { get; private set; } = null!;

    /// <summary><c>amqps://guest:guest@127.0.0.1:PORT/</c>.</summary>
    public string AmqpsUrl => _broker!.AmqpUrl;

    public int Port => _broker!.AmqpPort;

    public string ManagementUrl => _broker!.ManagementUrl;

    /// <summary>The broker's Erlang VM, for freezing it (SIGSTOP) and thawing it (SIGCONT).</summary>
    public int? BeamPid => _broker!.BeamPid;

    /// <summary>The PEM file of the CA that signed the broker's certificate.</summary>
    public string CaFile => Authority.CaFile;

    /// <summary>The PEM file of a CA that did not.</summary>
    public string UntrustedCaFile => Stranger.CaFile;

    public async Task InitializeAsync()
    {
        if (!PrivateRabbitMq.IsInstalled)
        {
            throw new InvalidOperationException("The TLS tests need rabbitmq-server (apt-get install -y rabbitmq-server; ./test.sh installs it).");
        }

        Authority = await TestCertificates.CreateAsync("tls-broker");
        Stranger = await TestCertificates.CreateAsync("stranger");
        var (certificate, key) = await Authority.IssueServerAsync();
        _broker = await PrivateRabbitMq.StartNewAsync("tls", tls: new PrivateRabbitMqTls(Authority.CaFile, certificate, key));
    }

    /// <summary>A fresh virtual host, and the amqps URL (as guest) that points into it.</summary>
    public async Task<(string Vhost, string AmqpsUrl)> CreateVirtualHostAsync(string prefix)
    {
        var vhost = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 60)];
        using var management = Management();
        await management.CreateVirtualHostAsync(vhost);
        return (vhost, UrlFor(vhost));
    }

    /// <summary>The amqps URL of a virtual host, with the given user info (none: a client-certificate login).</summary>
    public string UrlFor(string vhost, string? userInfo = "guest:guest") =>
        $"amqps://{(userInfo is null ? "" : userInfo + "@")}127.0.0.1:{Port}/{Uri.EscapeDataString(vhost)}";

    public ManagementClient Management() => new(ManagementUrl);

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        Authority?.Dispose();
        Stranger?.Dispose();
    }
}
