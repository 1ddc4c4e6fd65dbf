using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.IntegrationTests.Caching;

/// <summary>
/// The cache's Redis level against a real redis-server, without a broker or a model: two caches (two workers'
/// worth of memory levels) sharing one Redis, and a Redis that dies or hangs.
/// </summary>
public sealed class RedisLevelTests(ITestOutputHelper output)
{
    private static readonly ModelDefinition Model = new ModelOptions { MaxTokens = 256, Pooling = PoolingMode.Mean, Normalize = true }
        .ToDefinition("m", typeof(RedisLevelTests).Assembly.Location, typeof(RedisLevelTests).Assembly.Location);

    private sealed record Cache(IHost Host, InMemoryLoggerProvider Logs) : IDisposable
    {
        public EmbeddingCache Embeddings => Host.Services.GetRequiredService<EmbeddingCache>();

        public ResilientRedisCache Redis => Host.Services.GetRequiredService<ResilientRedisCache>();

        /// <summary>The connection is made in the background; waits until it is up (or the circuit closed again).</summary>
        public Task WaitUntilRedisUsedAsync() => WaitUntilAsync(() => Redis.IsAvailable, "Redis in use");

        public bool Logged(string text) => Logs.Entries.Any(e => e.Message.Contains(text, StringComparison.Ordinal));

        public void Dispose() => Host.Dispose();
    }

