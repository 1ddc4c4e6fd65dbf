using System.ComponentModel.DataAnnotations;

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
    public string QueueName { get; set; } = "embed-requested";

    /// <summary>Messages the broker hands this worker ahead of acknowledgement; 0 sizes it from the batching settings.</summary>
    [Range(0, 65535)]
    public int PrefetchCount { get; set; }

    /// <summary><c>classic</c> or <c>quorum</c>. An existing queue keeps its type: delete it before switching.</summary>
    [RegularExpression("^(classic|quorum)$", ErrorMessage = "RabbitMq:QueueType must be 'classic' or 'quorum'.")]
    public string QueueType { get; set; } = "classic";

    /// <summary>Quorum queues only: deliveries after which the broker dead-letters a message that keeps coming back.</summary>
    [Range(1, 1000)]
    public int DeliveryLimit { get; set; } = 10;

    /// <summary>Name shown for the connection in the management UI.</summary>
    public string ConnectionName { get; set; } = $"akidb-queue-worker@{Environment.MachineName}";

    /// <summary>
    /// Most messages kept in the <c>_error</c> queue (queue argument <c>x-max-length</c>, overflow <c>drop-head</c>:
    /// the oldest is dropped to make room). 0 leaves it unbounded. An existing error queue keeps its arguments: delete
    /// it (or set a policy) to change them.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int ErrorQueueMaxLength { get; set; } = 10_000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // The value is never echoed when it does not parse: whatever part of it is the password cannot be told apart.
        if (TryParse(Url) is null)
        {
            yield return new ValidationResult(
                "RabbitMq:Url is not a valid broker URL; expected amqp://USER:PASSWORD@HOST:PORT/VHOST (or amqps://), with a numeric port and any " +
                "special character in the password percent-encoded. The value is not shown because it may contain the password.", [nameof(Url)]);
        }
    }

    /// <summary>The URL as a Uri when it is one a broker connection can use: an AMQP scheme, a host, a valid port.</summary>
    public static Uri? TryParse(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps" or "rabbitmq" or "rabbitmqs" && uri.Host.Length > 0
            ? uri
            : null;

    /// <summary>The URL with any password replaced, for logs; rebuilt from its parts, so nothing of a password can slip through.</summary>
    public static string Redact(string? url)
    {
        if (TryParse(url) is not { } uri)
        {
            return "(an invalid RabbitMq:Url, not shown)";
        }

        var user = uri.UserInfo.Split(':', 2)[0];
        var credentials = uri.UserInfo.Length == 0 ? "" : uri.UserInfo.Contains(':', StringComparison.Ordinal) ? $"{user}:***@" : $"{user}@";
        return $"{uri.Scheme}://{credentials}{uri.Authority}{uri.PathAndQuery}";
    }
}
