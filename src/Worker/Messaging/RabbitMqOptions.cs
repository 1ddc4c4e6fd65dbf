using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Broker;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>Configuration section <c>RabbitMq</c> (environment variables <c>RabbitMq__Url</c> and so on).</summary>
public sealed class RabbitMqOptions : IValidatableObject
{
    public const string Section = "RabbitMq";

    /// <summary>
    /// The broker, with credentials: amqp://user:password@host:5672/vhost, or amqps://...:5671/... for TLS (certificate
    /// chain and host name verified). Keep real credentials in the environment or a secret store.
    /// </summary>
    [Required]
    public string Url { get; set; } = BrokerConnectionSettings.DefaultUrl;

    /// <summary>TLS: a PEM file of the CA that signed the broker's certificate (trusted besides the platform store and <c>SSL_CERT_FILE</c>).</summary>
    public string? CaFile { get; set; }

    /// <summary>TLS: a PEM client certificate for mutual TLS. With no password in the URL it is the login too (SASL EXTERNAL).</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>TLS: the unencrypted PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>TLS: the name the broker's certificate must carry; by default the host connected to.</summary>
    public string? TlsServerName { get; set; }


    /// <summary>Longest a connection attempt (TCP, TLS and AMQP handshakes) may take, per node.</summary>
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The input queue.</summary>
    [Required]
    public string QueueName { get; set; } = QueueNames.EmbedRequested;

    /// <summary>Messages the broker hands this worker ahead of acknowledgement; 0 sizes it from the batching settings.</summary>
    [Range(0, 65535)]
    public int PrefetchCount { get; set; }

    /// <summary><c>classic</c> or <c>quorum</c>. An existing queue keeps its type: delete it before switching.</summary>
    public QueueType QueueType { get; set; } = QueueType.Classic;

    /// <summary>Quorum queues only: deliveries after which the broker dead-letters a message that keeps coming back.</summary>
    [Range(1, 1000)]
    public int DeliveryLimit { get; set; } = 10;

    /// <summary>Name shown for the connection in the management UI.</summary>
    public string ConnectionName { get; set; } = $"akidb-queue-worker@{Environment.MachineName}";

    /// <summary>
    /// A RabbitMQ cluster's nodes, <c>host:port</c>, comma-separated. When set, the worker connects to these (the first
    /// that answers, the next one after a connection loss) instead of the URL's host; the URL still gives the
    /// credentials and the virtual host.
    /// </summary>
    public string? ClusterNodes { get; set; }

    /// <summary>
    /// Classic queues only: priority levels of the input queue (<c>x-max-priority</c>), so that a request published with
    /// a higher AMQP priority overtakes the backlog at the broker. 0 declares it without (a queue that exists without
    /// priorities must be consumed with 0: RabbitMQ refuses to redeclare a queue with different arguments).
    /// </summary>
    [Range(0, 255)]
    public int MaxPriority { get; set; } = 10;

    /// <summary>
    /// Dead-letter the input queue into <c>{QueueName}-expired</c>, which this worker consumes, so that a request the
    /// broker expires (AMQP expiration) is still answered with <c>expired</c> rather than dropped. Also a queue
    /// argument; see <see cref="MaxPriority"/>.
    /// </summary>
    public bool AnswerBrokerExpired { get; set; } = true;

    /// <summary>
    /// AMQP heartbeat requested on every broker connection. A node that is frozen (a long garbage collection, a paused
    /// virtual machine) or cut off keeps its TCP connection open and says nothing; the client gives the connection up
    /// after about two heartbeats without a frame, and the worker moves to the next of <see cref="ClusterNodes"/>.
    /// RabbitMQ's default is 60 s, which leaves a worker waiting on a silent node for two minutes; below 5 s, a busy
    /// machine risks closing healthy connections. 0 turns heartbeats off (not recommended).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest a result may wait for the broker's publish confirm. A node that still answers heartbeats but cannot
    /// make progress (in the minority of a partition until it notices and pauses, or unable to reach the queue's leader)
    /// confirms nothing: past this the worker gives that node up, closes the connection, and the request goes back to
    /// its queue to be answered through another node. 0 waits for ever.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan PublishConfirmTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The longest the input endpoint may go without consuming (its connection lost and not back) while a node of the
    /// broker takes a new connection: past this the worker restarts the input endpoint, so it never sits idle with a queue
    /// it could reach; readiness reports "not consuming" meanwhile. Two restarts in a row that bring no consumer
    /// back stop the worker with exit code 75 for its supervisor to restart. 0 turns this watchdog off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan NotConsumingTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the input queue's depth is read for the back-pressure gauges; 0 turns that off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan QueueDepthPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the broker dead-letters requests whose AMQP expiration passed while they waited.</summary>
    public string ExpiredQueueName => QueueName + "-expired";

    /// <summary>
    /// Most messages kept in the <c>_error</c> queue (queue argument <c>x-max-length</c>, overflow <c>drop-head</c>:
    /// the oldest is dropped to make room). 0 leaves it unbounded. An existing error queue keeps its arguments: delete
    /// it (or set a policy) to change them.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int ErrorQueueMaxLength { get; set; } = 10_000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        ToConnectionSettings().Validate(Key).Select(problem => new ValidationResult(problem, [ConnectionKeys.FirstOrDefault(k => problem.StartsWith(Key(k), StringComparison.Ordinal)) ?? nameof(Url)]));

    private static readonly string[] ConnectionKeys =
        [nameof(Url), nameof(ClusterNodes), nameof(CaFile), nameof(ClientCertificateFile), nameof(ClientKeyFile), nameof(TlsServerName), nameof(Heartbeat), nameof(ConnectionTimeout)];

    /// <summary>The configuration key of a property, for messages: <c>RabbitMq:CaFile</c>.</summary>
    public static string Key(string property) => $"{Section}:{property}";

    /// <summary>What <see cref="BrokerConnections"/> needs to reach the broker.</summary>
    public BrokerConnectionSettings ToConnectionSettings() => new()
    {
        Url = Url,
        ClusterNodes = ClusterNodes,
        CaFile = CaFile,
        ClientCertificateFile = ClientCertificateFile,
        ClientKeyFile = ClientKeyFile,
        TlsServerName = TlsServerName,
        Heartbeat = Heartbeat,
        ConnectionTimeout = ConnectionTimeout,
    };

    /// <summary>The URL as a Uri when it is one a broker connection can use: an AMQP scheme, a host, a valid port.</summary>
    public static Uri? TryParse(string? url) => BrokerUrl.TryParse(url);

    /// <summary>The URL with any password replaced, for logs.</summary>
    public static string Redact(string? url) => BrokerUrl.Redact(url);
}
