using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AkiDb.Queue.Bench.Harness;
using StackExchange.Redis;

namespace AkiDb.Queue.Bench.Caching;

/// <summary>A private redis-server (apt) on a free loopback port, no persistence; killed and restarted by the fault scenario.</summary>
internal sealed class BenchRedis : IAsyncDisposable
{
    private readonly string _directory;
    private ConnectionMultiplexer? _admin;

    private BenchRedis(int port, string directory)
    {
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    public int? Pid { get; private set; }

    public string Configuration => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public static async Task<BenchRedis> StartAsync()
    {
        if (!File.Exists("/usr/bin/redis-server"))
        {
            throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server).");
        }

        var directory = Directory.CreateDirectory(Path.Combine(Paths.Artifacts, "redis")).FullName;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var redis = new BenchRedis(port, directory);
        await redis.StartServerAsync();
        return redis;
    }

    public async Task StartServerAsync()
    {
        var pidFile = Path.Combine(_directory, "redis.pid");
        File.Delete(pidFile);
        var start = new ProcessStartInfo("/usr/bin/redis-server") { UseShellExecute = false };
        foreach (var a in new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", _directory, "--daemonize", "yes", "--pidfile", pidFile, "--logfile", Path.Combine(_directory, "redis.log") })
        {
            start.ArgumentList.Add(a);
        }

        using (var process = Process.Start(start)!)
        {
            await process.WaitForExitAsync();
        }

        var clock = Stopwatch.StartNew();
        while (!File.Exists(pidFile) || !Answers())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer within 30 s.");
            }

            await Task.Delay(50); // polling for readiness, not a measurement
        }

        Pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
        Cleanup.Track(Pid.Value);
    }

    public void Kill()
    {
        if (Pid is { } pid)
        {
            Process.GetProcessById(pid).Kill();
            Cleanup.Untrack(pid);
            Pid = null;
        }
    }

    public async Task FlushAsync() => await (await AdminAsync()).GetDatabase().ExecuteAsync("FLUSHALL");

    public async Task<(long Keys, long UsedBytes)> MemoryAsync()
    {
        var db = (await AdminAsync()).GetDatabase();
        var keys = (long)await db.ExecuteAsync("DBSIZE");
        var info = (string)(await db.ExecuteAsync("INFO", "memory"))!;
        var used = info.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("used_memory:", StringComparison.Ordinal))["used_memory:".Length..];
        return (keys, long.Parse(used, CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        Kill();
    }

    private async Task<ConnectionMultiplexer> AdminAsync() =>
        _admin is { IsConnected: true } ? _admin : _admin = await ConnectionMultiplexer.ConnectAsync($"{Configuration},allowAdmin=true");

    private bool Answers()
    {
        try
        {
            using var tcp = new TcpClient();
            tcp.Connect(IPAddress.Loopback, Port);
            var stream = tcp.GetStream();
            stream.Write("PING\r\n"u8);
            var buffer = new byte[16];
            return stream.Read(buffer) > 0 && buffer[0] == (byte)'+';
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
