using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Hosting;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Tests.Caching;

/// <summary>The in-process level alone (no Redis configured), through the worker's own registration and a real HybridCache.</summary>
public sealed class EmbeddingCacheTests : IDisposable
{
    private readonly IHost _host;

    public EmbeddingCacheTests() => _host = Build(new() { ["Cache:MaxMemoryMiB"] = "16" });

    private EmbeddingCache Cache => _host.Services.GetRequiredService<EmbeddingCache>();

    public void Dispose() => _host.Dispose();

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMetrics();
        builder.Services.AddLogging();
        builder.AddEmbeddingCache();
        return builder.Build();
    }

    private static TokenizedText Text(params long[] ids) => new(ids, false);

    [Fact]
    public async Task What_a_batch_stored_is_found_again_bit_for_bit_and_other_texts_miss()
    {
        var model = CacheTestModels.Definition();
        float[] vector = [0.25f, -0.5f, 1e-7f];
        await Cache.StoreTokensAsync(model, [[101, 7, 102]], [vector]);

        var found = (await Cache.LookupAsync(model, [Text(101, 7, 102), Text(101, 8, 102)])).Vectors;
        Assert.Equal(vector, found[0]);
        Assert.NotSame(vector, found[0]);
        Assert.Null(found[1]);
        Assert.Null(_host.Services.GetService<IDistributedCache>());
    }

    [Fact]
    public async Task A_changed_model_identity_misses()
    {
        var model = CacheTestModels.Definition();
        await Cache.StoreTokensAsync(model, [[101, 7, 102]], [[1f, 2f]]);

        var otherPooling = model with { Pooling = AkiDb.Queue.ModelText.Models.PoolingMode.Cls };
        Assert.Null((await Cache.LookupAsync(otherPooling, [Text(101, 7, 102)])).Vectors[0]);
        Assert.NotNull((await Cache.LookupAsync(model, [Text(101, 7, 102)])).Vectors[0]);
    }

    [Fact]
    public async Task A_corrupted_entry_is_a_miss()
    {
        var model = CacheTestModels.Definition();
        await Cache.StoreTokensAsync(model, [[101, 9, 102]], [[1f, 2f, 3f]]);
        var identity = await _host.Services.GetRequiredService<ModelIdentities>().GetAsync(model);
        var key = EmbeddingCacheKey.For(identity, [101, 9, 102]);
        var hybrid = _host.Services.GetRequiredService<HybridCache>();

        var entry = CachedVectorCodec.Encode(identity, key.TokenHash, [1f, 2f, 3f]);
        entry[^20] ^= 0xFF; // inside the floats
        await hybrid.SetAsync(key.Value, entry);
        Assert.Null((await Cache.LookupAsync(model, [Text(101, 9, 102)])).Vectors[0]);

        await hybrid.SetAsync(key.Value, new byte[] { 1, 2, 3 });
        Assert.Null((await Cache.LookupAsync(model, [Text(101, 9, 102)])).Vectors[0]);
    }

    [Fact]
    public async Task A_vector_of_another_length_than_the_model_gives_is_a_miss()
    {
        var model = CacheTestModels.Definition();
        await Cache.StoreTokensAsync(model, [[101, 5, 102]], [[1f, 2f, 3f]]); // the model gives 3 dimensions
        var identity = await _host.Services.GetRequiredService<ModelIdentities>().GetAsync(model);
        var key = EmbeddingCacheKey.For(identity, [101, 6, 102]);
        await _host.Services.GetRequiredService<HybridCache>().SetAsync(key.Value, CachedVectorCodec.Encode(identity, key.TokenHash, [1f, 2f]));

        Assert.Null((await Cache.LookupAsync(model, [Text(101, 6, 102)])).Vectors[0]);
    }

    [Fact]
    public async Task Turned_off_it_finds_nothing_and_registers_no_cache()
    {
        using var host = Build(new() { ["Cache:Enabled"] = "false" });
        var cache = host.Services.GetRequiredService<EmbeddingCache>();
        var model = CacheTestModels.Definition();
        await cache.StoreTokensAsync(model, [[101, 7, 102]], [[1f]]);

        Assert.False(cache.Enabled);
        Assert.Null((await cache.LookupAsync(model, [Text(101, 7, 102)])).Vectors[0]);
        Assert.Null(host.Services.GetService<HybridCache>());
    }

    [Theory]
    [InlineData("Cache:MaxMemoryMiB", "0", "MaxMemoryMiB")]
    [InlineData("Cache:RedisTimeout", "00:00:00", "RedisTimeout")]
    [InlineData("Cache:TimeToLive", "00:00:01", "TimeToLive")]
    [InlineData("Cache:Redis", "abortConnect=maybe,password=s3cret", "Cache:Redis")]
    [InlineData("Cache:Redis", "password=s3cret", "Cache:Redis")]
    public void A_bad_setting_stops_the_start_with_its_name_and_never_the_redis_password(string key, string value, string named)
    {
        using var host = Build(new() { [key] = value });
        var error = Assert.ThrowsAny<Microsoft.Extensions.Options.OptionsValidationException>(
            () => host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CacheOptions>>().Value);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }
}
