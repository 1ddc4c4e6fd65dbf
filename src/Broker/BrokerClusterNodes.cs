using RabbitMQ.Client;

namespace AkiDb.Queue.Broker;

/// <summary>
/// A cluster's nodes as <c>host:port</c>, comma-separated (<c>RabbitMq:ClusterNodes</c>, <c>--cluster-nodes</c>). The URL still
/// carries the credentials and the virtual host; these only say where to connect. RabbitMQ.Client's own
/// <see cref="AmqpTcpEndpoint.Parse"/> reads each entry, so the CLI and the worker accept exactly the same forms.
/// </summary>
public static class BrokerClusterNodes
{
    /// <summary>More nodes than any real cluster has: the list comes from configuration, but stays bounded.</summary>
    public const int MaxNodes = 64;

    /// <summary>The entries as written (trimmed), or an empty list when the setting is empty.</summary>
    public static IReadOnlyList<string> Split(string? nodes) =>
        string.IsNullOrWhiteSpace(nodes)
            ? []
            : nodes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Null when every entry is a usable <c>host</c> or <c>host:port</c>; otherwise why not, naming <paramref name="key"/>.</summary>
    public static string? Validate(string? nodes, string key)
    {
        var entries = Split(nodes);
        if (entries.Count > MaxNodes)
        {
            return $"{key} lists {entries.Count} nodes; at most {MaxNodes} are accepted.";
        }

        foreach (var entry in entries)
        {
            if (!TryParse(entry, out _))
            {
                var shown = entry.Length <= 80 ? entry : entry[..80] + "...";
                return $"{key} entry '{shown}' is not host:port (for example rabbit-1:5672,rabbit-2:5672,rabbit-3:5672).";
            }
        }

        return null;
    }

    /// <summary>Host and port of each node, in the order given; entries without a port take <paramref name="defaultPort"/>.</summary>
    public static IReadOnlyList<(string Host, int Port)> Parse(string? nodes, int defaultPort, string key) =>
        Split(nodes).Select(entry => TryParse(entry, out var endpoint)
            ? (endpoint.HostName, entry.Contains(':', StringComparison.Ordinal) ? endpoint.Port : defaultPort)
            : throw new FormatException(Validate(entry, key))).ToList();

    private static bool TryParse(string entry, out AmqpTcpEndpoint endpoint)
    {
        endpoint = null!;
        // A host name or IPv4 address and a port, nothing that could be read as a URL, a path or a second list.
        // No IPv6 literals: MassTransit's cluster node parser splits on every ':'.
        if (entry.Length > 255 || entry.Split(':').Length > 2 || entry.EndsWith(':') || entry.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '@' or '[' or ']'))
        {
            return false;
        }

        try
        {
            endpoint = AmqpTcpEndpoint.Parse(entry);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            return false;
        }

        return Uri.CheckHostName(endpoint.HostName) is UriHostNameType.Dns or UriHostNameType.IPv4 && endpoint.Port is > 0 and <= 65535;
    }
}
