using System.ComponentModel;
using AkiDb.Queue.Broker;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>
/// Where the broker is and how to reach it: flags first, then the same environment variables the worker reads
/// (<c>RabbitMq__Url</c>, <c>RabbitMq__CaFile</c>, ...), turned into the connection factory the worker uses too.
/// </summary>
internal class BrokerSettings : CommandSettings
{
    [CommandOption("--url <URL>")]
    [Description("AMQP URL; amqps:// is TLS, certificate and host name verified. Default: $RabbitMq__Url, else amqp://guest:guest@localhost:5672/")]
    public string? Url { get; init; }

    [CommandOption("--management-url <URL>")]
    [Description("Management API/UI URL. Default: $AKIDB_MANAGEMENT_URL, else http://<broker host>:15672/")]
    public string? ManagementUrl { get; init; }

    [CommandOption("--queue <NAME>")]
    [Description("The worker's input queue. Default: embed-requested")]
    [DefaultValue(QueueNames.EmbedRequested)]
    public string Queue { get; init; } = QueueNames.EmbedRequested;

    [CommandOption("--cluster-nodes <HOST:PORT,...>")]
    [Description("RabbitMQ cluster nodes to connect to (any live one, failing over to the next); the URL still gives user, password and vhost. Default: $RabbitMq__ClusterNodes")]
    public string? ClusterNodes { get; init; }

    [CommandOption("--ca-file <PEM>")]
    [Description("TLS: the CA certificate(s) that signed the broker's certificate, trusted besides the system store and $SSL_CERT_FILE. Default: $RabbitMq__CaFile")]
    public string? CaFile { get; init; }

    [CommandOption("--client-cert <PEM>")]
    [Description("TLS: a client certificate for mutual TLS; with no password in the URL it is the login (EXTERNAL). Default: $RabbitMq__ClientCertificateFile")]
    public string? ClientCertificateFile { get; init; }

    [CommandOption("--client-key <PEM>")]
    [Description("TLS: the client certificate's unencrypted PEM private key. Default: $RabbitMq__ClientKeyFile")]
    public string? ClientKeyFile { get; init; }

    [CommandOption("--tls-server-name <NAME>")]
    [Description("TLS: the name the broker's certificate must carry. Default: $RabbitMq__TlsServerName, else the host connected to")]
    public string? TlsServerName { get; init; }

    public string? EffectiveClusterNodes => ClusterNodes ?? Environment.GetEnvironmentVariable("RabbitMq__ClusterNodes");

    public string EffectiveUrl =>
        Url ?? Environment.GetEnvironmentVariable("RabbitMq__Url") ?? BrokerConnectionSettings.DefaultUrl;

    public string EffectiveManagementUrl =>
        ManagementUrl ?? Environment.GetEnvironmentVariable("AKIDB_MANAGEMENT_URL") ?? $"http://{new Uri(EffectiveUrl).Host}:15672/";

    /// <summary>The virtual host in the AMQP URL ("/" when the path is empty).</summary>
    public string VirtualHost
    {
        get
        {
            var path = Uri.UnescapeDataString(new Uri(EffectiveUrl).AbsolutePath.TrimStart('/'));
            return path.Length == 0 ? "/" : path;
        }
    }

    /// <summary>The option and environment variable of a <see cref="BrokerConnectionSettings"/> property, for messages.</summary>
    public static string Key(string property) => property switch
    {
        nameof(BrokerConnectionSettings.Url) => "--url (RabbitMq__Url)",
        nameof(BrokerConnectionSettings.ClusterNodes) => "--cluster-nodes (RabbitMq__ClusterNodes)",
        nameof(BrokerConnectionSettings.CaFile) => "--ca-file (RabbitMq__CaFile)",
        nameof(BrokerConnectionSettings.ClientCertificateFile) => "--client-cert (RabbitMq__ClientCertificateFile)",
        nameof(BrokerConnectionSettings.ClientKeyFile) => "--client-key (RabbitMq__ClientKeyFile)",
        nameof(BrokerConnectionSettings.TlsServerName) => "--tls-server-name (RabbitMq__TlsServerName)",
        _ => $"RabbitMq__{property}",
    };

    public BrokerConnectionSettings ToConnectionSettings() => new()
    {
        Url = EffectiveUrl,
        ClusterNodes = EffectiveClusterNodes,
        CaFile = CaFile ?? Environment.GetEnvironmentVariable("RabbitMq__CaFile"),
        ClientCertificateFile = ClientCertificateFile ?? Environment.GetEnvironmentVariable("RabbitMq__ClientCertificateFile"),
        ClientKeyFile = ClientKeyFile ?? Environment.GetEnvironmentVariable("RabbitMq__ClientKeyFile"),
        TlsServerName = TlsServerName ?? Environment.GetEnvironmentVariable("RabbitMq__TlsServerName"),
    };

    /// <summary>The connection factory the worker uses too, from these settings.</summary>
    public BrokerConnections Connections() => BrokerConnections.Create(ToConnectionSettings(), Key);

    /// <summary>
    /// A connection (RabbitMQ.Client's automatic recovery on, so a cluster node's loss moves it to another), or a
    /// <see cref="BrokerUnavailableException"/> whose message is the one line that says why: the broker named without its
    /// password, and the reason (refused login, untrusted certificate, nothing listening).
    /// </summary>
    public async Task<IConnection> ConnectAsync(string connectionName, CancellationToken cancellationToken)
    {
        var connections = Connections();
        try
        {
            return await connections.ConnectAsync(connectionName, cancellationToken, automaticRecovery: true);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BrokerUnavailableException(char.ToUpperInvariant(connections.Explain(e).Reason[0]) + connections.Explain(e).Reason[1..], e);
        }
    }

    public override ValidationResult Validate()
    {
        var problems = ToConnectionSettings().Validate(Key).ToList();
        return problems.Count > 0 ? ValidationResult.Error(string.Join(" ", problems)) : base.Validate();
    }

    public static string Redact(string url) => BrokerUrl.Redact(url);
}

/// <summary>The broker could not be reached or refused the connection; the message says which and why, on one line.</summary>
internal sealed class BrokerUnavailableException(string message, Exception inner) : Exception(message, inner);
