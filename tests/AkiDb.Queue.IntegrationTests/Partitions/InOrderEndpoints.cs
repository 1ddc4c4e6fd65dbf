using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Partitions;

/// <summary>
/// The nodes in the order given, never shuffled (RabbitMQ.Client's default resolver shuffles them): the test's own
/// clients must sit on the node a scenario does not fault, or a frozen node holds them (it completes TCP handshakes and
/// then says nothing) while the worker's results flow past them.
/// </summary>
internal sealed class InOrderEndpoints(IEnumerable<string> nodes) : IEndpointResolver
{
    private readonly IReadOnlyList<AmqpTcpEndpoint> _endpoints = [.. nodes.Select(AmqpTcpEndpoint.Parse)];

    public IEnumerable<AmqpTcpEndpoint> All() => _endpoints;
}
