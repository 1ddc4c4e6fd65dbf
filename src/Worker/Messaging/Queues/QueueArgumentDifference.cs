using System.Globalization;
using System.Text.RegularExpressions;

namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>
/// What RabbitMQ's <c>PRECONDITION_FAILED</c> answer to a queue declaration says: which argument of the existing queue
/// differs, and its current value (typed as the broker reports it, so the queue can be declared again exactly as it is).
/// </summary>
/// <param name="Argument">The argument (<c>x-max-length</c>) or property (<c>durable</c>) that differs.</param>
/// <param name="Requested">The value asked for, as the broker printed it; null for none.</param>
/// <param name="Current">The existing queue's value; null when it has none.</param>
internal sealed partial record QueueArgumentDifference(string Argument, string? Requested, object? Current)
{
    /// <summary>The difference named in a broker's reply text, or null when the reply is about something else.</summary>
    public static QueueArgumentDifference? Parse(string? replyText)
    {
        if (replyText is null || Inequivalent().Match(replyText) is not { Success: true } match)
        {
            return null;
        }

        var requested = match.Groups["rv"].Success ? match.Groups["rv"].Value : match.Groups["rb"].Success ? match.Groups["rb"].Value : null;
        object? current = match.Groups["cv"].Success ? Typed(match.Groups["cv"].Value, match.Groups["ct"].Value)
            : match.Groups["cb"].Success ? match.Groups["cb"].Value
            : null;
        if (current is Unsupported)
        {
            return null;
        }

        return new QueueArgumentDifference(match.Groups["arg"].Value, requested, current);
    }

    /// <summary>"x-max-length is 10000 here but none on the broker", for the log line.</summary>
    public string Describe() =>
        $"{Argument}: the worker declares {(Requested is null ? "none" : $"'{Requested}'")}, the existing queue has {(Current is null ? "none" : $"'{Current}'")}";

    // A value of a type the client cannot write back as it came (a table, an array): the queue cannot be redeclared as it is.
    private sealed class Unsupported;

    // AMQP field types as RabbitMQ names them, to the .NET types RabbitMQ.Client writes as those same types.
    private static object Typed(string value, string type) => type switch
    {
        "longstr" or "shortstr" => value,
        "signedint" => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : new Unsupported(),
        "long" => long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : new Unsupported(),
        "short" => short.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : new Unsupported(),
        "byte" => sbyte.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? b : new Unsupported(),
        "bool" => value == "true" ? true : value == "false" ? false : new Unsupported(),
        _ => new Unsupported(),
    };

    // rabbit_misc:assert_args_equivalence: "inequivalent arg 'x-max-length' for queue 'q' in vhost 'v': received the value
    // '10000' of type 'signedint' but current is none"; and for durable / auto_delete: "received 'true' but current is 'false'".
    [GeneratedRegex(@"inequivalent arg '(?<arg>[^']+)' for queue '[^']*' in vhost '[^']*': received (?:none|the value '(?<rv>[^']*)' of type '[^']+'|'(?<rb>[^']*)') but current is (?:none|the value '(?<cv>[^']*)' of type '(?<ct>[^']+)'|'(?<cb>[^']*)')")]
    private static partial Regex Inequivalent();
}
