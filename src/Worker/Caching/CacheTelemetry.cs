using System.Diagnostics.Metrics;
using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>The level of the cache a lookup or a failure concerns, as the <c>level</c> tag of the cache metrics.</summary>
public enum CacheLevel
{
    Memory,
    Redis,
}

/// <summary>The embedding cache's instruments, on the worker's meter; their names are in the README's telemetry table.</summary>
public sealed class CacheTelemetry
{
    private int _redisAvailable = 1;

    public CacheTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(WorkerTelemetry.Name);
        Hits = meter.CreateCounter<long>("akidb.cache.hits", "{text}", "Texts answered from the cache, by level (memory, redis).");
        Misses = meter.CreateCounter<long>("akidb.cache.misses", "{text}", "Texts a cache level did not have (or had an unusable entry for), by level.");
        Errors = meter.CreateCounter<long>("akidb.cache.errors", "{call}", "Cache calls that failed or entries rejected, by level and reason (timeout, error, invalid_entry).");
        meter.CreateObservableGauge("akidb.cache.redis.available", () => Volatile.Read(ref _redisAvailable), "1", "1 while the Redis level is used, 0 while its circuit is open and it is skipped.");
    }

    public Counter<long> Hits { get; }

    public Counter<long> Misses { get; }

    public Counter<long> Errors { get; }

    public static KeyValuePair<string, object?> Level(CacheLevel level) => new("level", level == CacheLevel.Memory ? "memory" : "redis");

    public void Error(CacheLevel level, string reason) => Errors.Add(1, Level(level), new KeyValuePair<string, object?>("reason", reason));

    public void RedisAvailabilityChanged(bool available) => Volatile.Write(ref _redisAvailable, available ? 1 : 0);
}
