using System.Collections.Concurrent;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// The scheduler's view of the cache: look a request's texts up after tokenising, store what a batch computed.
/// Two levels: HybridCache's in-process level, then Redis when <c>Cache:Redis</c> is set (<see cref="ResilientRedisCache"/>),
/// asked once per request for all the texts the first level missed (one round trip, not one per text); each level's
/// hits and misses are counted; an entry is used only if
/// <see cref="CachedVectorCodec"/> accepts it for this model and these token ids. Nothing here throws into the
/// request path: a cache that fails is a cache that misses.
/// </summary>
internal sealed class EmbeddingCache
{
    // Memory level only; nothing computed or written on a miss.
    private static readonly HybridCacheEntryOptions MemoryProbe = new()
    {
        Flags = HybridCacheEntryFlags.DisableDistributedCache | HybridCacheEntryFlags.DisableUnderlyingData | HybridCacheEntryFlags.DisableLocalCacheWrite,
    };

    private readonly HybridCache? _hybrid;
    private readonly ResilientRedisCache? _redis;
    private readonly ModelIdentities _identities;
    private readonly CacheTelemetry _telemetry;
    private readonly ILogger<EmbeddingCache> _logger;
    private readonly HybridCacheEntryOptions _write;
    private readonly TimeSpan _timeToLive;
    private readonly ConcurrentDictionary<string, int> _dimensions = new(StringComparer.Ordinal);

    public EmbeddingCache(IOptions<CacheOptions> options, IServiceProvider services, ModelIdentities identities, CacheTelemetry telemetry, ILogger<EmbeddingCache> logger)
    {
        var settings = options.Value;
        _identities = identities;
        _telemetry = telemetry;
        _logger = logger;
        _timeToLive = settings.TimeToLive;
        _write = new HybridCacheEntryOptions
        {
            Expiration = settings.TimeToLive,
            LocalCacheExpiration = settings.TimeToLive,
            Flags = HybridCacheEntryFlags.DisableCompression, // float32 noise does not compress
        };
        if (!settings.Enabled)
        {
            logger.LogInformation("Embedding cache: off (Cache:Enabled=false)");
            return;
        }

        _hybrid = services.GetRequiredService<HybridCache>();
        _redis = services.GetService<ResilientRedisCache>();
        logger.LogInformation("Embedding cache: in process up to {MiB} MiB{Redis}; entries live {Ttl}",
            settings.MaxMemoryMiB, _redis is null ? "" : $", shared in Redis at {_redis.Endpoints} (calls bounded by {settings.RedisTimeout.TotalMilliseconds:0} ms)", settings.TimeToLive);
    }

    public bool Enabled => _hybrid is not null;

    /// <summary>The cached vector of each text, or null where there is none.</summary>
    /// <summary>
    /// The cached vector of each text, or null; and each text's key (null when the cache is off or the model has no
    /// identity), which the caller passes back to <see cref="Store"/> so the token ids are hashed once.
    /// </summary>
    public async Task<CacheLookup> LookupAsync(ModelDefinition model, IReadOnlyList<TokenizedText> texts)
    {
        var vectors = new float[]?[texts.Count];
        var keys = new EmbeddingCacheKey?[texts.Count];
        if (_hybrid is null)
        {
            return new CacheLookup(vectors, keys);
        }

        ModelIdentity identity;
        try
        {
            identity = await _identities.GetAsync(model);
        }
        catch (Exception e)
        {
            _logger.LogWarning("Embedding cache: no identity for model {Model} ({Error}); its texts skip the cache", model.Name, e.Message);
            _telemetry.Error(CacheLevel.Memory, "identity");
            return new CacheLookup(vectors, keys);
        }

        using var activity = WorkerTelemetry.ActivitySource.StartActivity("embed cache lookup");
        List<int>? missed = null;
        for (var i = 0; i < texts.Count; i++)
        {
            var key = EmbeddingCacheKey.For(identity, texts[i].Ids);
            keys[i] = key;
            vectors[i] = await LookupMemoryAsync(model.Name, identity, key);
            if (vectors[i] is null)
            {
                (missed ??= []).Add(i);
            }
        }

        if (missed is not null && _redis is { IsAvailable: true } redis)
        {
            await LookupRedisAsync(redis, model.Name, identity, keys, missed, vectors);
        }

        activity?.SetTag("akidb.texts", texts.Count);
        activity?.SetTag("akidb.cache.hits", vectors.Count(v => v is not null));

        return new CacheLookup(vectors, keys);
    }

