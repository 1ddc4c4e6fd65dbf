using System.Net;
using System.Net.Sockets;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>The CLI with <c>--cluster-nodes</c>: it reaches a live node even when the URL's host and the first listed node are down.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterCliTests(RabbitMqCluster cluster, ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-cluster-cli-");

    [Fact]
    public async Task Publish_connects_through_a_live_node_of_the_list_and_a_bad_list_is_refused_by_name()
    {
        await cluster.RestoreAsync();
        var node = cluster.Nodes[2];
        var vhost = await cluster.CreateVirtualHostAsync("cluster-cli", node);
        var dead = DeadPort();
        await File.WriteAllTextAsync(Path.Combine(_work.FullName, "one.txt"), string.Join(' ', Walking.EndToEndTests.Sentences.Take(8)));
        var url = $"amqp://guest:guest@127.0.0.1:{dead}/{Uri.EscapeDataString(vhost)}";
        // The queue a worker would declare; without it the broker drops what the CLI publishes by queue name.
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(node.AmqpUrl(vhost)) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("embed-requested", durable: true, exclusive: false, autoDelete: false);
        }


        var publish = await RunAsync(["publish", _work.FullName, "--texts-per-message", "2", "--results-queue", "none", "--url", url,
            "--cluster-nodes", $"127.0.0.1:{dead},{node.Address}"]);
        var refused = await RunAsync(["publish", _work.FullName, "--url", url, "--cluster-nodes", $"{node.Address},127.0.0.1:not-a-port"]);

        Assert.Equal(0, publish.ExitCode);
        var published = int.Parse(System.Text.RegularExpressions.Regex.Match(publish.StandardOutput, @"Published (\d+) requests").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        using var management = new ManagementClient(node.ManagementUrl);
        Assert.Equal(published, (await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Messages == published, TimeSpan.FromMinutes(1)))?.Messages);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--cluster-nodes", refused.StandardOutput + refused.StandardError, StringComparison.Ordinal);
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>A loopback port nobody listens on: bound, then released.</summary>
    private static int DeadPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<BufferedCommandResult> RunAsync(string[] arguments)
    {
        var result = await Cli.Wrap("dotnet").WithArguments([RepoPaths.CliDll, .. arguments])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["COLUMNS"] = "200", ["RabbitMq__ClusterNodes"] = null })
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);
        output.WriteLine($"akidb-queue {arguments[0]} -> {result.ExitCode}\n{result.StandardOutput}{result.StandardError}");
        return result;
    }
}
