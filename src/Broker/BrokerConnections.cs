using System.Net.Security;
using System.Security.Authentication;
using AkiDb.Queue.Contracts;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Broker;

/// <summary>
/// The one way to reach the broker: every connection the worker and the CLI open (MassTransit's included, through
/// <see cref="Apply"/>) is made here, from <see cref="BrokerConnectionSettings"/>, so the URL scheme, TLS trust, server
/// name, client certificate, cluster nodes, heartbeat and timeout mean the same everywhere.
/// </summary>
public sealed class BrokerConnections
{
    private readonly Func<string, string> _keyOf;
    private readonly IReadOnlyList<(string Host, int Port)> _nodes;

    /// <summary>The node tried first: the first listed, or the one after the node last given up.</summary>
    private int _first;

    private readonly OpenSockets _open = new();

    private BrokerConnections(BrokerConnectionSettings settings, Func<string, string> keyOf, Uri url, BrokerTrust trust)
    {
        Settings = settings;
        _keyOf = keyOf;
        Url = url;
        Trust = trust;
        Tls = IsTls(url);
        var port = url.Port > 0 ? url.Port : Tls ? AmqpTcpEndpoint.DefaultAmqpSslPort : AmqpTcpEndpoint.UseDefaultPort;
        if (port == AmqpTcpEndpoint.UseDefaultPort)
        {
            port = Protocols.DefaultProtocol.DefaultPort;
        }

        var nodes = BrokerClusterNodes.Parse(settings.ClusterNodes, port, keyOf(nameof(BrokerConnectionSettings.ClusterNodes)));
        _nodes = nodes.Count > 0 ? nodes : [(url.Host, port)];
    }

    public BrokerConnectionSettings Settings { get; }

    /// <summary>The URL with the scheme RabbitMQ.Client knows (<c>rabbitmq(s)://</c>, which MassTransit also accepts, mapped to <c>amqp(s)://</c>).</summary>
    public Uri Url { get; }

    public bool Tls { get; }

    public BrokerTrust Trust { get; }

    /// <summary>With a client certificate and no password in the URL, the certificate is the login (SASL EXTERNAL).</summary>
    public bool ExternalLogin => Trust.ClientCertificate is not null && !Url.UserInfo.Contains(':', StringComparison.Ordinal);

    /// <summary>The nodes connected to, in order: the cluster nodes, or the URL's host.</summary>
    public IReadOnlyList<string> Nodes => _nodes.Select(n => $"{n.Host}:{n.Port}").ToList();

    /// <summary>How the broker is named in logs and errors: the URL without its password, and the nodes when they differ.</summary>
    public string Description =>
        string.IsNullOrWhiteSpace(Settings.ClusterNodes)
            ? BrokerUrl.Redact(Settings.Url)
            : $"{BrokerUrl.Redact(Settings.Url)} (nodes {string.Join(',', Nodes)})";

    public static bool IsTls(Uri url) => url.Scheme is "amqps" or "rabbitmqs";

    /// <summary>The factory, or <see cref="BrokerSettingsException"/> listing every problem with the settings, each naming its key.</summary>
    /// <param name="settings">The settings as read.</param>
    /// <param name="keyOf">A property name of <see cref="BrokerConnectionSettings"/> to the key a user sets (for messages).</param>
    public static BrokerConnections Create(BrokerConnectionSettings settings, Func<string, string> keyOf)
    {
        var problems = settings.Validate(keyOf).ToList();
        if (problems.Count > 0)
        {
            throw new BrokerSettingsException(problems);
        }

        var uri = BrokerUrl.TryParse(settings.Url)!;
        var url = new UriBuilder(uri) { Scheme = IsTls(uri) ? "amqps" : "amqp", Port = uri.IsDefaultPort ? -1 : uri.Port }.Uri;
        var authorities = string.IsNullOrWhiteSpace(settings.CaFile) ? null : BrokerTrust.LoadCaFile(settings.CaFile, keyOf(nameof(settings.CaFile))).Authorities;
        var client = string.IsNullOrWhiteSpace(settings.ClientCertificateFile)
            ? null
            : BrokerTrust.LoadClientCertificate(settings.ClientCertificateFile, settings.ClientKeyFile, keyOf(nameof(settings.ClientCertificateFile))).Certificate;
        return new BrokerConnections(settings, keyOf, url, new BrokerTrust(authorities, client, keyOf(nameof(settings.CaFile))));
    }

    /// <summary>A RabbitMQ.Client factory for one connection's purpose (its name shows in the management UI).</summary>
    public ConnectionFactory CreateFactory(string connectionName, bool automaticRecovery = false)
    {
        var factory = new ConnectionFactory
        {
            Uri = Url,
            ClientProvidedName = connectionName,
            AutomaticRecoveryEnabled = automaticRecovery,
            TopologyRecoveryEnabled = automaticRecovery,
        };
        Apply(factory);
        return factory;
    }

    /// <summary>Opens a connection to the first node that answers.</summary>
    public Task<IConnection> ConnectAsync(string connectionName, CancellationToken cancellationToken, bool automaticRecovery = false) =>
        CreateFactory(connectionName, automaticRecovery).CreateConnectionAsync(cancellationToken);

