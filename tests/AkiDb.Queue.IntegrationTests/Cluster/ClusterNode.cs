using System.Diagnostics;
using CliWrap;
using CliWrap.Buffered;
using AkiDb.Queue.Testing.Network;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// One node of the test cluster: its own name, ports and data directory, and the cookie, epmd port and peer list it
/// shares with the others (see <see cref="RabbitMqCluster"/>). The process is started and signalled directly, so a test
/// can do to it what happens to a real node: the application stopped, the machine gone (kill -9), a restart.
/// </summary>
public sealed class ClusterNode
{
    private const string Sbin = "/usr/lib/rabbitmq/bin";
    private readonly IReadOnlyDictionary<string, string?> _environment;

    internal ClusterNode(string name, string directory, int amqpPort, int managementPort, IReadOnlyDictionary<string, string?> environment, LabHost? place = null)
    {
        Name = name;
        Place = place;
        Host = place?.Address ?? "127.0.0.1";
        Directory = directory;
        AmqpPort = amqpPort;
        ManagementPort = managementPort;
        _environment = environment;
    }

    /// <summary>The Erlang node name, e.g. <c>akidb-c1-1a2b3c@localhost</c> (<c>@10.213.N.M</c>, a long name, in a network lab).</summary>
    public string Name { get; }

    public string Directory { get; }

    public int AmqpPort { get; }

    public int ManagementPort { get; }

    /// <summary>The address the node listens on: loopback, or its own network namespace's address in a <see cref="NetworkLab"/>.</summary>
    public string Host { get; }

    /// <summary>The node's network namespace when the cluster runs in a <see cref="NetworkLab"/>; null on loopback.</summary>
    public LabHost? Place { get; }

    /// <summary><c>host:port</c>, as <c>RabbitMq:ClusterNodes</c> lists it.</summary>
    public string Address => $"{Host}:{AmqpPort}";

    /// <summary>The node's AMQPS (TLS) port.</summary>
    public int AmqpsPort { get; init; }

    /// <summary><c>host:port</c> of the TLS listener, as <c>RabbitMq:ClusterNodes</c> lists it for an <c>amqps://</c> URL.</summary>
    public string TlsAddress => $"{Host}:{AmqpsPort}";

    /// <summary>The node's amqps URL for a virtual host, as guest (or the given user info).</summary>
    public string AmqpsUrl(string vhost, string userInfo = "guest:guest") => $"amqps://{userInfo}@{Host}:{AmqpsPort}/{Uri.EscapeDataString(vhost)}";

    public string ManagementUrl => $"http://{Host}:{ManagementPort}/";

    public string AmqpUrl(string vhost) => $"amqp://guest:guest@{Host}:{AmqpPort}/{Uri.EscapeDataString(vhost)}";

    private string PidFile => Path.Combine(Directory, "rabbitmq.pid");

