using AkiDb.Queue.Worker.Caching;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Hosting;

public static class CacheRegistration
{
    private const long MiB = 1024 * 1024;

    /// <summary>
    /// The embedding cache (<c>Cache:*</c>): HybridCache's in-process level, bounded in bytes, and a Redis level
    /// behind a timeout and a circuit when <c>Cache:Redis</c> is set.
    /// </summary>
    public static IHostApplicationBuilder AddEmbeddingCache(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddValidatedOptions<CacheOptions>(CacheOptions.Section);
        services.AddSingleton<CacheTelemetry>();
        services.AddSingleton<ModelIdentities>();
        services.AddSingleton<EmbeddingCache>();
        services.AddHostedService<CacheWarmup>();

        // Read here as well as bound above: whether HybridCache and Redis are registered at all is decided now.
        var settings = builder.Configuration.ReadForComposition<CacheOptions>(CacheOptions.Section);
        if (!settings.Enabled)
        {
            return builder;
        }

        // HybridCache's memory level is the IMemoryCache in the container; it sizes each entry by its bytes, so a
        // SizeLimit in bytes bounds it. When full, MemoryCache compacts (drops the least recently used 5 %).
        services.AddMemoryCache();
        services.AddOptions<MemoryCacheOptions>().Configure<IOptions<CacheOptions>>((memory, cache) => memory.SizeLimit = cache.Value.MaxMemoryMiB * MiB);
        services.AddHybridCache(o =>
        {
            o.MaximumPayloadBytes = CachedVectorCodec.EncodedLength(CachedVectorCodec.MaxDimensions);
            // Also the lifetime of the in-process copy HybridCache keeps of a Redis hit (its default is 5 minutes).
            o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = settings.TimeToLive, LocalCacheExpiration = settings.TimeToLive };
        });
        if (!string.IsNullOrWhiteSpace(settings.Redis))
        {
            services.AddSingleton(sp => new ResilientRedisCache(
                sp.GetRequiredService<IOptions<CacheOptions>>().Value,
                sp.GetRequiredService<CacheTelemetry>(),
                sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ResilientRedisCache>>()));
            // Not HybridCache's distributed level (no IDistributedCache): EmbeddingCache asks Redis for a request's keys in one round trip.
        }

        return builder;
    }
}
