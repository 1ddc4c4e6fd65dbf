using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.EndToEnd;

/// <summary>
/// The broker the end-to-end scenarios run against: a private one started with scripts/rabbitmq-private.sh (auto
/// ports, data under .artifacts/bench/broker, stopped at the end), or the one in AKIDB_BENCH_RABBITMQ_URL with its
/// management API in AKIDB_BENCH_RABBITMQ_MANAGEMENT_URL. Each scenario gets a fresh virtual host.
/// </summary>
internal sealed class Broker : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _amqp;
    private readonly string? _directory;

    private Broker(string amqpUrl, string managementUrl, string? directory)
    {
        _amqp = new Uri(amqpUrl);
        _directory = directory;
        var (user, password) = Credentials(_amqp);
        _http = new HttpClient { BaseAddress = new Uri(managementUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    public bool Private => _directory is not null;

    public string Description { get; private set; } = "";

    /// <summary>The Erlang VM of a private broker, for its CPU time; null for an external broker.</summary>
    public int? BeamPid
    {
        get
        {
            var file = _directory is null ? null : Path.Combine(_directory, "run", "rabbitmq.pid");
            return file is not null && File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
    }

    public static async Task<Broker> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("AKIDB_BENCH_RABBITMQ_URL") is { Length: > 0 } url)
        {
            var management = Environment.GetEnvironmentVariable("AKIDB_BENCH_RABBITMQ_MANAGEMENT_URL") is { Length: > 0 } m
                ? m
                : throw new InvalidOperationException("AKIDB_BENCH_RABBITMQ_URL is set but AKIDB_BENCH_RABBITMQ_MANAGEMENT_URL is not: the benchmark creates a virtual host per scenario through the management API.");
            Log.Info($"Using the broker in AKIDB_BENCH_RABBITMQ_URL ({Redact(url)}), management API {management}");
            var external = new Broker(url, management, null);
            await external.DescribeAsync();
            return external;
        }

        var directory = Path.Combine(Paths.Artifacts, "broker");
        Log.Info($"Starting a private RabbitMQ (data in {Path.GetRelativePath(Paths.Root, directory)}, auto ports)");
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = await RunScriptAsync("start", directory, "--amqp-port", "auto", "--mgmt-port", "auto", "--timeout", "120");
        if (code != 0)
        {
            throw new InvalidOperationException($"The private broker did not start (exit {code}): {stderr}");
        }

        string Value(string key) => stdout.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];
        var broker = new Broker(Value("AMQP_URL"), Value("MANAGEMENT_URL"), directory);
        await broker.DescribeAsync();
        Log.Info($"Private RabbitMQ ready in {clock.Elapsed.TotalSeconds:F1} s: {broker.Description}");
        return broker;
    }

    /// <summary>The AMQP URL of a virtual host on this broker.</summary>
    public string UrlFor(string vhost) => new UriBuilder(_amqp) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri.AbsoluteUri;

    public async Task CreateVirtualHostAsync(string vhost)
    {
        var name = Uri.EscapeDataString(vhost);
        (await _http.PutAsync($"api/vhosts/{name}", null)).EnsureSuccessStatusCode();
        var (user, _) = Credentials(_amqp);
        (await _http.PutAsJsonAsync($"api/permissions/{name}/{Uri.EscapeDataString(user)}", new { configure = ".*", write = ".*", read = ".*" })).EnsureSuccessStatusCode();
    }

    public async Task DeleteVirtualHostAsync(string vhost)
    {
        using var response = await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}");
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (_directory is not null)
        {
            Log.Info("Stopping the private RabbitMQ");
            var (code, _, stderr) = await RunScriptAsync("stop", _directory);
            if (code != 0)
            {
                Log.Info($"Stopping the private broker failed (exit {code}): {stderr}");
            }
        }
    }

    private async Task DescribeAsync()
    {
        try
        {
            using var overview = JsonDocument.Parse(await _http.GetStringAsync("api/overview"));
            var root = overview.RootElement;
            Description = $"RabbitMQ {root.GetProperty("rabbitmq_version").GetString()} on Erlang {root.GetProperty("erlang_version").GetString()}" +
                          (Private ? ", private broker started by the benchmark" : ", external broker");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException)
        {
            Description = $"RabbitMQ (version unknown: {e.Message})";
        }
    }

    private static (string User, string Password) Credentials(Uri amqp)
    {
        var parts = amqp.UserInfo.Split(':', 2);
        return parts.Length == 2 && parts[0].Length > 0
            ? (Uri.UnescapeDataString(parts[0]), Uri.UnescapeDataString(parts[1]))
            : ("guest", "guest");
    }

    private static string Redact(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.UserInfo.Contains(':', StringComparison.Ordinal)
        ? url.Replace(uri.UserInfo, uri.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
        : url;

    private static async Task<(int Code, string Stdout, string Stderr)> RunScriptAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Paths.RabbitScript);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
