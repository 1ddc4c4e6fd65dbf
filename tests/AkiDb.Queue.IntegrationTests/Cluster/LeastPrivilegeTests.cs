using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Broker;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// The permissions docs/operations.md gives the worker's user ("What the worker needs from the cluster") are read from
/// that page and set on a fresh user: the worker runs with them, through every entity it declares (a malformed message
/// takes it to the error queue), and the user can declare nothing else. Over TLS, as a managed broker is reached: every
/// connection of the worker goes to the nodes' amqps ports with the cluster's CA trusted through RabbitMq:CaFile.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LeastPrivilegeTests(RabbitMqCluster cluster)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_least_privilege_user_with_the_documented_permissions_runs_the_worker_over_tls()
    {
        await cluster.RestoreAsync();
        var node = cluster.Nodes[2];
        var vhost = await cluster.CreateVirtualHostAsync("least-privilege", node);
        var (configure, write, read) = DocumentedPermissions.For("akidb-worker");
        var user = $"akidb-worker-{Guid.NewGuid():N}"[..24];
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        await CreateUserAsync(node, vhost, user, password, configure, write, read);
        var url = node.AmqpsUrl(vhost, $"{user}:{password}");

        await using var results = await ResultCollector.StartAsync(node.AmqpUrl(vhost));
        await using var worker = await WorkerProcess.StartAsync("least-privilege", url, new Dictionary<string, string?>
        {
            ["RabbitMq:ClusterNodes"] = cluster.ClusterNodesSetting(node, tls: true),
            ["RabbitMq:CaFile"] = cluster.CaFile,
            ["Health:Urls"] = "",
        });

        await results.PublishAsync(ResultCollector.Request("allowed-1", "a worker with only the permissions it needs"));
        // Wrong field type: MassTransit moves it to embed-requested_error (declared and published to by the worker's
        // user) and the worker answers malformed_message on embed-failed.
        await results.PublishAsync("""{"requestId":"allowed-bad","texts":5}""");

        Assert.True((await results.WaitForAsync("allowed-1", Patience)).IsCompleted);
        Assert.Equal("malformed_message", (await results.WaitForAsync("allowed-bad", Patience)).Code);
        Assert.True(await results.WaitForErrorsAsync(1, Patience), "the malformed message did not reach embed-requested_error");

        var connections = await ClusterManagementConnectionsAsync(node, vhost, user);
        Assert.NotEmpty(connections);
        Assert.All(connections, c => Assert.True(c.Tls, $"{c.Name} is not TLS"));

        var factory = BrokerConnections.Create(new BrokerConnectionSettings { Url = url, CaFile = cluster.CaFile }, key => key).CreateFactory("least-privilege-check");
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var refused = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueDeclareAsync("someone-elses-queue", durable: true, exclusive: false, autoDelete: false));
        Assert.Contains("ACCESS_REFUSED", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>The worker user's connections (MassTransit's, the queue-depth poller's), once the management API lists them.</summary>
    private static async Task<IReadOnlyList<ConnectionInfo>> ClusterManagementConnectionsAsync(ClusterNode node, string vhost, string user)
    {
        using var management = new ManagementClient(node.ManagementUrl);
        var all = await management.WaitForConnectionsAsync(all => all.Count(c => c.Vhost == vhost && c.User == user) >= 2, Patience);
        return all.Where(c => c.Vhost == vhost && c.User == user).ToList();
    }

    /// <summary>The three regular expressions of the <c>rabbitmqctl set_permissions</c> example in docs/operations.md.</summary>
    private static async Task CreateUserAsync(ClusterNode node, string vhost, string user, string password, string configure, string write, string read)
    {
        using var http = new HttpClient { BaseAddress = new Uri(node.ManagementUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        (await http.PutAsJsonAsync($"api/users/{Uri.EscapeDataString(user)}", new { password, tags = "" })).EnsureSuccessStatusCode();
        (await http.PutAsJsonAsync($"api/permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(user)}", new { configure, write, read })).EnsureSuccessStatusCode();
    }
}
