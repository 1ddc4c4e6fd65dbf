namespace AkiDb.Queue.Contracts;

/// <summary>Broker URLs as they may be shown: in logs, in errors, on a console.</summary>
public static class BrokerUrl
{
    /// <summary>The URL with any password replaced by <c>***</c>.</summary>
    public static string Redact(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.UserInfo.Contains(':', StringComparison.Ordinal)
            ? url.Replace(uri.UserInfo, uri.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
            : url;
}
