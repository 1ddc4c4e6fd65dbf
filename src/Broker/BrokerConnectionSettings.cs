using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Broker;

/// <summary>
/// Everything that says how to reach the broker, as the worker (section <c>RabbitMq</c>) and the CLI (options and the
/// same environment variables) read it. Plain values; <see cref="BrokerConnections"/> turns them into connections.
/// </summary>
public sealed record BrokerConnectionSettings
{
    public const string DefaultUrl = "amqp://guest:guest@localhost:5672/";

    /// <summary><c>amqp://USER:PASSWORD@HOST:PORT/VHOST</c>; <c>amqps://</c> is TLS with the certificate and host name verified.</summary>
    public string Url { get; init; } = DefaultUrl;

    /// <summary>A cluster's nodes, <c>host:port</c>, comma-separated: connect to these in order instead of the URL's host.</summary>
    public string? ClusterNodes { get; init; }

    /// <summary>PEM file of the CA (or CAs) that signed the broker's certificate, trusted in addition to the platform's store.</summary>
    public string? CaFile { get; init; }

    /// <summary>PEM client certificate for mutual TLS; with no password in the URL, it is also the login (SASL EXTERNAL).</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/> (unencrypted); may be the certificate file itself.</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>The name the broker's certificate must carry; the host connected to (URL host or cluster node) when unset.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>
    /// AMQP heartbeat: a dead, frozen or cut-off peer is noticed after about twice this (its TCP connection stays open
    /// and silent). 5 s bounds a failover to about 10-15 s; RabbitMQ's own 60 s would leave a client waiting minutes.
    /// </summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a TCP connect plus the TLS and AMQP handshakes may take, per node.</summary>
    public TimeSpan ConnectionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The problems with these settings, each naming its key through <paramref name="keyOf"/> (a property name such as
    /// <c>CaFile</c> in, <c>RabbitMq:CaFile</c> or <c>--ca-file (RabbitMq__CaFile)</c> out). Files are checked to exist
    /// and to hold what they should, so a wrong path fails at start rather than at the first connection.
    /// </summary>
    public IEnumerable<string> Validate(Func<string, string> keyOf)
    {
        var uri = BrokerUrl.TryParse(Url);
        if (uri is null)
        {
            // Never echoed: whatever part of it is the password cannot be told apart.
            yield return $"{keyOf(nameof(Url))} is not a valid broker URL; expected amqp://USER:PASSWORD@HOST:PORT/VHOST (or amqps:// for TLS), with a numeric " +
                         "port and any special character in the password percent-encoded. The value is not shown because it may contain the password.";
        }

        if (BrokerClusterNodes.Validate(ClusterNodes, keyOf(nameof(ClusterNodes))) is { } nodes)
        {
            yield return nodes;
        }

        var tls = uri is not null && BrokerConnections.IsTls(uri);
        foreach (var (key, file) in new[] { (nameof(CaFile), CaFile), (nameof(ClientCertificateFile), ClientCertificateFile), (nameof(ClientKeyFile), ClientKeyFile) })
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                continue;
            }

            if (!File.Exists(file))
            {
                yield return $"{keyOf(key)}: file '{Shown(file)}' does not exist (or is not readable by this user).";
            }
            else if (uri is not null && !tls)
            {
                yield return $"{keyOf(key)} is set but {keyOf(nameof(Url))} is not amqps://: certificates are used only over TLS. Use amqps:// (port 5671 by default) or remove {keyOf(key)}.";
            }
        }

        if (!string.IsNullOrWhiteSpace(CaFile) && File.Exists(CaFile) && BrokerTrust.LoadCaFile(CaFile, keyOf(nameof(CaFile))) is { Error: { } caError })
        {
            yield return caError;
        }

        var hasCertificate = !string.IsNullOrWhiteSpace(ClientCertificateFile);
        var hasKey = !string.IsNullOrWhiteSpace(ClientKeyFile);
        if (hasCertificate != hasKey && !(hasCertificate && File.Exists(ClientCertificateFile) && PemHoldsKey(ClientCertificateFile)))
        {
            yield return hasCertificate
                ? $"{keyOf(nameof(ClientCertificateFile))} is set without {keyOf(nameof(ClientKeyFile))}: mutual TLS needs the certificate's private key too."
                : $"{keyOf(nameof(ClientKeyFile))} is set without {keyOf(nameof(ClientCertificateFile))}.";
        }
        else if (hasCertificate && File.Exists(ClientCertificateFile) && (!hasKey || File.Exists(ClientKeyFile)))
        {
            if (BrokerTrust.LoadClientCertificate(ClientCertificateFile!, ClientKeyFile, keyOf(nameof(ClientCertificateFile))) is { Error: { } certificateError })
            {
                yield return certificateError;
            }
        }

        if (TlsServerName is { } serverName && (serverName.Length is 0 or > 253 || Uri.CheckHostName(serverName) is not (UriHostNameType.Dns or UriHostNameType.IPv4)))
        {
            yield return $"{keyOf(nameof(TlsServerName))}: '{Shown(serverName)}' is not a host name.";
        }

        if (Heartbeat < TimeSpan.Zero || Heartbeat > TimeSpan.FromMinutes(10))
        {
            yield return $"{keyOf(nameof(Heartbeat))} must be between 00:00:00 (off) and 00:10:00.";
        }

        if (ConnectionTimeout <= TimeSpan.Zero || ConnectionTimeout > TimeSpan.FromMinutes(10))
        {
            yield return $"{keyOf(nameof(ConnectionTimeout))} must be above zero and at most 00:10:00.";
        }
    }

    internal static string Shown(string value) => value.Length <= 120 ? value : value[..120] + "...";

    private static bool PemHoldsKey(string file)
    {
        try
        {
            return File.ReadAllText(file).Contains("PRIVATE KEY-----", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
