using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CliWrap;
using StackExchange.Redis;

namespace AkiDb.Queue.Testing;

/// <summary>
/// A real redis-server (from apt) of the test's own, on a free loopback port, with no persistence: started, killed
/// and restarted on the same port by the tests and the benchmark that need a shared cache level or a Redis that goes away.
/// </summary>
public sealed class PrivateRedis : IAsyncDisposable
{
    private readonly string _directory;
    private readonly TestCertificates? _certificates;
    private (string Certificate, string Key)? _serverCertificate;
    private ConnectionMultiplexer? _client;

    private PrivateRedis(int port, string directory, TestCertificates? certificates, string? password)
    {
        Port = port;
        _directory = directory;
        _certificates = certificates;
        Password = password;
    }

    public int Port { get; }

    /// <summary>The password it requires (<c>--requirepass</c>), if any.</summary>
    public string? Password { get; }

    /// <summary>The CA that signed its TLS certificate (PEM), when it serves TLS only.</summary>
    public string? CaFile => _certificates?.CaFile;

    /// <summary>The StackExchange.Redis configuration string a worker gets as Cache:Redis.</summary>
    public string Configuration =>
        $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}" + (Password is null ? "" : $",password={Password}") + (_certificates is null ? "" : ",ssl=true");

    public int? Pid { get; private set; }

    public static bool IsInstalled => File.Exists("/usr/bin/redis-server");

    /// <param name="tls">Serve TLS only (<c>--port 0 --tls-port</c>), with a certificate from a CA made for it (<see cref="CaFile"/>).</param>
    /// <param name="password">Require this password (<c>--requirepass</c>).</param>
    public static async Task<PrivateRedis> StartAsync(bool tls = false, string? password = null)
    {
        if (!IsInstalled)
        {
            throw new InvalidOperationException("redis-server is not installed: ./test.sh installs it (apt-get install redis-server).");
        }

        var directory = Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "redis", Guid.NewGuid().ToString("N")[..12])).FullName;
        var certificates = tls ? await TestCertificates.CreateAsync("redis") : null;
        var redis = new PrivateRedis(FreePort(), directory, certificates, password);
        if (certificates is not null)
        {
            redis._serverCertificate = await certificates.IssueServerAsync();
        }

        await redis.StartServerAsync();
        return redis;
    }

    /// <summary>Starts the server again on the same port, empty (nothing is persisted), after <see cref="Kill"/>.</summary>
    public Task RestartAsync() => StartServerAsync();

    /// <summary>kill -9: the connection drops with no goodbye, as when a Redis node dies.</summary>
    public void Kill()
    {
        if (Pid is { } pid)
        {
            Signals.Send(pid, Signals.Kill);
            Pid = null;
        }
    }

    /// <summary>A client of the test's own, for looking at and changing what the workers stored.</summary>
    public async Task<IDatabase> DatabaseAsync()
    {
        if (_client is null)
        {
            var options = ConfigurationOptions.Parse($"{Configuration},allowAdmin=true");
            if (CaFile is not null)
            {
                options.TrustIssuer(CaFile);
            }

            _client = await ConnectionMultiplexer.ConnectAsync(options);
        }

        return _client.GetDatabase();
    }

    public async Task<long> CountKeysAsync()
    {
        var db = await DatabaseAsync();
        return (long)await db.ExecuteAsync("DBSIZE");
    }

    public async Task<IReadOnlyList<string>> KeysAsync(string pattern = "*")
    {
        var db = await DatabaseAsync();
        var result = await db.ExecuteAsync("KEYS", pattern);
        return ((RedisResult[])result!).Select(k => (string)k!).ToList();
    }

    /// <summary>Empties it (between benchmark phases).</summary>
    public async Task FlushAsync() => await (await DatabaseAsync()).ExecuteAsync("FLUSHALL");

    /// <summary>Keys stored and the server's <c>used_memory</c>, for sizing: bytes per cached vector.</summary>
    public async Task<(long Keys, long UsedBytes)> MemoryAsync()
    {
        var db = await DatabaseAsync();
        var keys = (long)await db.ExecuteAsync("DBSIZE");
        var info = (string)(await db.ExecuteAsync("INFO", "memory"))!;
        var used = info.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("used_memory:", StringComparison.Ordinal))["used_memory:".Length..];
        return (keys, long.Parse(used, CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        Kill();
        _certificates?.Dispose();
    }

    private async Task StartServerAsync()
    {
        var pidFile = Path.Combine(_directory, "redis.pid");
        File.Delete(pidFile);
        // --daemonize: the server detaches into its own session, so it outlives nothing but its kill; the pid file says which process it is.
        var port = Port.ToString(CultureInfo.InvariantCulture);
        List<string> arguments = _serverCertificate is { } server
            ? ["--port", "0", "--tls-port", port, "--tls-cert-file", server.Certificate, "--tls-key-file", server.Key, "--tls-ca-cert-file", _certificates!.CaFile, "--tls-auth-clients", "no"]
            : ["--port", port];
        if (Password is not null)
        {
            arguments.AddRange(["--requirepass", Password]);
        }

        await Cli.Wrap("/usr/bin/redis-server")
            .WithArguments([.. arguments, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", _directory, "--daemonize", "yes", "--pidfile", pidFile, "--logfile", Path.Combine(_directory, "redis.log")])
            .ExecuteAsync();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // A TLS or password-protected server does not answer a bare PING: there the listening port is the sign of life.
        while (!File.Exists(pidFile) || !(_serverCertificate is null && Password is null ? await AnswersPingAsync() : await FreePorts.AcceptsAsync(Port)))
        {
            await Task.Delay(50, cts.Token); // polling the port until the server answers: what is awaited is its readiness
        }

        Pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
