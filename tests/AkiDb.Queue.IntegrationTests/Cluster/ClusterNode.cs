using System.Diagnostics;
using CliWrap;
using CliWrap.Buffered;

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

    internal ClusterNode(string name, string directory, int amqpPort, int managementPort, IReadOnlyDictionary<string, string?> environment)
    {
        Name = name;
        Directory = directory;
        AmqpPort = amqpPort;
        ManagementPort = managementPort;
        _environment = environment;
    }

    /// <summary>The Erlang node name, e.g. <c>akidb-c1-1a2b3c@localhost</c>.</summary>
    public string Name { get; }

    public string Directory { get; }

    public int AmqpPort { get; }

    public int ManagementPort { get; }

    /// <summary><c>host:port</c>, as <c>RabbitMq:ClusterNodes</c> lists it.</summary>
    public string Address => $"127.0.0.1:{AmqpPort}";

    /// <summary>The node's AMQPS (TLS) port.</summary>
    public int AmqpsPort { get; init; }

    /// <summary><c>host:port</c> of the TLS listener, as <c>RabbitMq:ClusterNodes</c> lists it for an <c>amqps://</c> URL.</summary>
    public string TlsAddress => $"127.0.0.1:{AmqpsPort}";

    /// <summary>The node's amqps URL for a virtual host, as guest (or the given user info).</summary>
    public string AmqpsUrl(string vhost, string userInfo = "guest:guest") => $"amqps://{userInfo}@127.0.0.1:{AmqpsPort}/{Uri.EscapeDataString(vhost)}";

    public string ManagementUrl => $"http://127.0.0.1:{ManagementPort}/";

    public string AmqpUrl(string vhost) => $"amqp://guest:guest@127.0.0.1:{AmqpPort}/{Uri.EscapeDataString(vhost)}";

    private string PidFile => Path.Combine(Directory, "rabbitmq.pid");

    /// <summary>The node's beam process, from RabbitMQ's own pid file; null when it is not running.</summary>
    public int? BeamPid =>
        File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), out var pid) && AkiDb.Queue.Testing.Signals.IsAlive(pid) ? pid : null;

    /// <summary>Launches the server in its own session (it outlives nothing but the test run) without waiting for it.</summary>
    internal async Task LaunchAsync()
    {
        File.Delete(PidFile);
        // setsid: its own session, so the node is not tied to this process's terminal or process group.
        await Cli.Wrap("bash")
            .WithArguments(["-c", "setsid \"$0\" >>\"$1\" 2>&1 </dev/null &", Path.Combine(Sbin, "rabbitmq-server"), Path.Combine(Directory, "console.log")])
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
        return await Cli.Wrap(Path.Combine(Sbin, "rabbitmqctl"))
            .WithArguments(["-n", Name, .. arguments])
            .WithEnvironmentVariables(_environment)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(cts.Token);
    }

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