    private static Cache Start(PrivateRedis redis, params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))
            .Append(new("Cache:Redis", redis.Configuration)));
        var logs = new InMemoryLoggerProvider();
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddMetrics();
        builder.AddEmbeddingCache();
        return new Cache(builder.Build(), logs);
    }

    private static TokenizedText[] Texts(int from, int count) =>
        Enumerable.Range(from, count).Select(i => new TokenizedText([101, 1000 + i, 102], false)).ToArray();

    private static float[] Vector(int i) => Enumerable.Range(0, 384).Select(d => (i * 0.001f) + (d * 1e-5f)).ToArray();

    [Fact]
    public async Task What_one_cache_stored_another_finds_in_redis()
    {
        await using var redis = await PrivateRedis.StartAsync();
        using var first = Start(redis);
        using var second = Start(redis);
        var texts = Texts(0, 20);
        _ = first.Embeddings; // resolving the cache starts the connection
        _ = second.Embeddings;
        await first.WaitUntilRedisUsedAsync();
        await second.WaitUntilRedisUsedAsync();

        await first.Embeddings.StoreTokensAsync(Model, texts.Select(t => t.Ids).ToList(), texts.Select((_, i) => Vector(i)).ToList());
        Assert.Equal(20, await redis.CountKeysAsync());

        var found = (await second.Embeddings.LookupAsync(Model, texts)).Vectors;
        Assert.All(found.Select((v, i) => (v, i)), x => Assert.Equal(Vector(x.i), x.v));
    }

    [Fact]
    public async Task A_request_with_memory_hits_redis_hits_and_misses_asks_redis_once_for_what_memory_missed()
    {
        await using var redis = await PrivateRedis.StartAsync();
        using var first = Start(redis);
        using var second = Start(redis);
        _ = first.Embeddings;
        _ = second.Embeddings;
        await first.WaitUntilRedisUsedAsync();
        await second.WaitUntilRedisUsedAsync();
        var texts = Texts(0, 15);
        await first.Embeddings.StoreTokensAsync(Model, texts[..10].Select(t => t.Ids).ToList(), Enumerable.Range(0, 10).Select(Vector).ToList());
        _ = await second.Embeddings.LookupAsync(Model, texts[..5]); // 0-4 now in the second cache's memory too

        var db = await redis.DatabaseAsync();
        await db.ExecuteAsync("CONFIG", "RESETSTAT");
        var found = (await second.Embeddings.LookupAsync(Model, texts)).Vectors;

        // 0-4 from memory, 5-9 from Redis, 10-14 nowhere: every text answered, each with its own vector.
        Assert.All(Enumerable.Range(0, 10), i => Assert.Equal(Vector(i), found[i]));
        Assert.All(found[10..], Assert.Null);
        var stats = (string)(await db.ExecuteAsync("INFO", "commandstats"))!;
        output.WriteLine(stats);
        Assert.Contains("cmdstat_mget:calls=1,", stats, StringComparison.Ordinal); // one round trip for the ten memory misses
        Assert.DoesNotContain("cmdstat_get:", stats, StringComparison.Ordinal);
        Assert.DoesNotContain("cmdstat_hget", stats, StringComparison.Ordinal);
        Assert.DoesNotContain("cmdstat_hmget", stats, StringComparison.Ordinal);

        // And what the second cache found in Redis it now holds itself: asking again does not go to Redis.
        await db.ExecuteAsync("CONFIG", "RESETSTAT");
        var again = (await second.Embeddings.LookupAsync(Model, texts[5..10])).Vectors;
        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(Vector(i + 5), again[i]));
        Assert.DoesNotContain("cmdstat_mget", (string)(await db.ExecuteAsync("INFO", "commandstats"))!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tls_redis_whose_ca_is_not_trusted_is_refused_with_the_reason_and_trusted_through_the_ca_setting()
    {
        await using var redis = await PrivateRedis.StartAsync(tls: true, password: "s3cret-for-tls");
        using var untrusted = Start(redis);
        _ = untrusted.Embeddings;
        await WaitUntilAsync(() => untrusted.Logged("TLS refused"), "the refusal logged");
        Assert.True(untrusted.Logged("not trusted"), "the reason is given");
        Assert.True(untrusted.Logged("Cache:RedisCaFile"), "the setting is named");
        Assert.False(untrusted.Redis.IsAvailable);
        Assert.DoesNotContain(untrusted.Logs.Entries, e => e.Message.Contains("s3cret-for-tls", StringComparison.Ordinal));

        using var trusted = Start(redis, ("Cache:RedisCaFile", redis.CaFile!));
        _ = trusted.Embeddings;
        await trusted.WaitUntilRedisUsedAsync();
        var texts = Texts(0, 3);
        await trusted.Embeddings.StoreTokensAsync(Model, texts.Select(t => t.Ids).ToList(), texts.Select((_, i) => Vector(i)).ToList());
        Assert.Equal(3, await redis.CountKeysAsync());
    }

    [Fact]
    public async Task A_hung_redis_costs_each_call_at_most_the_timeout_and_then_is_skipped()
    {
        await using var redis = await PrivateRedis.StartAsync();
        using var cache = Start(redis, ("Cache:RedisTimeout", "00:00:00.200"), ("Cache:RedisBreakDuration", "00:00:01"));
        _ = cache.Embeddings;
        await cache.WaitUntilRedisUsedAsync();
        var stored = Texts(0, 4);
        await cache.Embeddings.StoreTokensAsync(Model, stored.Select(t => t.Ids).ToList(), stored.Select((_, i) => Vector(i)).ToList());

        Signals.Send(redis.Pid!.Value, Signals.Stop); // the connection stays up; nothing answers
        try
        {
            // Without the timeout these would wait on StackExchange.Redis' own; every one returns, as misses.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var round = 0; round < 3; round++)
            {
                var found = (await cache.Embeddings.LookupAsync(Model, Texts(100 + (round * 4), 4))).Vectors;
                Assert.All(found, Assert.Null);
            }

            output.WriteLine($"3 rounds of lookups against a hung Redis: {clock.ElapsedMilliseconds} ms");
            Assert.True(cache.Logged("is failing (TimeoutRejectedException); embedding without it"), "the circuit's opening is logged");
            Assert.False(cache.Redis.IsAvailable);

            // While the circuit is open the memory level still answers what this worker stored.
            Assert.All((await cache.Embeddings.LookupAsync(Model, stored)).Vectors, v => Assert.NotNull(v));
        }
        finally
        {
            Signals.Send(redis.Pid!.Value, Signals.Cont);
        }

        // Answering again: after the break one call probes it and the circuit closes.
        await WaitUntilAsync(() =>
        {
            _ = cache.Embeddings.LookupAsync(Model, Texts(500, 1));
            return cache.Logged("answers again");
        }, "the circuit closed");
    }

    [Fact]
    public async Task A_killed_redis_is_skipped_without_errors_and_used_again_once_restarted()
    {
        await using var redis = await PrivateRedis.StartAsync();
        using var first = Start(redis);
        _ = first.Embeddings;
        await first.WaitUntilRedisUsedAsync();

        redis.Kill();
        // The client's state flips before its event handler logs: wait for both (the log line is still required).
        await WaitUntilAsync(() => !first.Redis.IsAvailable && first.Logged("lost Redis at"), "the lost connection seen and logged");
        var texts = Texts(0, 10);
        await first.Embeddings.StoreTokensAsync(Model, texts.Select(t => t.Ids).ToList(), texts.Select((_, i) => Vector(i)).ToList());
        Assert.All((await first.Embeddings.LookupAsync(Model, Texts(50, 5))).Vectors, Assert.Null);

        await redis.RestartAsync();
        await WaitUntilAsync(() => first.Redis.IsAvailable && first.Logged("answers again"), "the connection restored and logged");
        // A write in the moment after the reconnect can still be refused (the client reports the connection before its
        // handshake is done, and a refused write is dropped by design: a later miss). Used again = a later store lands.
        using (var patience = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            while (true)
            {
                await first.Embeddings.StoreTokensAsync(Model, texts.Select(t => t.Ids).ToList(), texts.Select((_, i) => Vector(i)).ToList());
                if (await redis.CountKeysAsync() == 10)
                {
                    break;
                }

                Assert.False(patience.IsCancellationRequested, "timed out waiting for a store to reach the restarted Redis");
                await Task.Delay(100);
            }
        }

        Assert.Equal(10, await redis.CountKeysAsync());
        using var second = Start(redis);
        _ = second.Embeddings;
        await second.WaitUntilRedisUsedAsync();
        Assert.All((await second.Embeddings.LookupAsync(Model, texts)).Vectors.Select((v, i) => (v, i)), x => Assert.Equal(Vector(x.i), x.v));
    }

    /// <summary>Polls a condition of the cache's own state, not a clock.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!condition())
        {
            Assert.False(cts.IsCancellationRequested, $"timed out waiting for: {what}");
            await Task.Delay(20);
        }
    }
}
