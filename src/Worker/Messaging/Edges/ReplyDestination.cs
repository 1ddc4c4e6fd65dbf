using System.Text.RegularExpressions;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Decides where a reply may go, from values a producer controls (AMQP <c>reply_to</c>, MassTransit's response
/// address). A reply is only ever published to the default exchange with a queue name as routing key, so nothing a
/// producer writes can make the worker declare an exchange or queue, or reach an exchange at all.
/// </summary>
internal static partial class ReplyDestination
{
    /// <summary>The pseudo-queue of RabbitMQ's direct reply-to; the broker hands the caller "amq.rabbitmq.reply-to.TOKEN".</summary>
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    /// <summary>A direct reply-to token ("amq.rabbitmq.reply-to." and what the broker appended), not a queue.</summary>
    public static bool IsDirectReplyTo(string destination) => destination.StartsWith(DirectReplyTo + ".", StringComparison.Ordinal);

    /// <summary>Printable ASCII without spaces: every server-named queue, every direct reply-to token (base64) and any sane name.</summary>
    [GeneratedRegex("^[A-Za-z0-9._:@~+/=-]{1,255}$")]
    private static partial Regex QueueName();

    /// <param name="ownQueues">The worker's own queues (input, its _error and _skipped, the parking queue): a reply there would be a second result or a new request.</param>
    public static Decision FromReplyTo(string replyTo, IReadOnlyCollection<string> ownQueues)
    {
        if (!QueueName().IsMatch(replyTo))
        {
            return Decision.Reject("reply_to is not a queue name (1-255 printable ASCII characters without spaces)");
        }

        if (replyTo.StartsWith("amq.", StringComparison.Ordinal)
            && !IsDirectReplyTo(replyTo)
            && !replyTo.StartsWith("amq.gen-", StringComparison.Ordinal))
        {
            return Decision.Reject("reply_to names a reserved amq.* queue that is neither direct reply-to nor server-named");
        }

        return ownQueues.Contains(replyTo, StringComparer.Ordinal)
            ? Decision.Reject("reply_to names one of this worker's own queues")
            : Decision.Accept(replyTo, callerOnly: IsDirectReplyTo(replyTo) || replyTo.StartsWith("amq.gen-", StringComparison.Ordinal));
    }

    /// <summary>
    /// A MassTransit response address is accepted only when it names this broker and virtual host and a temporary
    /// queue (what MassTransit's request client uses) or direct reply-to, in which case the reply goes to
    /// <paramref name="replyTo"/>, the token the broker wrote there.
    /// </summary>
    public static Decision FromResponseAddress(Uri address, Uri broker, string? replyTo, IReadOnlyCollection<string> ownQueues)
    {
        if (!address.IsAbsoluteUri || address.Scheme is not ("rabbitmq" or "rabbitmqs" or "amqp" or "amqps"))
        {
            return Decision.Reject("the response address is not a rabbitmq:// address");
        }

        if (!SameHost(address, broker) || EffectivePort(address) != EffectivePort(broker))
        {
            return Decision.Reject("the response address names another broker");
        }

        var segments = address.AbsolutePath.Trim('/').Split('/');
        var (vhost, name) = segments.Length switch
        {
            1 => ("/", Uri.UnescapeDataString(segments[0])),
            2 => (Uri.UnescapeDataString(segments[0]), Uri.UnescapeDataString(segments[1])),
            _ => ("", ""),
        };
        if (name.Length == 0 || vhost != VirtualHost(broker))
        {
            return Decision.Reject("the response address names another virtual host");
        }

        if (name == DirectReplyTo)
        {
            return replyTo is not null && IsDirectReplyTo(replyTo)
                ? FromReplyTo(replyTo, ownQueues)
                : Decision.Reject("the response address is direct reply-to but the message has no reply-to token");
        }

        return IsTemporary(address.Query)
            ? FromReplyTo(name, ownQueues) with { CallerOnly = true }
            : Decision.Reject("the response address does not name a temporary reply queue");
    }

    /// <summary>The virtual host of an amqp:// or rabbitmq:// broker URL ("/" when the path is empty).</summary>
    public static string VirtualHost(Uri broker)
    {
        var path = Uri.UnescapeDataString(broker.AbsolutePath.TrimStart('/'));
        return path.Length == 0 ? "/" : path;
    }

    private static bool IsTemporary(string query)
    {
        var pairs = query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0].ToLowerInvariant(), p => p.Length > 1 ? p[1].ToLowerInvariant() : "", StringComparer.Ordinal);
        return pairs.GetValueOrDefault("temporary") == "true"
               || (pairs.GetValueOrDefault("durable") == "false" && pairs.GetValueOrDefault("autodelete") == "true");
    }

    private static bool SameHost(Uri a, Uri b) =>
        string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) || (IsLoopback(a) && IsLoopback(b));

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || string.Equals(uri.IdnHost, "localhost", StringComparison.OrdinalIgnoreCase);

    private static int EffectivePort(Uri uri) =>
        uri.IsDefaultPort || uri.Port <= 0 ? (uri.Scheme is "amqps" or "rabbitmqs" ? 5671 : 5672) : uri.Port;

    /// <summary>Either a queue to publish the reply to (through the default exchange), or why there is none.</summary>
    /// <param name="CallerOnly">
    /// The queue is one only its caller can ever read: server-named (<c>amq.gen-*</c>: no client may declare that name,
    /// and it dies with its connection), a temporary response queue, or a direct reply-to token. Once it is gone, its
    /// caller has gone for good, and nobody can come back for a result meant for it.
    /// </param>
    public readonly record struct Decision(string? Queue, string? Rejection, bool CallerOnly = false)
    {
        public static Decision Accept(string queue, bool callerOnly) => new(queue, null, callerOnly);

        public static Decision Reject(string reason) => new(null, reason);
    }
}