    /// <summary>The texts the memory level missed, from Redis in one <c>MGET</c>; each hit is copied into the memory level.</summary>
    private async Task LookupRedisAsync(ResilientRedisCache redis, string model, ModelIdentity identity, EmbeddingCacheKey?[] keys, List<int> missed, float[]?[] vectors)
    {
        var entries = await redis.GetManyAsync(missed.ConvertAll(i => keys[i]!.Value.Value));
        for (var j = 0; j < missed.Count; j++)
        {
            var key = keys[missed[j]]!.Value;
            if (entries[j] is not { } entry)
            {
                _telemetry.Misses.Add(1, CacheTelemetry.Level(CacheLevel.Redis));
                continue;
            }

            vectors[missed[j]] = Accept(CacheLevel.Redis, model, identity, key, entry);
            if (vectors[missed[j]] is not null)
            {
                try
                {
                    await _hybrid!.SetAsync(key.Value, entry, _write);
                }
                catch (Exception e)
                {
                    _telemetry.Error(CacheLevel.Memory, "error");
                    _logger.LogWarning("Embedding cache: copying a Redis hit into memory failed ({Error})", e.Message);
                }
            }
        }
    }

    /// <summary>
    /// Stores what a batch computed, in the background: the results are published without waiting for it, and a
    /// write that fails is only a later miss. The task is the background write (it never faults), for tests.
    /// </summary>
    /// <summary>Stores each vector under its key from <see cref="LookupAsync"/> (a null key is skipped).</summary>
    public Task Store(ModelDefinition model, IReadOnlyList<EmbeddingCacheKey?> keys, IReadOnlyList<float[]> vectors)
    {
        if (_hybrid is null || vectors.Count == 0)
        {
            return Task.CompletedTask;
        }

        _dimensions[model.Name] = vectors[0].Length;
        return StoreAsync(_hybrid, model, keys, vectors);
    }

    /// <summary>Stores vectors for token ids that were not looked up first (tests, tools): the ids are hashed here.</summary>
    internal async Task StoreTokensAsync(ModelDefinition model, IReadOnlyList<long[]> tokenIds, IReadOnlyList<float[]> vectors)
    {
        if (_hybrid is null)
        {
            return;
        }

        var identity = await _identities.GetAsync(model);
        await Store(model, tokenIds.Select(ids => (EmbeddingCacheKey?)EmbeddingCacheKey.For(identity, ids)).ToList(), vectors);
    }

    private async Task StoreAsync(HybridCache hybrid, ModelDefinition model, IReadOnlyList<EmbeddingCacheKey?> keys, IReadOnlyList<float[]> vectors)
    {
        try
        {
            var identity = await _identities.GetAsync(model);
            var writes = new List<Task>(vectors.Count + 1);
            var shared = new List<(string, byte[])>(vectors.Count);
            for (var i = 0; i < vectors.Count; i++)
            {
                if (keys[i] is { } key)
                {
                    var entry = CachedVectorCodec.Encode(identity, key.TokenHash, vectors[i]);
                    writes.Add(hybrid.SetAsync(key.Value, entry, _write).AsTask());
                    shared.Add((key.Value, entry));
                }
            }

            if (shared.Count > 0 && _redis is { IsAvailable: true } redis)
            {
                writes.Add(redis.SetManyAsync(shared, _timeToLive)); // never throws: a lost write is a later miss
            }

            await Task.WhenAll(writes);
        }
        catch (Exception e)
        {
            _telemetry.Error(CacheLevel.Memory, "error");
            _logger.LogWarning("Embedding cache: storing {Count} vectors of {Model} failed: {Error}", vectors.Count, model.Name, e.Message);
        }
    }

    private async Task<float[]?> LookupMemoryAsync(string model, ModelIdentity identity, EmbeddingCacheKey key)
    {
        try
        {
            // CancellationToken.None: HybridCache then runs the probe inline instead of on another thread.
            var entry = await _hybrid!.GetOrCreateAsync<byte[]?>(key.Value, static _ => default, MemoryProbe, cancellationToken: CancellationToken.None);
            if (entry is not null)
            {
                return Accept(CacheLevel.Memory, model, identity, key, entry);
            }

            _telemetry.Misses.Add(1, CacheTelemetry.Level(CacheLevel.Memory));
            return null;
        }
        catch (Exception e)
        {
            _telemetry.Error(CacheLevel.Memory, "error");
            _logger.LogWarning("Embedding cache: a lookup failed ({Error}); the text is embedded", e.Message);
            return null;
        }
    }

    private float[]? Accept(CacheLevel level, string model, ModelIdentity identity, EmbeddingCacheKey key, byte[] entry)
    {
        var status = CachedVectorCodec.TryDecode(entry, identity, key.TokenHash, _dimensions.GetValueOrDefault(model), out var vector);
        if (status == CacheEntryStatus.Valid)
        {
            _telemetry.Hits.Add(1, CacheTelemetry.Level(level));
            return vector;
        }

        // Logged at debug only: a bad entry is replaced when the text's fresh vector is stored, and the metric counts it.
        _telemetry.Misses.Add(1, CacheTelemetry.Level(level));
        _telemetry.Error(level, "invalid_entry");
        _logger.LogDebug("Embedding cache: {Level} entry rejected ({Status}); the text is embedded", level, status);
        return null;
    }
}

/// <summary>What <see cref="EmbeddingCache.LookupAsync"/> found: a vector or null per text, and each text's key for the store.</summary>
internal sealed record CacheLookup(float[]?[] Vectors, EmbeddingCacheKey?[] Keys);
