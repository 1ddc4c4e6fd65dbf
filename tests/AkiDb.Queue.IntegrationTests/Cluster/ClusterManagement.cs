using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>What the management API says about the cluster: which nodes run, which node leads a queue, where a client is connected.</summary>
public sealed class ClusterManagement : IDisposable
{
    private readonly HttpClient _http;

    public ClusterManagement(string managementUrl)
    {
        _http = new HttpClient { BaseAddress = new Uri(managementUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(20) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
    }

    public async Task<IReadOnlyList<string>> RunningNodesAsync()
    {
        using var json = await GetAsync("api/nodes");
        return json.RootElement.EnumerateArray()
            .Where(n => n.TryGetProperty("running", out var running) && running.GetBoolean())
            .Select(n => n.GetProperty("name").GetString()!).ToList();
    }

    /// <summary>The nodes the node answering counts as partitioned from (its "Network Partitions"); empty in a whole cluster.</summary>
    public async Task<IReadOnlyList<string>> PartitionsAsync()
    {
        using var json = await GetAsync("api/nodes");
        return json.RootElement.EnumerateArray()
            .SelectMany(n => n.TryGetProperty("partitions", out var p) && p.ValueKind == JsonValueKind.Array ? p.EnumerateArray().Select(x => x.GetString()!) : [])
            .Distinct().ToList();
    }

    /// <summary>
    /// Each node's own record of the nodes it is partitioned from, by node name (a node that answers lists every node it
    /// knows, each with its own record; <see cref="PartitionsAsync"/> is their union).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> PartitionsByNodeAsync()
    {
        using var json = await GetAsync("api/nodes");
        return json.RootElement.EnumerateArray().ToDictionary(
            n => n.GetProperty("name").GetString()!,
            n => (IReadOnlyList<string>)(n.TryGetProperty("partitions", out var p) && p.ValueKind == JsonValueKind.Array ? [.. p.EnumerateArray().Select(x => x.GetString()!)] : []));
    }

    /// <summary>The node leading a quorum queue (its Raft leader), or null while it has none.</summary>
    public async Task<string?> QueueLeaderAsync(string vhost, string queue)
    {
        using var json = await GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}");
        return json.RootElement.TryGetProperty("leader", out var leader) && leader.ValueKind == JsonValueKind.String ? leader.GetString() : null;
    }

    /// <summary>The queue's type and its members (for a quorum queue, the nodes that hold a replica).</summary>
    public async Task<(string Type, IReadOnlyList<string> Members)> QueueReplicasAsync(string vhost, string queue)
    {
        using var json = await GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}");
        var root = json.RootElement;
        var members = root.TryGetProperty("members", out var m) && m.ValueKind == JsonValueKind.Array ? m.EnumerateArray().Select(x => x.GetString()!).ToList() : [];
        return (root.GetProperty("type").GetString()!, members);
    }

    /// <summary>The nodes on which a connection with this client-provided name is open in the virtual host.</summary>
    public async Task<IReadOnlyList<string>> ConnectionNodesAsync(string vhost, string connectionName)
    {
        using var json = await GetAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}/connections");
        return json.RootElement.EnumerateArray()
            .Where(c => c.TryGetProperty("user_provided_name", out var name) && name.GetString() == connectionName)
            .Select(c => c.GetProperty("node").GetString()!).ToList();
    }

    public void Dispose() => _http.Dispose();

    private async Task<JsonDocument> GetAsync(string path)
    {
        var response = await _http.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }
}
