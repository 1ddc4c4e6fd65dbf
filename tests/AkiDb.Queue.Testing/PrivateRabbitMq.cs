using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.Testing;

/// <summary>
/// A private rabbitmq-server process on free loopback ports, with its own data directory, private HOME and Erlang
/// cookie, and its own epmd (docs: /work/shared/notes/environment.md). It lives as long as this object: Stop and
/// Start again on the same object keep its ports, durable queues and persistent messages; disposing stops it, stops
/// its epmd and deletes the directory it created.
/// </summary>
public sealed class PrivateRabbitMq : IAsyncDisposable
{
    // The real scripts, not the /usr/sbin wrappers: those switch to the rabbitmq user when run as root, which changes
    // HOME and so the Erlang cookie, and the CLI could no longer reach the node.
    private const string Sbin = "/usr/lib/rabbitmq/bin";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private readonly bool _ownsDirectory;
    private readonly string _node;
    private readonly int _amqpPort;
    private readonly int _managementPort;
    private readonly int _distPort;
    private readonly int _epmdPort;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly PrivateRabbitMqTls? _tls;
    private Process? _server;

    private PrivateRabbitMq(string directory, bool ownsDirectory, string name, PrivateRabbitMqTls? tls = null)
    {
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        _tls = tls;
        _node = $"akidb-{new string(name.Where(char.IsAsciiLetterOrDigit).Take(20).ToArray())}-{Environment.ProcessId}@localhost";
        (_amqpPort, _managementPort, _distPort, _epmdPort) = FreePorts.Take(4) switch { var p => (p[0], p[1], p[2], p[3]) };
    }

    public string Directory { get; }

    /// <summary>The AMQP URL; <c>amqps://</c> when the broker serves TLS only.</summary>
    public string AmqpUrl => _tls is null ? $"amqp://guest:guest@127.0.0.1:{_amqpPort}/" : $"amqps://guest:guest@127.0.0.1:{_amqpPort}/";

    public int AmqpPort => _amqpPort;

    public string ManagementUrl => $"http://127.0.0.1:{_managementPort}/";

