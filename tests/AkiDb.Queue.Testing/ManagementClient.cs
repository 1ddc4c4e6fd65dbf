using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.Testing;

/// <summary>The RabbitMQ management HTTP API: what a person sees in the management UI, read by the tests.</summary>
public sealed class ManagementClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _user;

    public ManagementClient(string managementUrl, string user = "guest", string password = "guest")
    {
        _user = user;
        _http = new HttpClient { BaseAddress = new Uri(managementUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    public async Task CreateVirtualHostAsync(string vhost)
    {
        var name = Uri.EscapeDataString(vhost);
        (await _http.PutAsync($"api/vhosts/{name}", null)).EnsureSuccessStatusCode();
        (await _http.PutAsJsonAsync($"api/permissions/{name}/{Uri.EscapeDataString(_user)}", new { configure = ".*", write = ".*", read = ".*" })).EnsureSuccessStatusCode();
    }

    /// <summary>True once the management API answers (the broker is up and its plugin started).</summary>
    public async Task<bool> AnswersAsync()
    {
        try
        {
            using var response = await _http.GetAsync("api/overview");
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>"RabbitMQ 3.10.8 on Erlang 25.2.3", for reports.</summary>
    public async Task<string> DescribeBrokerAsync()
    {
        try
        {
            using var overview = JsonDocument.Parse(await _http.GetStringAsync("api/overview"));
            var root = overview.RootElement;
            return $"RabbitMQ {root.GetProperty("rabbitmq_version").GetString()} on Erlang {root.GetProperty("erlang_version").GetString()}";
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException)
        {
            return $"RabbitMQ (version unknown: {e.Message})";
        }
    }

    public async Task DeleteVirtualHostAsync(string vhost) =>
        await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}");

    /// <summary>A queue's state, or null if it does not exist.</summary>
    public async Task<QueueInfo?> GetQueueAsync(string vhost, string queue)
    {
        var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}");
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        int Int(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;
        return new QueueInfo(Int("messages"), Int("messages_ready"), Int("messages_unacknowledged"), Int("consumers"),
            root.TryGetProperty("arguments", out var args) ? args.ToString() : "{}", root.TryGetProperty("type", out var type) ? type.GetString() ?? "" : "");
    }

    /// <summary>Polls until the queue satisfies the condition or the timeout passes; returns the last state seen.</summary>
    public async Task<QueueInfo?> WaitForQueueAsync(string vhost, string queue, Func<QueueInfo, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        QueueInfo? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await GetQueueAsync(vhost, queue);
            if (last is not null && condition(last))
            {
                return last;
            }

            // Statistics refresh on the broker's own interval; this is polling for a state, not waiting out a race.
            await Task.Delay(250);
        }

        return last;
    }

    /// <summary>
    /// A broker user with permissions on one virtual host only (no tags: no management access). A null password
    /// makes a user that can log in only by client certificate (EXTERNAL).
    /// </summary>
    public async Task CreateUserAsync(string user, string? password, string vhost, string configure = ".*", string write = ".*", string read = ".*")
    {
        var name = Uri.EscapeDataString(user);
        (await _http.PutAsJsonAsync($"api/users/{name}", password is null ? new { password_hash = "", tags = "" } : (object)new { password, tags = "" })).EnsureSuccessStatusCode();
        (await _http.PutAsJsonAsync($"api/permissions/{Uri.EscapeDataString(vhost)}/{name}", new { configure, write, read })).EnsureSuccessStatusCode();
    }

    /// <summary>The open client connections: user, auth mechanism, TLS, client-provided name.</summary>
    public async Task<IReadOnlyList<ConnectionInfo>> ConnectionsAsync()
    {
        using var json = JsonDocument.Parse(await _http.GetStringAsync("api/connections"));
        string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        return json.RootElement.EnumerateArray().Select(c => new ConnectionInfo(Text(c, "user"), Text(c, "vhost"), Text(c, "auth_mechanism"),
            c.TryGetProperty("ssl", out var ssl) && ssl.ValueKind == JsonValueKind.True,
            c.TryGetProperty("client_properties", out var props) ? Text(props, "connection_name") : "")).ToList();
    }

    /// <summary>Polls until the open connections satisfy the condition (the API lists a connection once its first statistics arrive) or the timeout passes; returns the last list.</summary>
    public async Task<IReadOnlyList<ConnectionInfo>> WaitForConnectionsAsync(Func<IReadOnlyList<ConnectionInfo>, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<ConnectionInfo> last = [];
        while (DateTime.UtcNow < deadline)
        {
            last = await ConnectionsAsync();
            if (condition(last))
            {
                return last;
            }

            // Statistics refresh on the broker's own interval; this is polling for a state, not waiting out a race.
            await Task.Delay(250);
        }

        return last;
    }

    public void Dispose() => _http.Dispose();
}

public sealed record ConnectionInfo(string User, string Vhost, string AuthMechanism, bool Tls, string Name);

public sealed record QueueInfo(int Messages, int Ready, int Unacknowledged, int Consumers, string Arguments, string Type);
