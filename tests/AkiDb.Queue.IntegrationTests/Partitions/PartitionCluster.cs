using AkiDb.Queue.IntegrationTests.Cluster;
using AkiDb.Queue.Testing.Network;

namespace AkiDb.Queue.IntegrationTests.Partitions;

/// <summary>
/// The three-node cluster of <see cref="RabbitMqCluster"/>, each node in a network namespace of its own on a
/// <see cref="NetworkLab"/>, plus a fourth namespace for the worker: links between any two of them can be cut, delayed
/// or made lossy. The test process and the CLI stay in the root namespace and reach every node over the lab's bridge.
/// </summary>
public sealed class PartitionCluster : RabbitMqCluster, IAsyncLifetime
{
    protected override bool UsesNetworkLab => true;

    /// <summary>The worker's namespace.</summary>
    public LabHost WorkerHost { get; private set; } = null!;

    public new async Task InitializeAsync()
    {
        await base.InitializeAsync();
        if (Lab is not null)
        {
            WorkerHost = await Lab.AddHostAsync("wk");
        }
    }

    /// <summary>
    /// Undoes any fault a test left behind (a failed test must not leave the next a broken network): frozen nodes resumed,
    /// links up, blocks and impairments removed, stopped nodes started; then waits until the cluster is whole again.
    /// </summary>
    public async Task HealAllAsync(TimeSpan timeout)
    {
        var lab = Lab!;
        foreach (var node in Nodes.Where(n => n.BeamPid is not null))
        {
            node.Resume();
        }

        var hosts = lab.Hosts;
        foreach (var host in hosts)
        {
            await lab.HealAsync(host);
            await lab.ClearImpairmentAsync(host);
            foreach (var other in hosts.Where(h => h != host))
            {
                await lab.UnblockAsync(host, other);
            }
        }

        await RestoreAsync();
        await SettleAsync(timeout);
    }

    /// <summary>
    /// After a partition heals: waits until the cluster is whole, and restarts a node it does not rejoin by itself. With
    /// RabbitMQ 3.10 and pause_minority, a node that paused can come back still recording the partition (the others list
    /// it as not running, it lists them in its partitions), and a client connected to it then publishes into a split
    /// view: a classic queue on another node misses what it publishes. The way out is the operator's (docs/operations.md):
    /// restart that node, which then syncs from the majority. Returns the nodes restarted.
    /// </summary>
    public async Task<IReadOnlyList<ClusterNode>> SettleAsync(TimeSpan timeout)
    {
        try
        {
            await WaitWholeAsync(TimeSpan.FromSeconds(60));
            return [];
        }
        catch (OperationCanceledException)
        {
            var outsiders = await OutsidersAsync();
            foreach (var node in outsiders)
            {
                Console.WriteLine($"Cluster node {node.Name} did not rejoin after the partition healed; restarting it");
                await node.KillAsync();
                await node.StartAsync(timeout);
            }

            await WaitWholeAsync(timeout);
            return outsiders;
        }
    }

    /// <summary>The nodes no other node sees running, and the nodes that record a partition the majority does not.</summary>
    private async Task<IReadOnlyList<ClusterNode>> OutsidersAsync()
    {
        var seen = new Dictionary<ClusterNode, int>();
        var partitioned = new HashSet<ClusterNode>();
        foreach (var via in Nodes)
        {
            try
            {
                using var management = new ClusterManagement(via.ManagementUrl);
                var running = await management.RunningNodesAsync();
                foreach (var node in Nodes.Where(n => n != via && running.Contains(n.Name)))
                {
                    seen[node] = seen.GetValueOrDefault(node) + 1;
                }

                if ((await management.PartitionsAsync()).Count > 0 && running.Count < Nodes.Count / 2 + 1)
                {
                    partitioned.Add(via);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
            }
        }

        return [.. Nodes.Where(n => seen.GetValueOrDefault(n) == 0 || partitioned.Contains(n))];
    }

    /// <summary>
    /// Polls until every node's management API answers, sees all three nodes running and records no partition, ten polls
    /// in a row (a node coming back from a partition may look whole for a moment before it reports the partition).
    /// </summary>
    public async Task WaitWholeAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var inARow = 0;
        while (true)
        {
            var whole = true;
            foreach (var node in Nodes)
            {
                try
                {
                    using var management = new ClusterManagement(node.ManagementUrl);
                    whole &= (await management.RunningNodesAsync()).Count == Nodes.Count && (await management.PartitionsAsync()).Count == 0;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancel.IsCancellationRequested)
                {
                    whole = false;
                }
            }

            inARow = whole ? inARow + 1 : 0;
            if (inARow >= 10)
            {
                return;
            }

            // Polling the cluster's own view of itself, bounded by the timeout.
            await Task.Delay(500, cancel.Token);
        }
    }
}

/// <summary>A test that needs network namespaces: skipped, with the reason, where they cannot be created (not root).</summary>
public sealed class NetworkLabFactAttribute : FactAttribute
{
    public NetworkLabFactAttribute()
    {
        if (NetworkLab.UnavailableReason().GetAwaiter().GetResult() is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// The CI-size quiet-fault scenarios: skipped unless AKIDB_QUIET_FAULTS=1 (or a full run), and where namespaces cannot be
/// created. Why opt-in for now: the worker's part held in every run (every request answered, 0 lost), but on a clean
/// clone the harness's wait for the cluster to be whole again after SIGCONT outlasted its 10-minute patience once
/// (RabbitMQ 3.10 with pause_minority can leave the resumed node recording the partition), and a red ./test.sh must
/// not come from the harness. Issue 25 stays open until that settle step is reliable.
/// </summary>
public sealed class QuietFaultFactAttribute : FactAttribute
{
    public QuietFaultFactAttribute()
    {
        if (NetworkLab.UnavailableReason().GetAwaiter().GetResult() is { } reason)
        {
            Skip = reason;
        }
        else if (!FaultScenario.Full && Environment.GetEnvironmentVariable("AKIDB_QUIET_FAULTS") != "1")
        {
            Skip = "quiet-fault scenario: opt-in (AKIDB_QUIET_FAULTS=1 ./test.sh --filter FullyQualifiedName~QuietFaultTests) until the post-heal settle is reliable";
        }
    }
}

/// <summary>
/// A full-size fault scenario for scripts/reliability-report.sh (minutes each): skipped unless AKIDB_RELIABILITY_FULL=1,
/// and, like <see cref="NetworkLabFactAttribute"/>, where namespaces cannot be created.
/// </summary>
public sealed class ReliabilityReportFactAttribute : FactAttribute
{
    public ReliabilityReportFactAttribute()
    {
        if (NetworkLab.UnavailableReason().GetAwaiter().GetResult() is { } reason)
        {
            Skip = reason;
        }
        else if (!FaultScenario.Full)
        {
            Skip = "a full-size fault scenario: run by scripts/reliability-report.sh (AKIDB_RELIABILITY_FULL=1)";
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PartitionClusterCollection : ICollectionFixture<PartitionCluster>
{
    public const string Name = "rabbitmq-partition-cluster";
}