    /// <summary>
    /// Makes <paramref name="factory"/> (for instance MassTransit's, before each of its connections) connect the way this
    /// one does: to these nodes in order, with this TLS, login, heartbeat and timeout. Its user, password and virtual
    /// host are left as they are (MassTransit sets them from the same URL).
    /// </summary>
    public void Apply(ConnectionFactory factory)
    {
        factory.Ssl = CreateSslOption(_nodes[0].Host);
        // The node being tried, for the socket's handshake deadline (the resolver hands RabbitMQ.Client one node at a time).
        InOrder? trying = null;
        factory.EndpointResolverFactory = _ => trying = new InOrder(CreateEndpoints(), Volatile.Read(ref _first));
        factory.SocketFactory = addressFamily =>
        {
            var node = trying?.Current;
            var socket = new System.Net.Sockets.Socket(addressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            return new HandshakeDeadlineTcpClient(socket, Settings.ConnectionTimeout, () => Silent(node), _open, Settings.Heartbeat, silence => EndedSilent(node, silence));
        };
        factory.RequestedHeartbeat = Settings.Heartbeat;
        factory.RequestedConnectionTimeout = Settings.ConnectionTimeout;
        factory.SocketReadTimeout = Settings.ConnectionTimeout;
        factory.SocketWriteTimeout = Settings.ConnectionTimeout;
        factory.HandshakeContinuationTimeout = Settings.ConnectionTimeout;
        if (ExternalLogin)
        {
            factory.AuthMechanisms = [new ExternalMechanismFactory()];
        }
    }

    /// <summary>
    /// The next connections start with the node after <paramref name="host"/>:<paramref name="port"/>, which a client
    /// gave up (frozen, cut off, confirming nothing). A frozen node still completes TCP handshakes (its kernel answers)
    /// and never the AMQP one, so trying it first again would cost every reconnection a handshake timeout.
    /// </summary>
    public void GiveUp(string host, int port)
    {
        for (var i = 0; i < _nodes.Count; i++)
        {
            if (string.Equals(_nodes[i].Host, host, StringComparison.OrdinalIgnoreCase) && _nodes[i].Port == port)
            {
                Volatile.Write(ref _first, (i + 1) % _nodes.Count);
                return;
            }
        }
    }

    /// <summary>
    /// Cuts <paramref name="connection"/> (made by this factory) the way a network failure does: its socket is shut down
    /// and closed under RabbitMQ.Client, which ends the connection with a shutdown the library initiated (see
    /// <see cref="OpenSockets"/> for why not a close). False when its socket is not known here (already closed).
    /// </summary>
    public bool Sever(IConnection connection) => _open.Sever(connection.LocalPort);

    /// <summary>
    /// A node accepted a TCP connection and sent nothing within <see cref="BrokerConnectionSettings.ConnectionTimeout"/>
    /// (frozen): the attempt was ended and the node given up (<see cref="GiveUp"/>). The argument is the node, <c>host:port</c>.
    /// </summary>
    public event Action<string>? NodeSilent;

    /// <summary>
    /// An open connection ended after its node had sent nothing, not even a heartbeat, for longer than
    /// <see cref="BrokerConnectionSettings.Heartbeat"/> (frozen, or the link cut): the node was given up (<see cref="GiveUp"/>),
    /// so the reconnection starts with the next one. The arguments are the node, <c>host:port</c>, and how long it was silent.
    /// </summary>
    public event Action<string, TimeSpan>? NodeEndedSilent;

    private void EndedSilent(AmqpTcpEndpoint? node, TimeSpan silence)
    {
        if (GiveUp(node) is { } given)
        {
            NodeEndedSilent?.Invoke(given, silence);
        }
    }

    private void Silent(AmqpTcpEndpoint? node)
    {
        if (GiveUp(node) is { } given)
        {
            NodeSilent?.Invoke(given);
        }
    }

    /// <summary>Gives <paramref name="node"/> up (<see cref="GiveUp(string, int)"/>); its <c>host:port</c>, or null when no node was being tried.</summary>
    private string? GiveUp(AmqpTcpEndpoint? node)
    {
        if (node is null)
        {
            return null;
        }

        GiveUp(node.HostName, node.Port);
        return $"{node.HostName}:{node.Port}";
    }

    /// <summary>The nodes as endpoints, each with its own TLS options (the server name is the node's, unless one is set).</summary>
    public IReadOnlyList<AmqpTcpEndpoint> CreateEndpoints() =>
        _nodes.Select(n => new AmqpTcpEndpoint(n.Host, n.Port, CreateSslOption(n.Host))).ToList();

    /// <summary>TLS for a connection to <paramref name="host"/>: off for <c>amqp://</c>; for <c>amqps://</c> the chain and the name verified.</summary>
    public SslOption CreateSslOption(string host)
    {
        var ssl = new SslOption
        {
            Enabled = Tls,
            ServerName = Settings.TlsServerName ?? host,
            // The operating system's choice (TLS 1.2 and 1.3), not a pinned version.
            Version = SslProtocols.None,
            AcceptablePolicyErrors = SslPolicyErrors.None,
            CertificateValidationCallback = Trust.Validate,
        };
        if (Trust.ClientCertificate is { } certificate)
        {
            ssl.Certs = [certificate];
        }

        return ssl;
    }

    /// <summary>
    /// What went wrong with a connection attempt, as one line without the password, and whether retrying can help. A
    /// refused login, virtual host or certificate is permanent: the setting has to change.
    /// </summary>
    public BrokerFailure Explain(Exception exception)
    {
        foreach (var e in Flatten(exception))
        {
            switch (e)
            {
                case AuthenticationFailureException or PossibleAuthenticationFailureException when ExternalLogin:
                    return new(true, $"the broker at {Description} refused the client certificate as a login (SASL EXTERNAL): enable the rabbitmq_auth_mechanism_ssl plugin " +
                                     $"and create a user named as the certificate's subject, or put a user and password in {_keyOf(nameof(Settings.Url))}.");
                case AuthenticationFailureException or PossibleAuthenticationFailureException:
                    return new(true, $"the broker at {Description} refused the login of user '{Clip(UserName, 64)}' (ACCESS_REFUSED). " +
                                     $"Fix the user name or password in {_keyOf(nameof(Settings.Url))}.");
                case OperationInterruptedException { ShutdownReason.ReplyCode: 530 or 403 } refused:
                    return new(true, $"the broker at {Description} refused access to virtual host '{Clip(VirtualHost, 64)}' ({Clip(refused.ShutdownReason?.ReplyText, 200)}). " +
                                     $"Create the virtual host or grant user '{Clip(UserName, 64)}' permissions on it, or fix {_keyOf(nameof(Settings.Url))}.");
                case AuthenticationException when Trust.LastRejection is { } rejection:
                    return new(true, $"TLS to the broker at {Description} refused: {rejection}.");
                case AuthenticationException tls:
                    return new(true, $"TLS to the broker at {Description} failed: {Clip(Innermost(tls).Message, 300)}" +
                                     (tls.ToString().Contains("Certificate", StringComparison.OrdinalIgnoreCase) && Trust.ClientCertificate is null
                                         ? $" (the broker may require a client certificate: set {_keyOf(nameof(Settings.ClientCertificateFile))} and {_keyOf(nameof(Settings.ClientKeyFile))})."
                                         : "."));
            }
        }

        var cause = Clip(Innermost(exception).Message, 300) +
                    (!Tls && Innermost(exception) is IOException or System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset }
                        ? " (if that port serves TLS, use amqps://)"
                        : "");
        return new(false, $"the broker at {Description} is not reachable: {cause}", cause);
    }

