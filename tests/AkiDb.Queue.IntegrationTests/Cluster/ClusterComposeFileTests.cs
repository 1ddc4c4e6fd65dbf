using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.IntegrationTests.Operations;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// compose/docker-compose.cluster.yml as the installed compose tools read it (no Docker engine needed: `config` only
/// parses and interpolates), checked against compose/rabbitmq-cluster.conf and the worker's own option validation.
/// </summary>
public sealed class ClusterComposeFileTests(ITestOutputHelper output)
{
    private const string ComposeFile = "compose/docker-compose.cluster.yml";
    private const string Password = "test-password-1";
    private const string Cookie = "test-cookie-0123456789";

    private static readonly string[] NodeServices = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"];

    [Fact]
    public async Task Three_nodes_share_one_cookie_and_peer_list_and_the_worker_lists_them_all_with_quorum_queues()
    {
        var peers = File.ReadAllLines(Path.Combine(RepoPaths.Root, "compose", "rabbitmq-cluster.conf"))
            .Where(l => l.StartsWith("cluster_formation.classic_config.nodes.", StringComparison.Ordinal))
            .Select(l => l.Split('=')[1].Trim()).Order().ToArray();
        Assert.Equal(NodeServices.Select(s => $"rabbit@{s}"), peers);

        foreach (var tool in ComposeTool.Installed())
        {
            output.WriteLine($"checking with {tool}");
            var services = (await tool.ConfigAsync(new() { ["RABBITMQ_PASSWORD"] = Password, ["RABBITMQ_ERLANG_COOKIE"] = Cookie }, ComposeFile)).GetProperty("services");
            Assert.Equal([.. NodeServices, "worker"], services.EnumerateObject().Select(s => s.Name).Order());

            foreach (var name in NodeServices)
            {
                var node = services.GetProperty(name);
                // The node name is rabbit@<hostname>: the hostname is what the peer list and the worker address.
                Assert.Equal(name, node.GetProperty("hostname").GetString());
                Assert.Equal($"-setcookie {Cookie}", Env(node, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"));
                Assert.Equal($"-setcookie {Cookie}", Env(node, "RABBITMQ_CTL_ERL_ARGS"));
                Assert.Equal(Password, Env(node, "RABBITMQ_DEFAULT_PASS"));
                Assert.Contains(node.GetProperty("volumes").EnumerateArray(), v => Describe(v).Contains("rabbitmq-cluster.conf", StringComparison.Ordinal)
                    && Describe(v).Contains("/etc/rabbitmq/conf.d/", StringComparison.Ordinal));
                Assert.True(node.TryGetProperty("healthcheck", out _), $"{name} needs a healthcheck");
            }

            var worker = services.GetProperty("worker");
            var clusterNodes = Env(worker, "RabbitMq__ClusterNodes");
            Assert.Null(RabbitMqClusterNodes.Validate(clusterNodes));
            Assert.Equal(NodeServices.Select(s => $"{s}:5672"), RabbitMqClusterNodes.Parse(clusterNodes).Select(e => $"{e.HostName}:{e.Port}"));
            Assert.Equal("quorum", Env(worker, "RabbitMq__QueueType"));
            Assert.False(string.IsNullOrEmpty(Env(worker, "RabbitMq__DeliveryLimit")), "the delivery limit must be explicit (RabbitMQ 4.0 changed its default)");
            Assert.False(worker.TryGetProperty("ports", out _), "worker publishes host ports, so it cannot be scaled");
        }
    }

    [Fact]
    public async Task Without_RABBITMQ_ERLANG_COOKIE_every_compose_tool_refuses_the_file_and_names_the_variable()
    {
        foreach (var tool in ComposeTool.Installed())
        {
            var run = await tool.RunConfigAsync(new() { ["RABBITMQ_PASSWORD"] = Password }, composeFile: ComposeFile);
            output.WriteLine($"{tool}: {run}");
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("RABBITMQ_ERLANG_COOKIE", run.Stderr + run.Stdout, StringComparison.Ordinal);
        }
    }

    private static string? Env(JsonElement service, string name) =>
        service.GetProperty("environment").TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>docker-compose 1.29 prints "source:target:mode"; Compose v2 prints {"source", "target", ...}.</summary>
    private static string Describe(JsonElement volume) =>
        volume.ValueKind == JsonValueKind.String ? volume.GetString()! : $"{volume.GetProperty("source").GetString()}:{volume.GetProperty("target").GetString()}";
}
