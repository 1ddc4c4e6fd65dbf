using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Testing.Network;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// A three-node RabbitMQ cluster on this machine, started once for all cluster tests and removed after them. The nodes
/// share an Erlang cookie and a private epmd port and have their own names, ports and data directories; they find each
/// other at first boot through classic peer discovery (the list of the three names), which forms the cluster without the
/// stop_app / join_cluster / start_app round of each node. Self-contained on purpose: no script, no shared broker.
/// Every node serves AMQP both plain and over TLS (a certificate for localhost and 127.0.0.1 signed by a CA made for
/// the cluster, <see cref="CaFile"/>): the TLS tests use <see cref="ClusterNode.TlsAddress"/>, the others the plain port.
/// On loopback by default; <see cref="PartitionCluster"/> puts each node in a network namespace of its own instead.
/// </summary>
public class RabbitMqCluster : IAsyncLifetime
{
    public static readonly TimeSpan NodeStartTimeout = TimeSpan.FromMinutes(3);

    private static readonly string Sbin = "/usr/lib/rabbitmq/bin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"akidb-cluster-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
    private int _epmdPort;
    private TestCertificates? _certificates;

    public IReadOnlyList<ClusterNode> Nodes { get; private set; } = [];

    /// <summary>The private network the nodes run in, when <see cref="UsesNetworkLab"/>; null on loopback.</summary>
    public NetworkLab? Lab { get; private set; }

    /// <summary>Why the cluster was not started (network namespaces cannot be made here); null when it runs.</summary>
    public string? Unavailable { get; private set; }

    /// <summary>
    /// Each node in a network namespace of its own on a <see cref="NetworkLab"/>, with a long name (<c>name@10.213.N.M</c>),
    /// default ports inside its namespace, <c>loopback_users = none</c> (guest over the bridge) and
    /// <c>cluster_partition_handling = pause_minority</c>: a cluster whose links can be cut.
    /// </summary>
    protected virtual bool UsesNetworkLab => false;

    private ClusterNode Running => Nodes.FirstOrDefault(n => n.BeamPid is not null) ?? throw new InvalidOperationException("No cluster node is running.");

    public static bool IsInstalled => File.Exists(Path.Combine(Sbin, "rabbitmq-server"));

    /// <summary>The PEM file of the CA that signed the nodes' TLS certificate.</summary>
    public string CaFile => _certificates?.CaFile ?? throw new InvalidOperationException("The cluster has not started.");

    /// <summary><c>RabbitMq:ClusterNodes</c> listing <paramref name="first"/> first, then the others in order: the node a client connects to first.</summary>
    /// <param name="first">The node listed first.</param>
    /// <param name="tls">The nodes' TLS ports instead of their plain ones.</param>
    public string ClusterNodesSetting(ClusterNode first, bool tls = false) =>
        string.Join(',', Nodes.Where(n => n == first).Concat(Nodes.Where(n => n != first)).Select(n => tls ? n.TlsAddress : n.Address));

    public async Task InitializeAsync()
    {
        if (!IsInstalled)
        {
            throw new InvalidOperationException("The cluster tests need rabbitmq-server (apt-get install -y rabbitmq-server; ./test.sh installs it).");
        }

        var clock = Stopwatch.StartNew();
        LabHost[]? places = null;
        if (UsesNetworkLab)
        {
            if (await NetworkLab.UnavailableReason() is { } reason)
            {
                // The tests that need it are skipped with this reason (NetworkLabFactAttribute); nothing to start.
                Unavailable = reason;
                return;
            }

            Lab = await NetworkLab.CreateAsync();
            places = [await Lab.AddHostAsync("n1"), await Lab.AddHostAsync("n2"), await Lab.AddHostAsync("n3")];
        }

        var run = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        var names = Enumerable.Range(1, 3).Select(i => $"akidb-c{i}-{run}@{(places is null ? "localhost" : places[i - 1].Address)}").ToArray();
        // In a namespace of its own each node has the machine's default ports (and its own epmd) to itself.
        var ports = places is null ? FreePorts(1 + 3 * 4) : [4369, .. Enumerable.Repeat<int[]>([5672, 15672, 25672, 5671], 3).SelectMany(p => p)];
        _epmdPort = ports[0];
        _certificates = await TestCertificates.CreateAsync("cluster");
        var (certificate, key) = await _certificates.IssueServerAsync();
        var home = Directory.CreateDirectory(Path.Combine(_root, "home")).FullName;
        var cookie = Path.Combine(home, ".erlang.cookie");
        await File.WriteAllTextAsync(cookie, Convert.ToHexString(RandomNumberGenerator.GetBytes(20)));
        // Erlang refuses a cookie others can read, and the server script still exits 0 then.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cookie, UnixFileMode.UserRead);
        }
        await File.WriteAllTextAsync(Path.Combine(_root, "empty.env"), "");
        await File.WriteAllTextAsync(Path.Combine(_root, "enabled_plugins"), "[rabbitmq_management].\n");

