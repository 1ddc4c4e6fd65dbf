using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.IntegrationTests.Reliability;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// A node of a three-node cluster is lost under load: the one the worker is connected to, the one leading the input
/// queue (a quorum queue replicated on all three), or one stopped and started again while two workers consume. Results
/// are counted by a client connected to a node that stays up: every published id is answered, duplicates come only from
/// the messages a worker held when its node went (bounded by its prefetch), and the worker fails over by itself.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class NodeLossTests(RabbitMqCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    private const int Load = 600;
    private const int FaultAfter = 100;
    private const int Prefetch = 64;
    private const string Queue = "embed-requested";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    private ClusterNode A => cluster.Nodes[0];

    private ClusterNode B => cluster.Nodes[1];

    /// <summary>The node the results are counted through; no test stops it.</summary>
    private ClusterNode C => cluster.Nodes[2];

    /// <summary>Each test starts with the whole cluster, even when the one before failed half-way.</summary>
    public Task InitializeAsync() => cluster.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Losing_the_node_the_worker_is_connected_to_loses_no_message()
    {
        var vhost = await cluster.CreateVirtualHostAsync("conn-loss", C);
        // Led by B, so what this test takes away is the worker's connection, not the queue's leader.
        await DeclareInputQueueAsync(B, vhost);
        await using var results = await ResultCollector.StartAsync(C.AmqpUrl(vhost));
        var name = ConnectionName("conn");
        await using var worker = await WorkerProcess.StartAsync("cluster-conn", A.AmqpUrl(vhost), WorkerSettings(A, name));
        await using var observer = new LoadObserver(C.ManagementUrl, vhost, results, name);
        Assert.Equal(A.Name, await WaitForConnectionAsync(vhost, name, _ => true));

        var ids = await BridgeFaultTests.PublishLoadAsync(results, "conn", Load);
        Assert.True(await results.WaitForAsync(FaultAfter, Patience), $"{results.Results.Count} results before the fault");
        // What this test takes away is the worker's connection, not the queue's leader: checked when the fault hits.
        // (Afterwards the leader may move: A rejoins the Raft group while the load drains.)
        Assert.Equal(B.Name, await QueueLeaderAsync(vhost));
        var faultAt = observer.Now;
        await A.StopAppAsync();
        await A.KillAsync();
        var failedOverTo = await WaitForConnectionAsync(vhost, name, node => node != A.Name);
        // Started again while the load drains, so the tests after this one have three nodes.
        await A.StartAsync(RabbitMqCluster.NodeStartTimeout);

        var outcome = await DrainAsync(results, vhost, ids);
        Assert.NotEqual(A.Name, failedOverTo);
        Assert.NotNull(await QueueLeaderAsync(vhost));
        Assert.Equal(3, (await cluster.RunningNodesAsync(C)).Count);

        var without = observer.WithoutConnection(name, faultAt);
        ClusterReport.Record("cluster: the worker's node lost", $"`rabbitmqctl stop_app`, then `kill -9`, of the node the worker is connected to (not the queue's leader) after {FaultAfter} of {Load} results; the node is started again", outcome,
            Describe(without, failedOverTo), Pause(observer, faultAt, ids.Count),
            "./test.sh --filter FullyQualifiedName~Losing_the_node_the_worker_is_connected_to");
        output.WriteLine($"{outcome}; failed over to {failedOverTo}; without a connection {without?.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Losing_the_node_that_leads_the_input_queue_loses_no_message()
    {
        var vhost = await cluster.CreateVirtualHostAsync("leader-loss", C);
        await DeclareInputQueueAsync(B, vhost);
        await using var results = await ResultCollector.StartAsync(C.AmqpUrl(vhost));
        var name = ConnectionName("leader");
        await using var worker = await WorkerProcess.StartAsync("cluster-leader", A.AmqpUrl(vhost), WorkerSettings(A, name));
        await using var observer = new LoadObserver(C.ManagementUrl, vhost, results, name);
        Assert.Equal(A.Name, await WaitForConnectionAsync(vhost, name, _ => true));
        Assert.Equal(B.Name, await QueueLeaderAsync(vhost));

        var ids = await BridgeFaultTests.PublishLoadAsync(results, "leader", Load);
        Assert.True(await results.WaitForAsync(FaultAfter, Patience), $"{results.Results.Count} results before the fault");
        var faultAt = observer.Now;
        await B.StopAppAsync();
        await B.KillAsync();
        await B.StartAsync(RabbitMqCluster.NodeStartTimeout);

        var outcome = await DrainAsync(results, vhost, ids);
        var leader = await QueueLeaderAsync(vhost);
        Assert.NotNull(leader);
        Assert.NotEqual(B.Name, leader);

        var without = observer.WithoutConnection(name, faultAt);
        ClusterReport.Record("cluster: the queue's leader lost", $"`rabbitmqctl stop_app`, then `kill -9`, of the node leading the quorum input queue (the worker is connected elsewhere) after {FaultAfter} of {Load} results; the node is started again", outcome,
            Describe(without, observer.LastNode(name)), Pause(observer, faultAt, ids.Count) + $"; new leader {Short(leader!)}",
            "./test.sh --filter FullyQualifiedName~Losing_the_node_that_leads_the_input_queue");
        output.WriteLine($"{outcome}; new leader {leader}; without a connection {without?.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task A_node_stopped_and_started_again_while_two_workers_consume_loses_no_message()
    {
        var vhost = await cluster.CreateVirtualHostAsync("two-workers", C);
        // Led by A, the node that is stopped: one worker loses its connection and the queue its leader at once.
        await DeclareInputQueueAsync(A, vhost);
        await using var results = await ResultCollector.StartAsync(C.AmqpUrl(vhost));
        var (nameA, nameB) = (ConnectionName("two-a"), ConnectionName("two-b"));
        await using var first = await WorkerProcess.StartAsync("cluster-two-a", A.AmqpUrl(vhost), WorkerSettings(A, nameA));
        await using var secondWorker = await WorkerProcess.StartAsync("cluster-two-b", B.AmqpUrl(vhost), WorkerSettings(B, nameB));
        await using var observer = new LoadObserver(C.ManagementUrl, vhost, results, nameA, nameB);
        Assert.Equal(A.Name, await WaitForConnectionAsync(vhost, nameA, _ => true));
        Assert.Equal(B.Name, await WaitForConnectionAsync(vhost, nameB, _ => true));

        var ids = await BridgeFaultTests.PublishLoadAsync(results, "two", Load / 2);
        Assert.True(await results.WaitForAsync(FaultAfter, Patience), $"{results.Results.Count} results before the fault");
        var faultAt = observer.Now;
        await A.StopAppAsync();
        var failedOverTo = await WaitForConnectionAsync(vhost, nameA, node => node != A.Name);
        await A.StartAppAsync();
        using (var management = new ManagementClient(C.ManagementUrl))
        {
            Assert.Equal(2, (await management.WaitForQueueAsync(vhost, Queue, q => q.Consumers == 2, Patience))?.Consumers);
        }

        // The second half arrives while both consume again: each has prefetch credit, so the queue hands both a share,
        // however fast either worker is.
        var second = await BridgeFaultTests.PublishLoadAsync(results, "two-after", Load / 2);
        ids.AddRange(second);
        var outcome = await DrainAsync(results, vhost, ids, workers: 2);
        Assert.Equal(3, (await cluster.RunningNodesAsync(C)).Count);
        var answeredBy = results.Results.Where(r => r.RequestId is { } id && id.StartsWith("two-after-", StringComparison.Ordinal))
            .Select(r => r.WorkerProcessId).ToHashSet();
        Assert.Contains(first.Pid, answeredBy);
        Assert.Contains(secondWorker.Pid, answeredBy);

        var withoutA = observer.WithoutConnection(nameA, faultAt);
        var withoutB = observer.WithoutConnection(nameB, faultAt);
        ClusterReport.Record("cluster: a node stopped and started, two workers", $"`rabbitmqctl stop_app` of the node leading the queue and serving worker 1 of 2 after {FaultAfter} of {Load / 2} results, `start_app` once worker 1 had failed over, then {Load / 2} more messages", outcome,
            $"worker 1: {Describe(withoutA, failedOverTo)}; worker 2: {Describe(withoutB, observer.LastNode(nameB))}",
            // Until the first half is answered: after that the queue is idle until the test publishes the second half.
            Pause(observer, faultAt, Load / 2),
            "./test.sh --filter FullyQualifiedName~A_node_stopped_and_started_again_while_two_workers");
        output.WriteLine($"{outcome}; worker 1 failed over to {failedOverTo} ({withoutA?.TotalSeconds:F1} s), worker 2 {withoutB?.TotalSeconds:F1} s");
    }

    private Dictionary<string, string?> WorkerSettings(ClusterNode first, string connectionName) => new()
    {
        ["RabbitMq:ClusterNodes"] = cluster.ClusterNodesSetting(first),
        ["RabbitMq:QueueType"] = "quorum",
        ["RabbitMq:DeliveryLimit"] = "10",
        ["RabbitMq:PrefetchCount"] = Prefetch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["RabbitMq:ConnectionName"] = connectionName,
        // Two workers run side by side in one test: no probe endpoint to fight over.
        ["Health:Urls"] = "",
    };

    private static string ConnectionName(string test) => $"akidb-cluster-{test}-{Guid.NewGuid():N}"[..32];

    /// <summary>
    /// Declares the input queue exactly as the worker does (quorum, delivery limit 10) through <paramref name="leader"/>:
    /// a quorum queue is led by the node it was declared on, so the test decides which node that is.
    /// </summary>
    private static async Task DeclareInputQueueAsync(ClusterNode leader, string vhost)
    {
        var factory = new ConnectionFactory { Uri = new Uri(leader.AmqpUrl(vhost)) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(Queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum", ["x-delivery-limit"] = 10, ["x-dead-letter-exchange"] = "embed-requested-expired" });
    }

    private async Task<string?> QueueLeaderAsync(string vhost)
    {
        using var management = new ClusterManagement(C.ManagementUrl);
        var (type, members) = await management.QueueReplicasAsync(vhost, Queue);
        Assert.Equal("quorum", type);
        Assert.Equal(cluster.Nodes.Select(n => n.Name).Order(), members.Order());
        return await management.QueueLeaderAsync(vhost, Queue);
    }

    /// <summary>Polls the management API until the connection is open on a node that satisfies the condition; returns that node.</summary>
    private async Task<string> WaitForConnectionAsync(string vhost, string connectionName, Func<string, bool> onNode)
    {
        using var management = new ClusterManagement(C.ManagementUrl);
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            try
            {
                if ((await management.ConnectionNodesAsync(vhost, connectionName)).FirstOrDefault(onNode) is { } node)
                {
                    return node;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !timeout.IsCancellationRequested)
            {
            }

            // Polling the broker's view of the connection, not waiting out a race.
            await Task.Delay(200, timeout.Token);
        }
    }

    /// <summary>
    /// Waits until every id is answered and the queue is empty (redeliveries included), then for one fresh request, so
    /// late duplicates are counted too; asserts the counts.
    /// </summary>
    private async Task<ReliabilityReport.Outcome> DrainAsync(ResultCollector results, string vhost, List<string> ids, int workers = 1)
    {
        while (true)
        {
            // Counted before the check, so a result arriving between the two cannot leave us waiting for one too many.
            var seen = results.Results.Count;
            if (ReliabilityReport.Count(ids, results.Results).Lost == 0)
            {
                break;
            }

            Assert.True(await results.WaitForAsync(seen + 1, Patience), $"stalled: {ReliabilityReport.Count(ids, results.Results)}");
        }

        using var management = new ManagementClient(C.ManagementUrl);
        var queue = await management.WaitForQueueAsync(vhost, Queue, q => q.Messages == 0, Patience);
        Assert.Equal(0, queue?.Messages);
        await results.PublishAsync(ResultCollector.Request("after-node-loss", "still answering after the node loss?"));
        Assert.True((await results.WaitForAsync("after-node-loss", Patience)).IsCompleted);

        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count, outcome.Completed);
        // A duplicate is a message whose result was published, but whose acknowledgement went down with the node: at
        // most what the workers held unacknowledged then.
        Assert.InRange(outcome.Duplicates, 0, Prefetch * workers);
        return outcome;
    }

    private static string Describe(TimeSpan? without, string? node) =>
        without is { } t ? $"{t.TotalSeconds:F1} s, then connected to {Short(node ?? "?")}" : $"none (kept its connection to {Short(node ?? "?")})";

    private static string Pause(LoadObserver observer, TimeSpan from, int until) =>
        $"{observer.LongestPause(from, until).TotalSeconds:F1} s";

    /// <summary>"akidb-c2-1a2b3c@localhost" as "c2": the report reads the same from run to run.</summary>
    private static string Short(string node) => node.Split('@')[0].Split('-') is [_, var index, _] ? index : node;
}
