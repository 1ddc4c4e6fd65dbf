using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>With <c>RabbitMq:QueueType=quorum</c>, every queue the worker declares is replicated on all three nodes.</summary>
[Collection(ClusterCollection.Name)]
public sealed class QuorumQueueTests(RabbitMqCluster cluster)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_input_and_error_queues_are_quorum_queues_with_a_member_on_every_node()
    {
        await cluster.RestoreAsync();
        var node = cluster.Nodes[1];
        var vhost = await cluster.CreateVirtualHostAsync("quorum-all", node);
        await using var worker = await WorkerProcess.StartAsync("cluster-quorum", node.AmqpUrl(vhost), new Dictionary<string, string?>
        {
            ["RabbitMq:ClusterNodes"] = cluster.ClusterNodesSetting(node),
            ["RabbitMq:QueueType"] = "quorum",
            ["RabbitMq:DeliveryLimit"] = "7",
            ["Health:Urls"] = "",
        });

        // Not JSON: MassTransit moves it to embed-requested_error, which it declares on that first move. Published
        // with plain RabbitMQ.Client, so nothing else declares that queue first.
        var factory = new ConnectionFactory { Uri = new Uri(node.AmqpUrl(vhost)) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.BasicPublishAsync("", "embed-requested", mandatory: false, new BasicProperties { Persistent = true, ContentType = "application/json" },
                Encoding.UTF8.GetBytes("this is not json"));
        }

        using var management = new ManagementClient(node.ManagementUrl);
        var error = await management.WaitForQueueAsync(vhost, "embed-requested_error", q => q.Messages == 1, Patience);
        Assert.Equal(1, error?.Messages);

        using var cluster3 = new ClusterManagement(node.ManagementUrl);
        var everyNode = cluster.Nodes.Select(n => n.Name).Order().ToArray();
        foreach (var queue in new[] { "embed-requested", "embed-requested_error" })
        {
            var (type, members) = await cluster3.QueueReplicasAsync(vhost, queue);
            Assert.Equal("quorum", type);
            Assert.Equal(everyNode, members.Order());
        }

        var input = await management.GetQueueAsync(vhost, "embed-requested");
        Assert.Contains("\"x-delivery-limit\":7", input!.Arguments.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        // Nothing consumes the error queue in a loop; a delivery limit there could only drop what an operator moves.
        Assert.DoesNotContain("x-delivery-limit", error!.Arguments, StringComparison.Ordinal);
    }
}
