using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// A three-node RabbitMQ cluster on this machine, started once for all cluster tests and removed after them. The nodes
/// share an Erlang cookie and a private epmd port and have their own names, ports and data directories; they find each
/// other at first boot through classic peer discovery (the list of the three names), which forms the cluster without the
/// stop_app / join_cluster / start_app round of each node. Self-contained on purpose: no script, no shared broker.
/// Every node serves AMQP both plain and over TLS (a certificate for localhost and 127.0.0.1 signed by a CA made for
/// the cluster, <see cref="CaFile"/>): the TLS tests use <see cref="ClusterNode.TlsAddress"/>, the others the plain port.
/// </summary>
public sealed class RabbitMqCluster : IAsyncLifetime
{
    public static readonly TimeSpan NodeStartTimeout = TimeSpan.FromMinutes(3);

    private static readonly string Sbin = "/usr/lib/rabbitmq/bin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"akidb-cluster-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
    private int _epmdPort;
    private TestCertificates? _certificates;

    public IReadOnlyList<ClusterNode> Nodes { get; private set; } = [];

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
        var run = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        var names = Enumerable.Range(1, 3).Select(i => $"akidb-c{i}-{run}@localhost").ToArray();
        var ports = FreePorts(1 + 3 * 4);
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

        Nodes = names.Select((name, i) => CreateNode(name, names, home, ports[1 + 4 * i], ports[2 + 4 * i], ports[3 + 4 * i], ports[4 + 4 * i], certificate, key)).ToList();
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

        await CliWrap.Cli.Wrap("epmd").WithArguments(["-port", _epmdPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-kill"])
            .WithValidation(CliWrap.CommandResultValidation.None).ExecuteAsync();
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

    private ClusterNode CreateNode(string name, string[] peers, string home, int amqpPort, int managementPort, int distPort, int amqpsPort, string certificate, string key)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_root, name.Split('@')[0])).FullName;
        File.WriteAllLines(Path.Combine(directory, "rabbitmq.conf"),
        [
            $"management.tcp.port = {managementPort}",
            "management.tcp.ip = 127.0.0.1",
            "disk_free_limit.absolute = 50MB",
            "log.console = false",
            "collect_statistics_interval = 1000",
            "cluster_formation.peer_discovery_backend = classic_config",
            .. peers.Select((peer, i) => $"cluster_formation.classic_config.nodes.{i + 1} = {peer}"),
            // The default waits up to a minute at first boot; three nodes started together need no spreading out.
            "cluster_formation.randomized_startup_delay_range.min = 0",
            "cluster_formation.randomized_startup_delay_range.max = 2",
            $"listeners.ssl.default = 127.0.0.1:{amqpsPort}",
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
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = amqpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ERL_EPMD_PORT"] = _epmdPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(directory, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(directory, "rabbitmq.pid"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_root, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(directory, "rabbitmq.conf"),
            // Without these two the machine's /etc/rabbitmq/conf.d and advanced.config would be read too.
            ["RABBITMQ_CONFIG_FILES"] = Path.Combine(directory, "conf.d", "none.conf"),
            ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(directory, "advanced.config"),
            // Distribution on loopback only; no busy-waiting schedulers on a machine the tests share with workers.
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
            // Inherited settings of a CI job must not leak into the nodes.
            ["RABBITMQ_NODENAME_SUFFIX"] = null,
            ["ERL_FLAGS"] = null,
            ["ERL_LIBS"] = null,
        };
        return new ClusterNode(name, directory, amqpPort, managementPort, environment) { AmqpsPort = amqpsPort };
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
