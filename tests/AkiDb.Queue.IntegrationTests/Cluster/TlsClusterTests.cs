using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// A cluster reached over TLS through <c>RabbitMq:ClusterNodes</c>: the URL's host and the first node listed are down, so
/// a connection that ignored the list (or TLS) could not be made. The worker answers and the CLI embeds.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TlsClusterTests(RabbitMqCluster cluster, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-tls-cluster-");

    [Fact]
    public async Task Every_connection_of_the_worker_and_the_cli_goes_to_the_listed_tls_nodes()
    {
        await cluster.RestoreAsync();
        var vhost = await cluster.CreateVirtualHostAsync("tls-cluster");
        var dead = DeadPort();
        var url = $"amqps://guest:guest@127.0.0.1:{dead}/{Uri.EscapeDataString(vhost)}";
        var nodes = $"127.0.0.1:{dead},{cluster.Nodes[1].TlsAddress},{cluster.Nodes[2].TlsAddress}";

        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["RabbitMq:ClusterNodes"] = nodes,
            ["RabbitMq:CaFile"] = cluster.CaFile,
        });
        await using var results = await ResultCollector.StartAsync(cluster.Nodes[1].AmqpsUrl(vhost), caFile: cluster.CaFile);
        await results.PublishAsync(ResultCollector.Request("tls-cluster-1", "a request to a cluster reached over TLS"));
        Assert.True((await results.WaitForAsync("tls-cluster-1", Patience)).IsCompleted);

        var input = Path.Combine(_work.FullName, "in.jsonl");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 6).Select(i => JsonSerializer.Serialize(new { id = $"d{i}", text = $"cluster text {i}" })));
        var outFile = Path.Combine(_work.FullName, "out.jsonl");
        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url, "--cluster-nodes", nodes, "--ca-file", cluster.CaFile);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(6, File.ReadAllLines(outFile).Length);

        using var management = new ManagementClient(cluster.Nodes[1].ManagementUrl);
        var connections = (await management.WaitForConnectionsAsync(all => all.Count(c => c.Vhost == vhost && c.Name.Contains("akidb-queue-worker", StringComparison.Ordinal)) >= 2, Patience))
            .Where(c => c.Vhost == vhost).ToList();
        output.WriteLine(string.Join('\n', connections));
        Assert.True(connections.Count(c => c.Name.Contains("akidb-queue-worker", StringComparison.Ordinal)) >= 2, "MassTransit's and the queue-depth poller's connections");
        Assert.All(connections, c => Assert.True(c.Tls, $"{c.Name} is not TLS"));
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>A loopback port nobody listens on: bound, then released.</summary>
    private static int DeadPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
