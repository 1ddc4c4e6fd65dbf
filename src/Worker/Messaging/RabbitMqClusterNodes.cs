using AkiDb.Queue.Broker;
using RabbitMQ.Client;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// <c>RabbitMq:ClusterNodes</c>: the nodes of a RabbitMQ cluster as <c>host:port</c>, comma-separated, read by
/// <see cref="BrokerClusterNodes"/> (the CLI reads <c>--cluster-nodes</c> the same way). Every connection of the worker
/// goes to these nodes in order, MassTransit's included, through <see cref="BrokerConnections"/>: after a connection
/// loss MassTransit reconnects to the first that answers, and publisher confirms still hold, because a publish whose
/// confirm was lost with the connection fails, is retried, and the message is acknowledged only after.
/// </summary>
public static class RabbitMqClusterNodes
{
    public const string Key = "RabbitMq:ClusterNodes";

    public const int MaxNodes = BrokerClusterNodes.MaxNodes;

    /// <summary>The entries as written (trimmed), or an empty list when the setting is empty.</summary>
    public static IReadOnlyList<string> Split(string? nodes) => BrokerClusterNodes.Split(nodes);

    /// <summary>Null when every entry is a usable <c>host</c> or <c>host:port</c>; otherwise why not, naming the key.</summary>
    public static string? Validate(string? nodes) => BrokerClusterNodes.Validate(nodes, Key);

    /// <summary>The endpoints, in the order given; entries without a port take <paramref name="defaultPort"/>.</summary>
    public static IReadOnlyList<AmqpTcpEndpoint> Parse(string? nodes, int defaultPort = 5672) =>
        BrokerClusterNodes.Parse(nodes, defaultPort, Key).Select(n => new AmqpTcpEndpoint(n.Host, n.Port)).ToList();
}
