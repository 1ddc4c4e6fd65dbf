using System.Diagnostics;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// Samples, every 200 ms from a node that stays up, how many results have arrived and on which nodes each worker's
/// connection is open. Afterwards it answers the two questions a node loss raises: how long a worker had no
/// connection, and how long results stopped. These are measurements for the report; no test asserts on them.
/// </summary>
public sealed class LoadObserver : IAsyncDisposable
{
    private readonly ClusterManagement _management;
    private readonly string _vhost;
    private readonly string[] _connectionNames;
    private readonly ResultCollector _results;
    private readonly List<Sample> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _loop;

    public LoadObserver(string managementUrl, string vhost, ResultCollector results, params string[] connectionNames)
    {
        _management = new ClusterManagement(managementUrl);
        _vhost = vhost;
        _results = results;
        _connectionNames = connectionNames;
        _loop = Task.Run(SampleAsync);
    }

    public TimeSpan Now => _clock.Elapsed;

    /// <summary>
    /// The longest stretch, after <paramref name="from"/>, during which the worker's connection was open on no node
    /// (null if it never was without one). Sampling makes it accurate to about 0.2 s plus one management API call.
    /// </summary>
    public TimeSpan? WithoutConnection(string connectionName, TimeSpan from)
    {
        lock (_samples)
        {
            TimeSpan? longest = null;
            TimeSpan? lostAt = null;
            foreach (var sample in _samples.Where(s => s.At >= from))
            {
                var open = sample.ConnectionNodes.TryGetValue(connectionName, out var nodes) && nodes.Count > 0;
                if (!open && lostAt is null)
                {
                    lostAt = sample.At;
                }
                else if (open && lostAt is { } since)
                {
                    longest = Max(longest, sample.At - since);
                    lostAt = null;
                }
            }

            return lostAt is { } never ? Max(longest, _clock.Elapsed - never) : longest;
        }
    }

    /// <summary>The node a worker's connection was on at the last sample that saw one.</summary>
    public string? LastNode(string connectionName)
    {
        lock (_samples)
        {
            return _samples.Select(s => s.ConnectionNodes.GetValueOrDefault(connectionName)).LastOrDefault(n => n is { Count: > 0 })?[0];
        }
    }

    /// <summary>The longest stretch after <paramref name="from"/> in which no new result arrived, until <paramref name="until"/> had.</summary>
    public TimeSpan LongestPause(TimeSpan from, int until)
    {
        lock (_samples)
        {
            var longest = TimeSpan.Zero;
            var count = -1;
            var since = from;
            foreach (var sample in _samples.Where(s => s.At >= from))
            {
                if (sample.Results > count)
                {
                    count = sample.Results;
                    since = sample.At;
                }
                else if (count < until && sample.At - since > longest)
                {
                    longest = sample.At - since;
                }
            }

            return longest;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _management.Dispose();
        _stop.Dispose();
    }

    private static TimeSpan? Max(TimeSpan? a, TimeSpan b) => a is { } x && x > b ? x : b;

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var at = _clock.Elapsed;
            var results = _results.Results.Count;
            var nodes = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var name in _connectionNames)
            {
                try
                {
                    nodes[name] = await _management.ConnectionNodesAsync(_vhost, name);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // The management API of the surviving node can be slow while the cluster reacts; skip the sample.
                }
            }

            lock (_samples)
            {
                if (nodes.Count == _connectionNames.Length)
                {
                    _samples.Add(new Sample(at, results, nodes));
                }
            }

            await Task.Delay(200, _stop.Token);
        }
    }

    private sealed record Sample(TimeSpan At, int Results, IReadOnlyDictionary<string, IReadOnlyList<string>> ConnectionNodes);
}