    /// <summary>The Erlang VM's pid while the broker runs (for its CPU time), from the pid file the broker writes.</summary>
    public int? BeamPid => File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), CultureInfo.InvariantCulture, out var pid) ? pid : null;

    public static bool IsInstalled => File.Exists(Path.Combine(Sbin, "rabbitmq-server"));

    private string PidFile => Path.Combine(Directory, "run", "rabbitmq.pid");

    /// <param name="directory">Where its data lives; a fresh temporary directory, deleted at the end, when null.</param>
    /// <param name="tls">Serve AMQP over TLS only (no plain listener), with these certificates; EXTERNAL logins by client certificate accepted.</param>
    public static async Task<PrivateRabbitMq> StartNewAsync(string name, string? directory = null, PrivateRabbitMqTls? tls = null)
    {
        var broker = directory is null
            ? new PrivateRabbitMq(System.IO.Directory.CreateTempSubdirectory($"akidb-broker-{name}-").FullName, ownsDirectory: true, name, tls)
            : new PrivateRabbitMq(System.IO.Directory.CreateDirectory(directory).FullName, ownsDirectory: false, name, tls);
        try
        {
            await broker.StartAsync();
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the broker (again) on the same data directory and ports, and waits until AMQP and the management API answer.</summary>
    public async Task StartAsync()
    {
        var started = Stopwatch.StartNew();
        WriteFiles();
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(Sbin, "rabbitmq-server"));
        foreach (var (key, value) in NodeEnvironment())
        {
            start.Environment[key] = value;
        }

        // Nothing of the caller's RabbitMQ or Erlang settings may leak into this node.
        foreach (var key in start.Environment.Keys.Where(k => (k.StartsWith("RABBITMQ_", StringComparison.Ordinal) || k.StartsWith("ERL_", StringComparison.Ordinal)) && !NodeEnvironment().ContainsKey(k)).ToList())
        {
            start.Environment.Remove(key);
        }

        _output.Clear();
        _server = Process.Start(start) ?? throw new InvalidOperationException("setsid rabbitmq-server did not start.");
        _server.OutputDataReceived += (_, e) => Keep(e.Data);
        _server.ErrorDataReceived += (_, e) => Keep(e.Data);
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();

        // A cookie with the wrong mode makes the server fail while its script exits 0: readiness, not exit codes.
        using var management = new ManagementClient(ManagementUrl);
        while (!(await FreePorts.AcceptsAsync(_amqpPort) && await management.AnswersAsync()))
        {
            if (_server.HasExited || started.Elapsed > StartTimeout)
            {
                var why = _server.HasExited ? $"exited with code {_server.ExitCode}" : $"did not answer within {StartTimeout.TotalSeconds:F0} s";
                await StopAsync();
                throw new InvalidOperationException($"The private broker {why}: {string.Join('\n', _output.TakeLast(20))}\n{LogTail()}");
            }

            // Polling for a state the broker reaches by itself, not waiting out a race.
            await Task.Delay(250);
        }

        Console.WriteLine($"Private RabbitMQ at {AmqpUrl} ready in {started.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Stops the node (a clean shutdown, keeping its data), then its epmd.</summary>
    public async Task StopAsync()
    {
        if (_server is { HasExited: false } server)
        {
            var shutdown = await Ctl("shutdown").ExecuteBufferedAsync();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await server.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine($"The private broker did not stop ({shutdown.StandardError.Trim()}); killing it");
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }

        _server?.Dispose();
        _server = null;
        // epmd outlives the broker; it refuses -kill while a node is still registered, which is what we want.
        var epmd = File.Exists("/usr/bin/epmd") ? "/usr/bin/epmd" : "epmd";
        await Cli.Wrap(epmd).WithArguments(["-port", _epmdPort.ToString(CultureInfo.InvariantCulture), "-kill"])
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsDirectory)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Runs <c>rabbitmqctl</c> against this node (e.g. a memory alarm: <c>set_vm_memory_high_watermark absolute 1</c>).</summary>
    public async Task<BufferedCommandResult> RabbitMqCtlAsync(params string[] arguments) =>
        await Ctl(arguments).ExecuteBufferedAsync();

    private Command Ctl(params string[] arguments) =>
        Cli.Wrap(Path.Combine(Sbin, "rabbitmqctl")).WithArguments(["-n", _node, .. arguments])
            .WithEnvironmentVariables(NodeEnvironment().ToDictionary(e => e.Key, e => (string?)e.Value))
            .WithValidation(CommandResultValidation.None);

    /// <summary>What the server and every CLI call need, identically (the cookie lives in HOME).</summary>
    private Dictionary<string, string> NodeEnvironment()
    {
        string At(params string[] parts) => Path.Combine([Directory, .. parts]);
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = At("home"),
            ["RABBITMQ_CONF_ENV_FILE"] = At("etc", "rabbitmq-env.conf"),
            ["RABBITMQ_NODENAME"] = _node,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = _amqpPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = _distPort.ToString(CultureInfo.InvariantCulture),
            ["ERL_EPMD_PORT"] = _epmdPort.ToString(CultureInfo.InvariantCulture),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_MNESIA_BASE"] = At("mnesia"),
            ["RABBITMQ_LOG_BASE"] = At("log"),
            ["RABBITMQ_PID_FILE"] = PidFile,
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = At("etc", "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = At("etc", "rabbitmq.conf"),
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        };
        if (_tls is not null)
        {
            // These two make a plain listener, whatever rabbitmq.conf says; a TLS broker's only listener is in rabbitmq.conf.
            environment.Remove("RABBITMQ_NODE_IP_ADDRESS");
            environment.Remove("RABBITMQ_NODE_PORT");
        }

        return environment;
    }

    private void WriteFiles()
    {
        foreach (var dir in new[] { "home", "etc", "log", "run", "mnesia" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, dir));
        }

        var cookie = Path.Combine(Directory, "home", ".erlang.cookie");
        if (!File.Exists(cookie))
        {
            File.WriteAllText(cookie, Convert.ToHexString(RandomNumberGenerator.GetBytes(20)));
        }

        // Erlang refuses a cookie others can read (and rabbitmq-server runs on Unix only).
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cookie, UnixFileMode.UserRead);
        }
        // Empty on purpose: it replaces /etc/rabbitmq/rabbitmq-env.conf.
        File.WriteAllText(Path.Combine(Directory, "etc", "rabbitmq-env.conf"), "");
        File.WriteAllText(Path.Combine(Directory, "etc", "enabled_plugins"), _tls is null ? "[rabbitmq_management].\n" : "[rabbitmq_management,rabbitmq_auth_mechanism_ssl].\n");
        File.WriteAllLines(Path.Combine(Directory, "etc", "rabbitmq.conf"),
        [
            .. _tls?.ConfigLines(_amqpPort) ?? [],
            $"management.tcp.port = {_managementPort}",
            "management.tcp.ip = 127.0.0.1",
            // Test machines are often short on disk, and a disk alarm silently blocks every publisher.
            "disk_free_limit.absolute = 50MB",
            "log.console = false",
            // Queue depths in the management API refresh every second instead of every five: tests wait for counts.
            "collect_statistics_interval = 1000",
        ]);
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 50 && _output.TryDequeue(out _))
        {
        }
    }

    private string LogTail()
    {
        var log = Path.Combine(Directory, "log", $"{_node}.log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "";
    }
}

/// <summary>
/// A TLS-only broker's certificates (<see cref="TestCertificates"/>): the only AMQP listener is <c>amqps</c>. Client
/// certificates are asked for and verified but not required, so password logins and EXTERNAL logins (the
/// certificate's common name is the user) work side by side.
/// </summary>
public sealed record PrivateRabbitMqTls(string CaFile, string CertificateFile, string KeyFile)
{
    internal IEnumerable<string> ConfigLines(int port) =>
    [
        "listeners.tcp = none",
        $"listeners.ssl.default = 127.0.0.1:{port}",
        $"ssl_options.cacertfile = {CaFile}",
        $"ssl_options.certfile = {CertificateFile}",
        $"ssl_options.keyfile = {KeyFile}",
        "ssl_options.verify = verify_peer",
        "ssl_options.fail_if_no_peer_cert = false",
        "ssl_cert_login_from = common_name",
        "auth_mechanisms.1 = PLAIN",
        "auth_mechanisms.2 = AMQPLAIN",
        "auth_mechanisms.3 = EXTERNAL",
    ];
}
