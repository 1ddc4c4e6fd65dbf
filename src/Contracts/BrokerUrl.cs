namespace AkiDb.Queue.Contracts;

/// <summary>Broker URLs as they may be shown: in logs, in errors, on a console.</summary>
public static class BrokerUrl
{
    /// <summary>The URL as a Uri when it is one a broker connection can use: an AMQP scheme, a host, a valid port.</summary>
    public static Uri? TryParse(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps" or "rabbitmq" or "rabbitmqs" && uri.Host.Length > 0
            ? uri
            : null;

    /// <summary>
    /// The URL with any password replaced by <c>***</c>, rebuilt from its parts so nothing of a password (percent-encoded
    /// or not) can slip through; a value that does not parse is never echoed, since its password cannot be told apart.
    /// </summary>
    public static string Redact(string? url)
    {
        if (TryParse(url) is not { } uri)
        {
            return "(an invalid broker URL, not shown)";
        }

        var user = uri.UserInfo.Split(':', 2)[0];
        var credentials = uri.UserInfo.Length == 0 ? "" : uri.UserInfo.Contains(':', StringComparison.Ordinal) ? $"{user}:***@" : $"{user}@";
        return $"{uri.Scheme}://{credentials}{uri.Authority}{uri.PathAndQuery}";
    }
}
