using System.Globalization;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Batching;

namespace AkiDb.Queue.Worker.Requests;

/// <summary>
/// Reads a request's class and deadline from its JSON fields and its AMQP properties. Both are untrusted: an unknown
/// <c>priority</c> is rejected with a reason, numbers are range-checked, nothing is echoed unbounded.
/// </summary>
internal static class RequestUrgencyReader
{
    /// <summary>AMQP priority at or above which a request is interactive (the JSON <c>"high"</c>).</summary>
    public const byte InteractiveFrom = 7;

    /// <summary>AMQP priority at or below which a request is background work (the JSON <c>"low"</c>).</summary>
    public const byte BackgroundUpTo = 2;

    /// <param name="arrivedAt">
    /// When the worker received the message. The AMQP expiration is relative to when the broker enqueued it, which a
    /// consumer cannot know (the AMQP timestamp has whole seconds only); while the message was queued the broker applied
    /// it itself, so the worker counts it again from arrival: never early, late by at most the time it spent queued.
    /// </param>
    /// <returns>Null, or why the request's priority is invalid.</returns>
    public static string? TryRead(EmbedRequested message, byte? amqpPriority, string? amqpExpiration, DateTimeOffset arrivedAt, out RequestUrgency urgency)
    {
        urgency = RequestUrgency.Default;
        RequestPriority priority;
        if (message.Priority is { } named)
        {
            if (!TryParsePriority(named, out priority))
            {
                var shown = named.Length <= 32 ? named : named[..32] + "...";
                return $"priority '{shown}' is not 'high', 'normal' or 'low'.";
            }
        }
        else
        {
            priority = amqpPriority switch
            {
                >= InteractiveFrom => RequestPriority.Interactive,
                <= BackgroundUpTo => RequestPriority.Background,
                _ => RequestPriority.Normal,
            };
        }

        var deadline = message.ExpiresAt;
        // RabbitMQ itself refuses a publish whose expiration is not a non-negative integer, so a value that does not
        // parse here did not come through it; it is ignored rather than trusted.
        if (amqpExpiration is { Length: > 0 and <= 10 } && long.TryParse(amqpExpiration, NumberStyles.None, CultureInfo.InvariantCulture, out var ttlMs))
        {
            var fromTtl = arrivedAt.AddMilliseconds(ttlMs);
            deadline = deadline is { } given && given < fromTtl ? given : fromTtl;
        }

        urgency = new RequestUrgency(priority, deadline);
        return null;
    }

    private static bool TryParsePriority(string value, out RequestPriority priority)
    {
        (var known, priority) = value.ToLowerInvariant() switch
        {
            "high" => (true, RequestPriority.Interactive),
            "normal" => (true, RequestPriority.Normal),
            "low" => (true, RequestPriority.Background),
            _ => (false, RequestPriority.Normal),
        };
        return known;
    }
}