        Nodes = names.Select((name, i) => CreateNode(name, names, home, ports[1 + 4 * i], ports[2 + 4 * i], ports[3 + 4 * i], ports[4 + 4 * i], certificate, key, places?[i])).ToList();
        await Task.WhenAll(Nodes.Select(n => n.LaunchAsync()));
        await Task.WhenAll(Nodes.Select(n => n.WaitRunningAsync(NodeStartTimeout)));
        await EnsureClusteredAsync();
        Console.WriteLine($"RabbitMQ cluster {string.Join(", ", Nodes.Select(n => $"{n.Name} (amqp {n.AmqpPort})"))} ready in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>The names of the running nodes, as <paramref name="via"/> (by default the first node that runs) sees the cluster.</summary>
    public async Task<IReadOnlyList<string>> RunningNodesAsync(ClusterNode? via = null)
    {
        using var management = new ClusterManagement((via ?? Running).ManagementUrl);
        return await management.RunningNodesAsync();
    }

    /// <summary>A fresh virtual host; virtual hosts are cluster-wide, created through <paramref name="via"/> (by default a node that runs).</summary>
    public async Task<string> CreateVirtualHostAsync(string prefix, ClusterNode? via = null)
    {
        var vhost = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 60)];
        using var management = new ManagementClient((via ?? Running).ManagementUrl);
        await management.CreateVirtualHostAsync(vhost);
        return vhost;
    }

    /// <summary>Starts every node that is not running, so a test that failed half-way leaves the next one a whole cluster.</summary>
    public async Task RestoreAsync()
    {
        foreach (var node in Nodes.Where(n => n.BeamPid is null))
        {
            await node.StartAsync(NodeStartTimeout);
        }

        foreach (var node in Nodes)
        {
            // A node whose application was stopped but whose process lives: start_app is idempotent.
            await node.StartAppAsync();
        }
    }

    public async Task DisposeAsync()
    {
        // The data is thrown away, so a graceful shutdown (about 8 s a node) buys nothing.
        foreach (var node in Nodes)
        {
            await node.KillAsync();
        }

        if (Lab is not null)
        {
            // Each namespace's epmd (and anything else left there) goes with the lab.
            await Lab.DisposeAsync();
        }
        else if (_epmdPort != 0)
        {
            await CliWrap.Cli.Wrap("epmd").WithArguments(["-port", _epmdPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-kill"])
                .WithValidation(CliWrap.CommandResultValidation.None).ExecuteAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }

        _certificates?.Dispose();
    }

    /// <summary>
    /// Peer discovery can, rarely, let two nodes that boot at the same moment each start a cluster of their own; a node
    /// left out is joined by hand, the way an operator would.
    /// </summary>
    private async Task EnsureClusteredAsync()
    {
        var running = await RunningNodesAsync(Nodes[0]);
        foreach (var node in Nodes.Skip(1).Where(n => !running.Contains(n.Name)))
        {
            Console.WriteLine($"Cluster node {node.Name} formed no cluster with {Nodes[0].Name} at boot; joining it by hand");
            await Require(node, "stop_app");
            await Require(node, "reset");
            await Require(node, "join_cluster", Nodes[0].Name);
            await Require(node, "start_app");
        }

        running = await RunningNodesAsync(Nodes[0]);
        if (!Nodes.All(n => running.Contains(n.Name)))
        {
            throw new InvalidOperationException($"The cluster did not form: {Nodes[0].Name} sees {string.Join(", ", running)}");
        }
    }

    private static async Task Require(ClusterNode node, params string[] arguments)
    {
        var result = await node.CtlAsync(TimeSpan.FromMinutes(2), arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl -n {node.Name} {string.Join(' ', arguments)} failed: {result.StandardError.Trim()}");
        }
    }

    private ClusterNode CreateNode(string name, string[] peers, string home, int amqpPort, int managementPort, int distPort, int amqpsPort, string certificate, string key, LabHost? place)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_root, name.Split('@')[0])).FullName;
        var host = place?.Address ?? "127.0.0.1";
        File.WriteAllLines(Path.Combine(directory, "rabbitmq.conf"),
        [
            $"management.tcp.port = {managementPort}",
            $"management.tcp.ip = {host}",
            .. place is null ? Array.Empty<string>() :
            [
                // Clients (the test, the worker, the CLI) come over the lab's bridge, not loopback.
                "loopback_users = none",
                // A node cut off from the other two pauses (closes its clients' connections) rather than serve a split half.
                "cluster_partition_handling = pause_minority",
                // A frozen or cut-off node blocks the cluster's metadata changes (a queue or exchange declared, as every
                // reconnecting client does) until its peers call it down: after net_ticktime (default 60 s, so up to
                // 75 s). 20 s bounds that to 15-25 s; docs/operations.md says why a cluster for this worker wants it.
                "net_ticktime = 20",
            ],
            "disk_free_limit.absolute = 50MB",
            "log.console = false",
            "collect_statistics_interval = 1000",
            "cluster_formation.peer_discovery_backend = classic_config",
            .. peers.Select((peer, i) => $"cluster_formation.classic_config.nodes.{i + 1} = {peer}"),
            // The default waits up to a minute at first boot; three nodes started together need no spreading out.
            "cluster_formation.randomized_startup_delay_range.min = 0",
            "cluster_formation.randomized_startup_delay_range.max = 2",
            $"listeners.ssl.default = {host}:{amqpsPort}",
            $"ssl_options.cacertfile = {CaFile}",
            $"ssl_options.certfile = {certificate}",
            $"ssl_options.keyfile = {key}",
            "ssl_options.verify = verify_none",
        ]);
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = home,
            ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(_root, "empty.env"),
            ["RABBITMQ_NODENAME"] = name,
            ["RABBITMQ_USE_LONGNAME"] = place is null ? null : "true",
            ["RABBITMQ_NODE_IP_ADDRESS"] = host,
            ["RABBITMQ_NODE_PORT"] = amqpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ERL_EPMD_PORT"] = _epmdPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ERL_EPMD_ADDRESS"] = place is null ? "127.0.0.1" : null,
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(directory, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(directory, "rabbitmq.pid"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_root, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(directory, "rabbitmq.conf"),
            // Without these two the machine's /etc/rabbitmq/conf.d and advanced.config would be read too.
            ["RABBITMQ_CONFIG_FILES"] = Path.Combine(directory, "conf.d", "none.conf"),
            ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(directory, "advanced.config"),
            // Distribution on loopback only; no busy-waiting schedulers on a machine the tests share with workers.
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = (place is null ? "-kernel inet_dist_use_interface {127,0,0,1} " : "") + "+sbwt none +sbwtdcpu none +sbwtdio none",
            // Inherited settings of a CI job must not leak into the nodes.
            ["RABBITMQ_NODENAME_SUFFIX"] = null,
            ["ERL_FLAGS"] = null,
            ["ERL_LIBS"] = null,
        };
        return new ClusterNode(name, directory, amqpPort, managementPort, environment, place) { AmqpsPort = amqpsPort };
    }

    /// <summary>
    /// Free loopback ports below the ephemeral range (32768+), so an outgoing connection cannot take one between this
    /// pick and the node's bind; rabbitmqctl's own 35672-35682 are above it too.
    /// </summary>
    private static int[] FreePorts(int count)
    {
        var picked = new HashSet<int>();
        while (picked.Count < count)
        {
            var port = RandomNumberGenerator.GetInt32(20000, 32768);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                picked.Add(port);
            }
            catch (SocketException)
            {
            }
        }

        return [.. picked];
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<RabbitMqCluster>
{
    public const string Name = "rabbitmq-cluster";
}