    /// <summary>The node's beam process, from RabbitMQ's own pid file; null when it is not running.</summary>
    public int? BeamPid =>
        File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), out var pid) && AkiDb.Queue.Testing.Signals.IsAlive(pid) ? pid : null;

    /// <summary>Launches the server in its own session (it outlives nothing but the test run) without waiting for it.</summary>
    internal async Task LaunchAsync()
    {
        File.Delete(PidFile);
        // setsid: its own session, so the node is not tied to this process's terminal or process group.
        await InPlace("bash", ["-c", "setsid \"$0\" >>\"$1\" 2>&1 </dev/null &", Path.Combine(Sbin, "rabbitmq-server"), Path.Combine(Directory, "console.log")])
            .WithEnvironmentVariables(_environment)
            .ExecuteBufferedAsync();
    }

    /// <summary>Waits until the node's application runs (rabbitmqctl wait: the pid file, then the boot).</summary>
    internal async Task WaitRunningAsync(TimeSpan timeout)
    {
        var result = await CtlAsync(timeout + TimeSpan.FromSeconds(10), "wait", PidFile, "--timeout", ((int)timeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (result.ExitCode != 0)
        {
            var log = Path.Combine(Directory, "console.log");
            var tail = File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "(no console log)";
            throw new InvalidOperationException($"Cluster node {Name} did not start within {timeout}: {result.StandardError.Trim()}\n{tail}");
        }
    }

    /// <summary>Starts the node again on its data directory: it rejoins the cluster it belonged to.</summary>
    public async Task StartAsync(TimeSpan timeout)
    {
        await LaunchAsync();
        await WaitRunningAsync(timeout);
    }

    /// <summary><c>rabbitmqctl stop_app</c>: the broker closes its client connections and leaves the cluster running without it.</summary>
    public async Task StopAppAsync() => await RequireAsync("stop_app");

    public async Task StartAppAsync() => await RequireAsync("start_app");

    /// <summary>
    /// SIGSTOP of the node's process: what a long garbage collection or a paused virtual machine looks like from outside.
    /// Its TCP connections stay open and say nothing; its peers and clients see it only through heartbeats and timeouts.
    /// </summary>
    public void Freeze() => AkiDb.Queue.Testing.Signals.Send(BeamPid ?? throw new InvalidOperationException($"Cluster node {Name} is not running."), AkiDb.Queue.Testing.Signals.Stop);

    /// <summary>SIGCONT: the frozen node carries on where it stopped.</summary>
    public void Resume() => AkiDb.Queue.Testing.Signals.Send(BeamPid ?? throw new InvalidOperationException($"Cluster node {Name} is not running."), AkiDb.Queue.Testing.Signals.Cont);

    /// <summary>
    /// <c>rabbitmqctl shutdown</c> (a clean stop: clients are told, quorum queues hand over leadership), then a start on
    /// the same data: one step of a rolling restart. Returns once the node runs again.
    /// </summary>
    public async Task RestartAsync(TimeSpan timeout)
    {
        await RequireAsync("shutdown");
        await StartAsync(timeout);
    }

    /// <summary>
    /// Polls until the node no longer accepts AMQP connections while its process lives: a node in the minority of a
    /// partition that paused itself (<c>pause_minority</c>). False after <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> WaitPausedAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await client.ConnectAsync(Host, AmqpPort, attempt.Token);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
            {
                if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused } && BeamPid is not null)
                {
                    return true;
                }
            }

            // Polling the node's listener, bounded by the timeout.
            await Task.Delay(250);
        }

        return false;
    }

    /// <summary><c>kill -9</c> of the node's process, as when its machine is lost; returns once the process is gone.</summary>
    public async Task KillAsync()
    {
        if (BeamPid is not { } pid)
        {
            return;
        }

        AkiDb.Queue.Testing.Signals.Send(pid, AkiDb.Queue.Testing.Signals.Kill);
        var clock = Stopwatch.StartNew();
        while (AkiDb.Queue.Testing.Signals.IsAlive(pid))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"Cluster node {Name} (pid {pid}) is still alive 30 s after kill -9.");
            }

            // Polling for the process to be reaped, not waiting out a race.
            await Task.Delay(50);
        }
    }

    internal async Task<BufferedCommandResult> CtlAsync(TimeSpan timeout, params string[] arguments)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await InPlace(Path.Combine(Sbin, "rabbitmqctl"), ["-n", Name, .. arguments])
            .WithEnvironmentVariables(_environment)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(cts.Token);
    }

    /// <summary>A command run where the node runs: in its network namespace, when it has one.</summary>
    private Command InPlace(string program, string[] arguments) =>
        Place is { } place ? NetworkLab.Exec(place, program, arguments) : Cli.Wrap(program).WithArguments(arguments);

    private async Task RequireAsync(params string[] arguments)
    {
        var result = await CtlAsync(TimeSpan.FromMinutes(2), arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl -n {Name} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.StandardError.Trim()}");
        }
    }

    public override string ToString() => Name;
}
