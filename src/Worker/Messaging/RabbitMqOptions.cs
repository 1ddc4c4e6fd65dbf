using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>Configuration section <c>RabbitMq</c> (environment variables <c>RabbitMq__Url</c> and so on).</summary>
public sealed class RabbitMqOptions : IValidatableObject
{
    public const string Section = "RabbitMq";

    /// <summary>The broker, with credentials: amqp://user:password@host:5672/vhost. Keep real credentials in the environment or a secret store.</summary>
    [Required]
    public string Url { get; set; } = "amqp://guest:guest@localhost:5672/";

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

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
        {
            yield return new ValidationResult($"RabbitMq:Url must be an amqp:// or amqps:// URL (was '{Redact(Url)}').", [nameof(Url)]);
        }

        if (RabbitMqClusterNodes.Validate(ClusterNodes) is { } clusterNodes)
        {
            yield return new ValidationResult(clusterNodes, [nameof(ClusterNodes)]);
        }
    }

    /// <summary>The URL with any password replaced, for logs.</summary>
    public static string Redact(string url) => BrokerUrl.Redact(url);
}
