using RabbitMQ.Client;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>
/// <c>--cluster-nodes</c> / <c>RabbitMq__ClusterNodes</c>: <c>host:port</c> entries, comma-separated, read by RabbitMQ.Client's
/// own parser (the worker reads <c>RabbitMq:ClusterNodes</c> the same way). Entries without a port use 5672.
/// </summary>
internal static class ClusterEndpoints
{
    public static IReadOnlyList<AmqpTcpEndpoint> Parse(string? nodes)
    {
        if (string.IsNullOrWhiteSpace(nodes))
        {
            return [];
        }

        var entries = nodes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (entries.Length > 64)
        {
            throw new ArgumentException($"--cluster-nodes (RabbitMq__ClusterNodes) lists {entries.Length} nodes; at most 64 are accepted.");
        }

        return entries.Select(entry =>
        {
            try
            {
                if (entry.Length <= 255 && entry.Split(':').Length <= 2 && !entry.EndsWith(':') && !entry.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '@')
                    && AmqpTcpEndpoint.Parse(entry) is { Port: > 0 and <= 65535 } endpoint
                    && Uri.CheckHostName(endpoint.HostName) is UriHostNameType.Dns or UriHostNameType.IPv4)
                {
                    return endpoint;
                }
            }
            catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
            {
            }

            var shown = entry.Length <= 80 ? entry : entry[..80] + "...";
            throw new ArgumentException($"--cluster-nodes (RabbitMq__ClusterNodes) entry '{shown}' is not host:port (for example rabbit-1:5672,rabbit-2:5672).");
        }).ToList();
    }
}