    private string UserName => Uri.UnescapeDataString(Url.UserInfo.Split(':', 2)[0]) is { Length: > 0 } user ? user : "guest";

    private string VirtualHost => Url.AbsolutePath.Length <= 1 ? "/" : Uri.UnescapeDataString(Url.AbsolutePath[1..]);

    private static IEnumerable<Exception> Flatten(Exception exception)
    {
        var pending = new Stack<Exception>([exception]);
        while (pending.TryPop(out var e))
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.Reverse())
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is not null)
            {
                pending.Push(e.InnerException);
            }
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (true)
        {
            var next = e is AggregateException { InnerExceptions.Count: > 0 } a ? a.InnerExceptions[^1] : e.InnerException;
            if (next is null)
            {
                return e;
            }

            e = next;
        }
    }

    /// <summary>Bounded and on one line: broker replies and exception messages can carry anything.</summary>
    private static string Clip(string? value, int max)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        var line = new string(value.Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Trim();
        return line.Length <= max ? line : line[..max] + "...";
    }

    /// <summary>
    /// The nodes in the order given, from <paramref name="first"/> round: the first that answers is used (RabbitMQ.Client's
    /// default shuffles them).
    /// </summary>
    private sealed class InOrder(IReadOnlyList<AmqpTcpEndpoint> endpoints, int first) : IEndpointResolver
    {
        private AmqpTcpEndpoint? _current;

        /// <summary>The node handed out last: the one RabbitMQ.Client is connecting to (it tries them one after another).</summary>
        public AmqpTcpEndpoint? Current => Volatile.Read(ref _current);

        public IEnumerable<AmqpTcpEndpoint> All()
        {
            foreach (var endpoint in endpoints.Skip(first).Concat(endpoints.Take(first)))
            {
                Volatile.Write(ref _current, endpoint);
                yield return endpoint;
            }
        }
    }
}

/// <summary>Why a connection failed, on one line, and whether only a change of settings can fix it.</summary>
/// <param name="Permanent">A refusal (login, virtual host, certificate): retrying cannot help.</param>
/// <param name="Reason">The whole line, naming the broker (password redacted).</param>
/// <param name="Cause">For a transient failure, the error alone (the broker named elsewhere).</param>
public sealed record BrokerFailure(bool Permanent, string Reason, string? Cause = null);

/// <summary>The broker settings are not usable; every problem is listed, each naming its key.</summary>
public sealed class BrokerSettingsException(IReadOnlyList<string> problems) : Exception(string.Join(" ", problems));
